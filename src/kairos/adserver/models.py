"""Models for the ad server, picked up while it serves: a follower of the compacted models topic
that hands every new snapshot to the server, which swaps it in between two requests."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from kairos.kafka.consume import drain
from kairos.logs import kv

log = logging.getLogger(__name__)
Apply = Callable[[bytes, str], None]  # (snapshot, version)


class ModelFollower:
    """Follows the models named in `appliers` (key on the topic -> what to do with a new
    snapshot of it)."""

    def __init__(self, bootstrap: str, topic: str, appliers: Mapping[str, Apply]) -> None:
        self.topic = topic
        self._appliers = {name.encode(): apply for name, apply in appliers.items()}
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"kairos-models-{uuid.uuid4().hex[:8]}",  # never commits
                "enable.auto.commit": False,
                "logger": logging.getLogger("kairos.kafka.librdkafka"),
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-follower", daemon=True)
        self.applied = 0

    def start(self) -> None:
        try:
            partitions = self._consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        except KafkaException as exc:
            log.warning("models topic unreadable", extra=kv(error=str(exc)))
            return
        self._consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions.partitions]
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            latest = {}
            for message in drain(self._consumer, 100, 0.5):
                key = message.key()
                if not message.error() and key in self._appliers:
                    latest[key] = message  # only the newest of a batch matters
            for key, message in latest.items():
                version = dict(message.headers() or []).get("version", b"")
                text = version.decode() if isinstance(version, bytes) else str(version)
                try:
                    self._appliers[key](message.value() or b"", text)
                    self.applied += 1
                except Exception as exc:  # a bad snapshot must not stop the server
                    log.warning("model not applied", extra=kv(version=text, error=repr(exc)))
