"""Where messages go: two interfaces, the Kafka producers behind them, and an in-memory twin.

A `MessageSink` carries accepted events: `send` returns only when every message of the batch is
acknowledged by the brokers (idempotent producer, acks=all); otherwise it raises
`KafkaUnavailable` naming what did land. A `MessageLog` carries logs that must not hold a
response (decisions): enqueued and never waited for, a failed delivery told afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from kairos.kafka.exceptions import KafkaUnavailable
from kairos.logs import kv

log = logging.getLogger(__name__)


class Message(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, str | bytes | None]] | None = None


# told which message sent without waiting was not delivered, and why
Failed = Callable[[Message, str], None]


class MessageSink(Protocol):
    """Events a request waits for: `send` returns once the brokers hold every one."""

    async def send(self, messages: Sequence[Message]) -> None: ...

    async def ping(self, timeout_s: float = 1.0) -> bool: ...

    def close(self) -> None: ...


class MessageLog(Protocol):
    """Logs that must not hold a response: enqueued, never waited for. What is not delivered,
    or not even enqueued (the local queue full: the brokers away or behind), is told to
    `failed`, which keeps it (`kafka.spool`): one policy for every overflow."""

    def send_nowait(self, messages: Sequence[Message], failed: Failed) -> int:
        """Enqueue without waiting; returns how many were enqueued (the others are already
        told to `failed`)."""
        ...

    def close(self) -> None: ...


class Sinks(MessageSink, MessageLog, Protocol):
    """One object for both (the in-memory twin of tests)."""


MAX_QUEUED = 1_000_000  # messages a producer holds locally before refusing more


def producer_config(
    bootstrap: str,
    *,
    timeout_ms: int,
    linger_ms: int = 20,
    client_id: str = "kairos",
    max_queued: int = MAX_QUEUED,
) -> dict[str, Any]:
    """The settings of every Kairos producer; benchmarks reuse them for the raw baseline."""
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,  # implies acks=all and ordered, de-duplicated retries
        "acks": "all",
        # Requests arrive in bursts (one per HTTP batch); a longer linger merges the bursts
        # of concurrent requests, which costs the brokers far less CPU per event.
        "linger.ms": linger_ms,
        "compression.type": "lz4",
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": max_queued,
        "message.timeout.ms": timeout_ms,
        "socket.keepalive.enable": True,
    }


class _Request:
    """One `send` call: counts its delivery reports (served on the poll thread only)."""

    __slots__ = ("errors", "future", "loop", "pending")

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.pending = size
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.errors: list[str] = []

    def on_delivery(self, err: KafkaError | None, _msg: object = None) -> None:
        if err is not None:
            self.errors.append(err.str())
        self.pending -= 1
        if self.pending == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class _Producer:
    """A confluent-kafka producer with its own thread serving delivery reports."""

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout_ms: int,
        linger_ms: int,
        only_errors: bool,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._timeout_s = timeout_ms / 1000
        self._brokers_down = False
        config = producer_config(
            bootstrap, timeout_ms=timeout_ms, linger_ms=linger_ms, max_queued=max_queued
        )
        cfg = config | {
            "error_cb": self._on_error,
            "logger": logging.getLogger("kairos.kafka.librdkafka"),
            "delivery.report.only.error": only_errors,
        }
        self._producer = Producer(cfg)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        raise NotImplementedError

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            if not self._brokers_down:
                log.warning("all brokers down", extra=kv(reason=err.str()))
            self._brokers_down = True
        else:
            log.debug("kafka client error", extra=kv(code=err.name(), reason=err.str()))

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """True when a broker answers a metadata request within the timeout."""
        try:
            await asyncio.to_thread(self._producer.list_topics, timeout=timeout_s)
        except KafkaException:
            return False
        self._brokers_down = False
        return True

    def close(self) -> None:
        remaining = self._producer.flush(10)
        self._stop.set()
        self._poller.join(timeout=2)
        if remaining:
            log.error("producer closed with undelivered messages", extra=kv(count=remaining))


class KafkaSink(_Producer):
    """The `MessageSink` of accepted events: a poll thread serves delivery reports.

    Messages are produced as requests arrive and batched by librdkafka (`linger.ms`), so the
    brokers see large batches under load; each request waits for its own delivery reports.
    """

    def __init__(self, bootstrap: str, *, timeout_ms: int = 5000, linger_ms: int = 20) -> None:
        super().__init__(bootstrap, timeout_ms=timeout_ms, linger_ms=linger_ms, only_errors=False)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        if self._brokers_down and not await self.ping(timeout_s=1.0):
            raise KafkaUnavailable("Kafka is unreachable", detail={"delivered": 0})
        request = _Request(len(messages), asyncio.get_running_loop())
        await self._produce(messages, request)
        try:
            await asyncio.wait_for(asyncio.shield(request.future), self._timeout_s + 2)
        except TimeoutError:
            request.errors.append("no delivery report in time")
        if request.errors:
            raise KafkaUnavailable(
                "Kafka did not acknowledge every event",
                detail={"of": len(messages), "errors": sorted(set(request.errors))[:5]},
            )
        self._brokers_down = False

    async def _produce(self, messages: Sequence[Message], request: _Request) -> None:
        produce, report = self._producer.produce, request.on_delivery
        for index, m in enumerate(messages):
            while True:
                try:
                    if m.headers:
                        produce(m.topic, m.value, m.key, headers=m.headers, on_delivery=report)
                    else:
                        produce(m.topic, m.value, m.key, on_delivery=report)
                    break
                except BufferError:  # local queue full: let the poll thread drain it
                    await asyncio.sleep(0.005)
                except KafkaException as exc:  # the request has failed: stop waiting for it
                    request.errors.append(f"message {index} not enqueued: {exc}")
                    request._finish()
                    return


class KafkaLog(_Producer):
    """The `MessageLog` of decisions and tracking hits: nothing waits for their delivery.

    librdkafka reports failed deliveries alone, so a delivered message costs no call into
    Python; and the reports are served on the caller's thread as it sends (a poll thread
    takes the interpreter's lock once per report, and the serving thread hands it over each
    time), at most once every `POLL_EVERY_S` (a poll amid requests cost a decision of three
    messages more than their produce calls), its own thread polling only when the sender has
    been idle for a while. A message that meets a full local queue is told to `failed` at
    once, like one that fails later: nothing piles up in memory while the brokers are away.
    It has no `send`: it could not tell a delivery from a missing report.
    """

    IDLE_S = 0.5  # the poll thread serves reports once the sender has been idle this long
    POLL_EVERY_S = 0.005  # the sender serves the reports due at most this often

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout_ms: int = 5000,
        linger_ms: int = 20,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._polled = time.monotonic()  # when the sender last served reports
        super().__init__(
            bootstrap,
            timeout_ms=timeout_ms,
            linger_ms=linger_ms,
            only_errors=True,
            max_queued=max_queued,
        )

    def _poll(self) -> None:
        while not self._stop.wait(self.IDLE_S):
            if time.monotonic() - self._polled >= self.IDLE_S:
                self._producer.poll(0)

    def send_nowait(self, messages: Sequence[Message], failed: Failed) -> int:
        def report(err: KafkaError | None, msg: Any = None) -> None:
            if err is not None:
                failed(Message(msg.topic(), msg.key(), msg.value(), msg.headers()), err.str())

        produce, enqueued = self._producer.produce, 0
        for index, m in enumerate(messages):
            try:
                if m.headers:
                    produce(m.topic, m.value, m.key, headers=m.headers, on_delivery=report)
                else:
                    produce(m.topic, m.value, m.key, on_delivery=report)
                enqueued += 1
            except BufferError:  # the local queue is full: this one and the rest
                for rest in messages[index:]:
                    failed(rest, "the producer's local queue is full")
                break
            except KafkaException as exc:
                failed(m, f"not enqueued: {exc}")
        # the reports due so far, on this thread, now and then
        now = time.monotonic()
        if now - self._polled >= self.POLL_EVERY_S:
            self._producer.poll(0)
            self._polled = now
        return enqueued


@dataclass
class MemorySink:
    """In-memory twin (a `MessageSink` and a `MessageLog`) for unit tests of pure logic: keeps
    messages; can play 'unreachable'."""

    messages: list[Message] = field(default_factory=list)
    available: bool = True

    async def send(self, messages: Sequence[Message]) -> None:
        if not self.available:
            raise KafkaUnavailable("Kafka is unreachable", detail={"delivered": 0})
        self.messages.extend(messages)

    def send_nowait(self, messages: Sequence[Message], failed: Failed) -> int:
        if not self.available:
            for m in messages:
                failed(m, "Kafka is unreachable")
            return 0
        self.messages.extend(messages)
        return len(messages)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        return self.available

    def close(self) -> None:
        self.available = False

    def on(self, topic: str) -> list[Message]:
        return [m for m in self.messages if m.topic == topic]
