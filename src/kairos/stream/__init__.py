"""Stream processing: clean, enrich and turn events into per-user features, labels and roll-ups.

The transformations here are pure (plain data in, plain data out); the Kafka application that
runs them over the topics lives at the edge of this package.
"""
