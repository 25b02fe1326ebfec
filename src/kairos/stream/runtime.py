"""The stream runtime: consume → process → produce, exactly once, with per-user state.

A consumer-group member over the event topics and the decisions topic (all keyed by
pseudonymous user id and co-partitioned, so partition *p* of every input holds the same
users). For each assigned partition number it keeps its users' `UserState` in memory,
backed by a compacted changelog topic. Every `commit_interval` one Kafka transaction carries
the outputs (interactions, labelled examples, dead letters), the changed users' features and
changelog records, and the input offsets: after a crash, the state restored from the
changelog and the committed offsets describe the same point, so nothing is lost or counted
twice downstream (consumers read with `isolation.level=read_committed`).

Attribution windows close on stream time: the newest record timestamp of the partition, or
the wall clock (less a grace period) once the partition is caught up, so a replay of old data
labels exactly as the live run did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from kairos.kafka.consume import drain, group_config
from kairos.logs import kv
from kairos.stream import labels
from kairos.stream import state as user_state
from kairos.stream.metrics import COMMIT_SECONDS, EXAMPLES, MESSAGES
from kairos.stream.partition import PartitionState
from kairos.stream.processor import EventProcessor, Output, dead_letter, features_record
from kairos.stream.restore import read_changelog
from kairos.stream.state import UserState

log = logging.getLogger(__name__)
LIBRDKAFKA_LOG = logging.getLogger("kairos.kafka.librdkafka")


@dataclass(frozen=True)
class RuntimeConfig:
    bootstrap: str
    group: str
    instance: str  # stable per process slot: a restart fences and aborts its predecessor
    event_topics: list[str]
    decisions_topic: str
    changelog_topic: str
    outputs: dict[str, str]  # Output.kind and "features" -> topic
    commit_interval_s: float = 0.1
    batch_size: int = 1000
    poll_timeout_s: float = 0.02
    grace_s: float = 2.0  # wall-clock time lets late records in before windows close
    sweep_interval_s: float = 0.5
    user_ttl_s: float = 30 * 86400  # a user idle this long (stream time) is forgotten
    evict_interval_s: float = 60.0
    restore_timeout_s: float = 300.0


class StreamRuntime:
    def __init__(self, config: RuntimeConfig, processor: EventProcessor) -> None:
        self.config = config
        self.processor = processor
        self.partitions: dict[int, PartitionState] = {}
        self._parked: dict[int, PartitionState] = {}  # revoked, kept in case they come back
        self._offsets: dict[tuple[str, int], int] = {}  # next offset to commit
        self._positions: dict[tuple[str, int], int] = {}  # next offset to process
        self._in_transaction = False
        self._started = 0.0
        self._last_commit_s = 0.0
        self._last_evict = time.monotonic()
        self._last_sweep = 0.0
        self._out: list[Output] = []
        self._stopping = False
        self._counters = {o: MESSAGES.labels(o) for o in ("processed", "duplicate", "dead_letter")}
        self._producer = Producer(
            {
                "bootstrap.servers": config.bootstrap,
                "transactional.id": f"{config.group}-{config.instance}",
                "transaction.timeout.ms": 60_000,
                "linger.ms": 5,
                "compression.type": "lz4",
                "logger": LIBRDKAFKA_LOG,
            }
        )
        self._consumer = Consumer(
            group_config(config.bootstrap, config.group)
            # co-partitioned inputs: partition p of every topic goes to the same member
            | {"partition.assignment.strategy": "range"}
        )
        self._kinds = {t: "event" for t in config.event_topics} | {
            config.decisions_topic: "decision"
        }

    # -- the loop -------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> None:
        self._producer.init_transactions(30)  # aborts what a killed predecessor left open
        self._consumer.subscribe(
            list(self._kinds),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not should_stop():
                self.step()
            self._commit()
        finally:
            self._stopping = True
            self._consumer.close()
            self._producer.flush(10)

    def step(self) -> None:
        messages = drain(self._consumer, self.config.batch_size, self.config.poll_timeout_s)
        # decisions before the events of the same batch: an impression or click read together
        # with its decision then joins it at once (the sort is stable: each partition's order
        # is kept)
        decisions = self.config.decisions_topic
        messages.sort(key=lambda m: m.topic() != decisions)
        for message in messages:
            self._handle(message)
        now = time.monotonic()
        if now - self._last_sweep >= self.config.sweep_interval_s:
            self._last_sweep = now
            self._sweep()
        if self._in_transaction and self._commit_due(
            now, caught_up=len(messages) < self.config.batch_size
        ):
            self._commit()

    def _commit_due(self, now: float, caught_up: bool) -> bool:
        """When caught up, commit at once: outputs are visible within a commit's time. Behind,
        every `commit_interval`, stretched so that commits (a few broker round trips each)
        stay a small share of the time; the backlog then drains in large transactions."""
        if caught_up:
            return True
        interval = max(self.config.commit_interval_s, 4 * self._last_commit_s)
        return now - self._started >= interval

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error", extra=kv(error=error.str()))
            return
        topic, number, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None
        assert number is not None
        assert offset is not None
        partition = self.partitions.get(number)
        if partition is None:  # revoked while the batch was in flight
            return
        self._begin()
        _, ts_ms = message.timestamp()
        if ts_ms > 0:
            partition.clock = max(partition.clock, ts_ms / 1000)
        value = message.value() or b""
        try:
            if self._kinds[topic] == "event":
                outcome = self.processor.event(value, partition, self._out)
            else:
                outcome = self.processor.decision(value, partition, self._out)
        except Exception as exc:  # a bug must not stop the stream: dead-letter the message
            log.exception("processing failed", extra=kv(topic=topic, offset=offset))
            self._out.append(dead_letter(value, "processing_failed", {"msg": repr(exc)}))
            outcome = "dead_letter"
        self._counters[outcome].inc()
        self._offsets[(topic, number)] = self._positions[(topic, number)] = offset + 1
        self._flush_outputs()

    def _sweep(self) -> None:
        """Close attribution windows that ended on each partition's stream time; now and then
        forget users idle for longer than the user TTL."""
        caught_up = self._caught_up()
        wall = time.time() - self.config.grace_s
        evict = time.monotonic() - self._last_evict >= self.config.evict_interval_s
        if evict:
            self._last_evict = time.monotonic()
        for number, partition in self.partitions.items():
            if number in caught_up:
                partition.clock = max(partition.clock, wall)
            cutoff = partition.clock - self.config.user_ttl_s
            if evict and partition.clock > 0 and partition.evict_idle(cutoff):
                self._begin()  # the tombstones go out with the next commit
            due = partition.due(partition.clock)
            if not due:
                continue
            self._begin()
            for user_key in due:
                self.processor.expire(user_key, partition, partition.clock, self._out)
            self._flush_outputs()

    def _caught_up(self) -> set[int]:
        """Partition numbers whose every input is read up to its (last fetched) end."""
        behind = set()
        for (topic, number), position in self._positions.items():
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, number), cached=True
            )
            if high > position:
                behind.add(number)
        return set(self.partitions) - behind

    # -- transactions ---------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_transaction:
            self._producer.begin_transaction()
            self._in_transaction = True
            self._started = time.monotonic()

    def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int = -1
    ) -> None:
        while True:
            try:
                if partition < 0:
                    self._producer.produce(topic, value, key)
                else:
                    self._producer.produce(topic, value, key, partition=partition)
                return
            except BufferError:
                self._producer.poll(0.01)

    def _flush_outputs(self) -> None:
        outputs = self.config.outputs
        for output in self._out:
            self._produce(outputs[output.kind], output.key, output.value)
            if output.kind == "example":
                EXAMPLES.inc()
        self._out.clear()

    def _commit(self) -> None:
        if not self._in_transaction:
            return
        started = time.perf_counter()
        features_topic = self.config.outputs["features"]
        for partition in self.partitions.values():
            for user_key in partition.dirty:
                user = partition.users[user_key]
                key = user_key.encode()
                features = features_record(user)
                self._produce(features_topic, key, features)
                self._produce(
                    self.config.changelog_topic,
                    key,
                    user_state.encode_with(user, features),
                    partition=partition.number,
                )
            partition.dirty.clear()
            for user_key in partition.evicted:
                key = user_key.encode()
                self._produce(features_topic, key, None)
                self._produce(self.config.changelog_topic, key, None, partition=partition.number)
            partition.evicted.clear()
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._offsets.items()]
        try:
            if offsets:
                self._producer.send_offsets_to_transaction(
                    offsets, self._consumer.consumer_group_metadata(), 30
                )
            self._producer.commit_transaction(60)
        except KafkaException as exc:
            self._failed(exc)
        else:
            self._last_commit_s = time.perf_counter() - started
            COMMIT_SECONDS.observe(self._last_commit_s)
        finally:
            self._in_transaction = False
            self._offsets.clear()

    def _failed(self, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        if error.fatal():
            raise exc  # fenced by a newer instance with our id: this process must go
        log.warning("transaction aborted, rewinding", extra=kv(error=error.str()))
        if error.txn_requires_abort():
            self._producer.abort_transaction(30)
        else:  # unknown outcome (e.g. a timeout): abort to be sure
            try:
                self._producer.abort_transaction(30)
            except KafkaException:
                log.warning("abort failed", extra=kv(error=error.str()))
        self._rewind()

    def _rewind(self) -> None:
        """Back to the last committed point: state from the changelog, inputs from offsets."""
        numbers = set(self.partitions)
        self.partitions = self._restore(numbers)
        self._positions = self._committed(self._consumer.assignment())
        for (topic, number), offset in self._positions.items():
            self._consumer.seek(TopicPartition(topic, number, offset))

    def _committed(self, assigned: list[TopicPartition]) -> dict[tuple[str, int], int]:
        """Where each input resumes: its committed offset, else its beginning."""
        positions = {}
        for tp in self._consumer.committed(assigned, timeout=30):
            offset = tp.offset
            if offset < 0:
                offset, _ = self._consumer.get_watermark_offsets(tp, timeout=30)
            positions[(tp.topic, tp.partition)] = offset
        return positions

    # -- rebalancing ----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in assigned}
        # state handed over at the last revocation is exact (it was committed): reuse it
        keep = {n: p for n, p in self._parked.items() if n in numbers}
        self._parked.clear()
        missing = numbers - set(keep)
        restored = self._restore(missing) if missing else {}
        self.partitions = keep | restored
        self._positions = self._committed(assigned)
        log.info(
            "partitions assigned",
            extra=kv(partitions=sorted(numbers), restored=sorted(missing)),
        )

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        if self._stopping:
            return
        self._commit()  # what we hand over is exactly what the changelog says
        for number in {tp.partition for tp in revoked}:
            parked = self.partitions.pop(number, None)
            if parked is not None:
                self._parked[number] = parked
        log.info(
            "partitions revoked", extra=kv(partitions=sorted({tp.partition for tp in revoked}))
        )

    def _on_lost(self, consumer: Consumer, lost: list[TopicPartition]) -> None:
        if self._in_transaction:
            try:
                self._producer.abort_transaction(30)
            except KafkaException as exc:
                log.warning("abort failed", extra=kv(error=str(exc)))
            self._in_transaction = False
            self._offsets.clear()
            self._out.clear()
        for number in {tp.partition for tp in lost}:
            self.partitions.pop(number, None)  # someone else may have moved on: re-read later
        log.warning("partitions lost", extra=kv(partitions=sorted({tp.partition for tp in lost})))

    def _restore(self, numbers: set[int]) -> dict[int, PartitionState]:
        """The partitions' users from the changelog, with their label timers."""
        started = time.monotonic()
        config = self.config
        users, records = read_changelog(
            config.bootstrap,
            config.group,
            config.changelog_topic,
            numbers,
            config.restore_timeout_s,
        )
        states = {n: PartitionState(n, users=users[n]) for n in numbers}
        for partition in states.values():
            for user_key, user in partition.users.items():
                self._reschedule(partition, user_key, user)
        log.info(
            "state restored",
            extra=kv(
                partitions=sorted(numbers),
                records=records,
                users=sum(len(p.users) for p in states.values()),
                seconds=round(time.monotonic() - started, 2),
            ),
        )
        return states

    def _reschedule(self, partition: PartitionState, user_key: str, user: UserState) -> None:
        deadline = labels.next_deadline(user.pending, self.processor.config.labels)
        if deadline is not None:
            partition.schedule(user_key, deadline)
