"""Reading a topic back to its end as it was when the read began (committed records only):
every record (`scan`, `read_values`), or — for a compacted topic — the latest value of every
key, a tombstone removing its key (`read_to_end`). Stream state restores, model pick-ups and
off-policy evaluation on the decision log all start this way."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

LIBRDKAFKA_LOG = logging.getLogger("kairos.kafka.librdkafka")


def scan(
    bootstrap: str,
    topic: str,
    numbers: Iterable[int],
    timeout_s: float,
    visit: Callable[[Message], None],
    group: str = "kairos",
) -> int:
    """Hand every record of partitions `numbers` up to their end to `visit`; how many.
    TimeoutError when the end is not reached within `timeout_s`."""
    wanted = list(numbers)
    if not wanted:
        return 0
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
        for n in wanted:
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
                visit(message)
                records += 1
    finally:
        reader.close()
    return records


def read_to_end(
    bootstrap: str, topic: str, numbers: Iterable[int], timeout_s: float, group: str = "kairos"
) -> tuple[dict[int, dict[bytes, bytes]], int]:
    """Per partition in `numbers`, key -> latest value; and how many records that took."""
    partitions = list(numbers)
    latest: dict[int, dict[bytes, bytes]] = {n: {} for n in partitions}

    def keep(message: Message) -> None:
        number, key = message.partition(), message.key()
        if number is None or key is None:
            return
        value = message.value()
        if value is None:
            latest[number].pop(key, None)
        else:
            latest[number][key] = value

    records = scan(bootstrap, topic, partitions, timeout_s, keep, group)
    return latest, records


def read_values(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[bytes]:
    """Every record's value in the topic (all partitions), up to its end."""
    values: list[bytes] = []

    def keep(message: Message) -> None:
        value = message.value()
        if value is not None:
            values.append(value)

    scan(bootstrap, topic, partitions_of(bootstrap, topic), timeout_s, keep, "kairos-scan")
    return values


def partitions_of(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[int]:
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "kairos-metadata", "logger": LIBRDKAFKA_LOG}
    )
    try:
        return sorted(reader.list_topics(topic, timeout=timeout_s).topics[topic].partitions)
    finally:
        reader.close()
