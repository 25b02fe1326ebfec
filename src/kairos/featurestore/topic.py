"""The in-process feature store: a thread reads the compacted features topic into memory."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from kairos.featurestore.base import MemoryFeatureStore
from kairos.logs import kv
from kairos.stream.features import UserFeatures

log = logging.getLogger(__name__)


class TopicFeatureStore:
    """Reads every partition of the features topic from the beginning, then follows it.

    No consumer group offsets are kept: each server holds the whole (compacted) topic.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._memory = MemoryFeatureStore()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"kairos-features-{uuid.uuid4().hex[:8]}",  # never commits
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "logger": logging.getLogger("kairos.kafka.librdkafka"),
            }
        )
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self._stop = threading.Event()
        self.updates = 0
        self._thread = threading.Thread(target=self._follow, name="feature-store", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(num_messages=1000, timeout=0.1)
            except KafkaException as exc:
                log.warning("feature store read failed", extra=kv(reason=exc))
                time.sleep(1)
                continue
            for message in messages:
                if message.error() or message.key() is None:
                    continue
                self._memory.put(message.key().decode(), message.value())
                self.updates += 1

    def get(self, user_key: str) -> UserFeatures | None:
        return self._memory.get(user_key)

    def __len__(self) -> int:
        return len(self._memory)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
