"""Reading a stream group's per-user state back from its changelog topic."""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from kairos.stream import state as user_state
from kairos.stream.state import UserState

LIBRDKAFKA_LOG = logging.getLogger("kairos.kafka.librdkafka")


def read_changelog(
    bootstrap: str, group: str, topic: str, numbers: set[int], timeout_s: float
) -> tuple[dict[int, dict[str, UserState]], int]:
    """The users of each changelog partition in `numbers`, read to its end (committed records
    only; a tombstone removes a user), and how many records that took."""
    users: dict[int, dict[str, UserState]] = {n: {} for n in numbers}
    if not numbers:
        return users, 0
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{group}-restore-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "logger": LIBRDKAFKA_LOG,
        }
    )
    started, records = time.monotonic(), 0
    try:
        pending = set()
        for n in numbers:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, n), timeout=30)
            if high > low:
                pending.add(n)
        reader.assign([TopicPartition(topic, n, OFFSET_BEGINNING) for n in pending])
        while pending:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"state restore of partitions {sorted(pending)} timed out")
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
                    users[number].pop(key.decode(), None)
                else:
                    users[number][key.decode()] = user_state.decode(value)
                records += 1
    finally:
        reader.close()
    return users, records
