"""Consumer groups' settings, and reading in batches without waiting for a full batch."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, Message


def group_config(bootstrap: str, group: str) -> dict[str, Any]:
    """A member of a consumer group that commits its offsets itself, from the earliest
    committed (transactional) record."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "logger": logging.getLogger("kairos.kafka.librdkafka"),
    }


def drain(consumer: Consumer, max_messages: int, timeout_s: float) -> list[Message]:
    """Up to `max_messages` messages: waits at most `timeout_s` for the first, then takes what
    is already fetched. (`Consumer.consume` alone waits for the full batch or the timeout, which
    would add its timeout to the latency of every quiet moment.)"""
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, 0)]
