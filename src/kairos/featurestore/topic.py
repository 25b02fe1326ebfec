"""Materialising the compacted features topic: a follower that writes it into any sink, and the
in-process feature store built on it (the default)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from kairos.errors import ConfigurationError, KairosError
from kairos.featurestore.base import FeatureSink, MemoryFeatureStore
from kairos.kafka.consume import drain
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.logs import kv
from kairos.stream.features import UserFeatures

log = logging.getLogger(__name__)


def latest_per_user(messages: list[Message]) -> dict[str, bytes | None]:
    """A batch as the compacted topic will keep it: the last record of each user, in order."""
    latest: dict[str, bytes | None] = {}
    for message in messages:
        key = message.key()
        if message.error() or key is None:
            continue
        user_key = key.decode()
        latest.pop(user_key, None)  # re-inserted: the order of the last writes is kept
        latest[user_key] = message.value()
    return latest


class FeatureTopicFollower:
    """Reads every partition of the features topic from the beginning, then follows it, and
    writes what it reads into `sink`.

    Only committed records are read: the topic is written in Kafka transactions. No consumer
    group offsets are kept: each follower materialises the whole (compacted) topic.
    """

    def __init__(
        self, bootstrap: str, topic: str, sink: FeatureSink, *, batch_size: int = 1000
    ) -> None:
        self.topic = topic
        self._sink = sink
        self._batch_size = batch_size
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"kairos-features-{uuid.uuid4().hex[:8]}",  # never commits
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "logger": logging.getLogger("kairos.kafka.librdkafka"),
            }
        )
        try:
            self._ends = self._assign_all()
        except BaseException:
            self._consumer.close()
            raise
        self._pending: dict[str, bytes | None] = {}
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.records = 0  # records read from the topic
        self._check_caught_up()

    def _assign_all(self) -> dict[int, int]:
        """Assign every partition from the beginning; returns the end offsets seen now."""
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=10)
        except KafkaException as exc:
            raise KafkaUnavailable(f"cannot read the metadata of {self.topic}: {exc}") from exc
        partitions = metadata.topics[self.topic].partitions
        if not partitions:
            raise ConfigurationError(f"topic {self.topic} does not exist (kairos kafka start)")
        tps = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions]
        self._consumer.assign(tps)
        return {tp.partition: self._end_of(tp) for tp in tps}

    def _end_of(self, tp: TopicPartition, timeout_s: float = 10.0) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                low, high = self._consumer.get_watermark_offsets(tp, timeout=timeout_s)
                break
            except KafkaException as exc:
                # a topic created a moment ago may not have its leader everywhere yet
                if time.monotonic() > deadline:
                    raise KafkaUnavailable(
                        f"cannot read the offsets of {self.topic}: {exc}"
                    ) from exc
                time.sleep(0.1)
        return int(high) if high > low else -1  # -1: an empty partition, nothing to catch up

    @property
    def caught_up(self) -> bool:
        """Whether everything in the topic when the follower started has been written."""
        return self._caught_up.is_set()

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._caught_up.wait(timeout_s)

    def poll(self, timeout_s: float = 0.1) -> int:
        """Read one batch and write it to the sink; returns the records read.

        A batch the sink refused (it raised) is written again, before anything newer, on the
        next call, so the sink never misses a record nor sees them out of order.
        """
        read = 0
        if not self._pending:
            messages = drain(self._consumer, self._batch_size, timeout_s)
            read = len(messages)
            self.records += read
            self._pending = latest_per_user(messages)
        if self._pending:
            self._sink.put_many(self._pending.items())
            self._pending = {}
        self._check_caught_up()
        return read

    def _check_caught_up(self) -> None:
        if self._caught_up.is_set() or self._pending:
            return
        ends = {p: end for p, end in self._ends.items() if end >= 0}
        if ends:
            positions = self._consumer.position([TopicPartition(self.topic, p) for p in ends])
            if any(tp.offset < ends[tp.partition] for tp in positions):
                return
        self._caught_up.set()

    def run(self, stop: threading.Event) -> None:
        """Follow the topic until `stop` is set; Kafka and sink failures are retried."""
        while not stop.is_set():
            try:
                self.poll()
            except (KafkaException, KairosError) as exc:
                log.warning("feature topic follower failed, retrying", extra=kv(reason=exc))
                stop.wait(1.0)

    def start(self) -> None:
        """Follow the topic in a background thread until `close`."""
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="feature-follower", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._consumer.close()


class TopicFeatureStore:
    """The in-process feature store: a background follower keeps the whole topic in memory."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._memory = MemoryFeatureStore()
        self._follower = FeatureTopicFollower(bootstrap, topic, self._memory)
        self._follower.start()

    @property
    def updates(self) -> int:
        """Records read from the topic so far."""
        return self._follower.records

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._follower.wait_caught_up(timeout_s)

    def get(self, user_key: str) -> UserFeatures | None:
        return self._memory.get(user_key)

    def get_many(self, user_keys: Sequence[str]) -> list[UserFeatures | None]:
        return self._memory.get_many(user_keys)

    def __len__(self) -> int:
        return len(self._memory)

    def close(self) -> None:
        self._follower.close()
