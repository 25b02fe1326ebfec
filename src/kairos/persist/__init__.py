"""The database writer: interaction history, performance roll-ups and user profiles, written
exactly once from the stream's committed outputs (`kairos persist`)."""
