"""Reading a compacted topic back: the latest value of every key, up to the end of each
partition as it was when the read began (committed records only; a tombstone removes a key).
Stream state restores and model pick-ups both start this way."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

LIBRDKAFKA_LOG = logging.getLogger("kairos.kafka.librdkafka")


def read_to_end(
    bootstrap: str, topic: str, numbers: Iterable[int], timeout_s: float, group: str = "kairos"
) -> tuple[dict[int, dict[bytes, bytes]], int]:
    """Per partition in `numbers`, key -> latest value; and how many records that took.
    TimeoutError when the end is not reached within `timeout_s`."""
    latest: dict[int, dict[bytes, bytes]] = {n: {} for n in numbers}
    if not latest:
        return latest, 0
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{group}-read-{uuid.uuid4().hex[:8]}",  # never commits
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "logger": LIBRDKAFKA_LOG,
        }
    )
    started, records = time.monotonic(), 0
    try:
        pending = set()
        for n in latest:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, n), timeout=30)
            if high > low:
                pending.add(n)
        reader.assign([TopicPartition(topic, n, OFFSET_BEGINNING) for n in pending])
        while pending:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"reading {topic} partitions {sorted(pending)} timed out")
            for message in reader.consume(5000, 1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition() or 0)
                    continue
                number, key = message.partition(), message.key()
                if number is None or key is None:
                    continue
                value = message.value()
                if value is None:
                    latest[number].pop(key, None)
                else:
                    latest[number][key] = value
                records += 1
    finally:
        reader.close()
    return latest, records


def partitions_of(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[int]:
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "kairos-metadata", "logger": LIBRDKAFKA_LOG}
    )
    try:
        return sorted(reader.list_topics(topic, timeout=timeout_s).topics[topic].partitions)
    finally:
        reader.close()
