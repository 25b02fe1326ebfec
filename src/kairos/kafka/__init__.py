"""Kafka at the edge: topic declarations, the producer, the admin client, a local broker."""
