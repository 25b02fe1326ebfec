"""Consumer lag per partition and topic sizes, for `kairos status` and monitoring."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from kairos.kafka.exceptions import KafkaUnavailable


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has not committed here yet
    end: int

    @property
    def lag(self) -> int:
        return lag_of(self.committed, self.end)


def lag_of(committed: int | None, end: int) -> int:
    """Messages the group has still to process (everything, when it never committed)."""
    if committed is None or committed < 0:
        return end
    return max(0, end - committed)


Marks = dict[tuple[str, int], tuple[int, int]]  # (topic, partition) -> (low, high)


def _watermarks(bootstrap: str, topics: list[str], timeout_s: float) -> Marks:
    group = f"kairos-status-{uuid.uuid4().hex}"  # never joins nor commits
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
        marks: Marks = {}
        for topic in topics:
            found = metadata.topics.get(topic)
            for partition in found.partitions if found is not None else []:
                marks[(topic, partition)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
        return marks
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot read watermarks: {exc}") from exc
    finally:
        consumer.close()


def group_lag(
    bootstrap: str, group: str, topics: list[str], timeout_s: float = 10.0
) -> list[PartitionLag]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
        listed = future.result(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot read the offsets of group {group}: {exc}") from exc
    committed = {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions or []}
    return [
        PartitionLag(topic, partition, committed.get((topic, partition)), high)
        for (topic, partition), (_low, high) in sorted(
            _watermarks(bootstrap, topics, timeout_s).items()
        )
    ]


def message_count(bootstrap: str, topic: str, timeout_s: float = 10.0) -> int:
    """Messages currently held by a topic (end minus start offsets, all partitions)."""
    return sum(
        high - low for (_t, _p), (low, high) in _watermarks(bootstrap, [topic], timeout_s).items()
    )
