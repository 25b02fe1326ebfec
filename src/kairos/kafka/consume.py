"""Reading in batches without waiting for a full batch."""

from __future__ import annotations

from confluent_kafka import Consumer, Message


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
