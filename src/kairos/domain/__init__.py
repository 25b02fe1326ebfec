"""The pure core: events, identities and their wire form. Imports no I/O library."""
