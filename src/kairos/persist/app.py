"""`kairos persist`: follow the stream's interactions and features topics into the database.

Exactly once without Kafka's help on the database side: each batch is written in one database
transaction together with the next offset of every input partition it covers, and a message
is written only if its offset is at or past the stored one. A restart, a rebalance or a
stale instance therefore never writes a message twice, and a crash before the commit loses
nothing (the offsets did not move). Kafka offsets are also committed, for lag monitoring only.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

import msgspec
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from prometheus_client import Counter, start_http_server
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kairos import runtime
from kairos.db.migrate import upgrade
from kairos.errors import ServiceUnavailable
from kairos.kafka.admin import ensure_topics, wait_for_brokers
from kairos.kafka.consume import drain, group_config
from kairos.logs import kv
from kairos.persist import store
from kairos.settings import Settings
from kairos.stream.features import UserFeatures
from kairos.stream.records import Interaction

log = logging.getLogger(__name__)

WRITTEN = Counter("kairos_persist_rows_total", "Records written to the database", ["kind"])
SKIPPED = Counter("kairos_persist_skipped_total", "Records not written", ["reason"])

_INTERACTION = msgspec.json.Decoder(Interaction)
_FEATURES = msgspec.json.Decoder(UserFeatures)


@dataclass(frozen=True)
class PersistConfig:
    bootstrap: str
    group: str
    interactions_topic: str
    features_topic: str
    retention: timedelta
    batch_size: int = 2000
    flush_interval_s: float = 0.5
    retention_interval_s: float = 3600.0


class Persister:
    def __init__(self, config: PersistConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self._batch: list[Message] = []
        self._first_at = 0.0
        self._last_retention = 0.0
        self._consumer = Consumer(group_config(config.bootstrap, config.group))

    def run(self, should_stop: Callable[[], bool]) -> None:
        self._consumer.subscribe(
            [self.config.interactions_topic, self.config.features_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not should_stop():
                self.step()
            self.flush()
        finally:
            self._consumer.close()

    def step(self) -> None:
        for message in drain(self._consumer, self.config.batch_size, 0.1):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error", extra=kv(error=error.str()))
                continue
            if not self._batch:
                self._first_at = time.monotonic()
            self._batch.append(message)
        due = time.monotonic() - self._first_at >= self.config.flush_interval_s
        if self._batch and (len(self._batch) >= self.config.batch_size or due):
            self.flush()
        if time.monotonic() - self._last_retention >= self.config.retention_interval_s:
            self._last_retention = time.monotonic()
            self.apply_retention()

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        with Session(self.engine) as session, session.begin():
            stored = store.stored_offsets(session, self.config.group, for_update=True)
            interactions: list[Interaction] = []
            profiles: list[UserFeatures] = []
            offsets: dict[tuple[str, int], int] = {}
            for message in batch:
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                assert topic is not None
                assert partition is not None
                assert offset is not None
                if offset < stored.get((topic, partition), 0):
                    SKIPPED.labels("already_written").inc()
                    continue
                offsets[(topic, partition)] = offset + 1
                self._decode(message, topic, interactions, profiles)
            new = store.write_batch(session, self.config.group, interactions, profiles, offsets)
        WRITTEN.labels("interaction").inc(new)
        WRITTEN.labels("profile").inc(len(profiles))
        if offsets:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=True,
            )

    def _decode(
        self,
        message: Message,
        topic: str,
        interactions: list[Interaction],
        profiles: list[UserFeatures],
    ) -> None:
        value = message.value()
        if value is None:
            return  # a tombstone on the features topic: erasure is handled elsewhere
        try:
            if topic == self.config.interactions_topic:
                interactions.append(_INTERACTION.decode(value))
            else:
                profiles.append(_FEATURES.decode(value))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            SKIPPED.labels("undecodable").inc()
            log.error("undecodable record", extra=kv(topic=topic, error=str(exc)))

    def apply_retention(self) -> int:
        cutoff = datetime.now(UTC) - self.config.retention
        with Session(self.engine) as session, session.begin():
            deleted = store.delete_history_before(session, cutoff)
        if deleted:
            log.info("history retention", extra=kv(deleted=deleted, before=cutoff.isoformat()))
        return deleted

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with Session(self.engine) as session:
            stored = store.stored_offsets(session, self.config.group)
        for tp in partitions:
            if (tp.topic, tp.partition) in stored:
                tp.offset = stored[(tp.topic, tp.partition)]
        consumer.assign(partitions)
        log.info("partitions assigned", extra=kv(count=len(partitions)))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()  # what was read is written before someone else takes over

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._batch.clear()  # the next owner starts from the stored offsets


def persist_config(settings: Settings) -> PersistConfig:
    names = runtime.topics(settings)
    return PersistConfig(
        bootstrap=settings.bootstrap_servers,
        group=settings.persist_group,
        interactions_topic=names.interactions,
        features_topic=names.user_features,
        retention=timedelta(days=settings.history_retention_days),
    )


def run(settings: Settings) -> None:
    if not wait_for_brokers(settings.bootstrap_servers, timeout_s=60):
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers}")
    ensure_topics(settings.bootstrap_servers, runtime.topics(settings).specs())
    engine = runtime.database(settings)
    upgrade(engine)
    persister = Persister(persist_config(settings), engine)
    if settings.persist_metrics_port:
        start_http_server(settings.persist_metrics_port, addr=settings.host)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("database writer starting", extra=kv(group=settings.persist_group))
    try:
        persister.run(lambda: stopping)
    finally:
        engine.dispose()
    log.info("database writer stopped")
