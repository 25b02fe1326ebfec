"""Where accepted messages go: an interface, the Kafka producer behind it, and an in-memory twin.

`send` returns only when every message of the batch is acknowledged by the brokers
(idempotent producer, acks=all); otherwise it raises `KafkaUnavailable` naming what did land.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
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
    headers: list[tuple[str, bytes]] | None = None


class MessageSink(Protocol):
    async def send(self, messages: Sequence[Message]) -> None: ...

    async def ping(self, timeout_s: float = 1.0) -> bool: ...

    def close(self) -> None: ...


def producer_config(
    bootstrap: str, *, timeout_ms: int, client_id: str = "kairos"
) -> dict[str, Any]:
    """The settings of every Kairos producer; benchmarks reuse them for the raw baseline."""
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,  # implies acks=all and ordered, de-duplicated retries
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "message.timeout.ms": timeout_ms,
        "socket.keepalive.enable": True,
    }


class _BatchAck:
    """Counts delivery reports of one batch on the poll thread; wakes the awaiting request."""

    __slots__ = ("_future", "_lock", "_loop", "delivered", "errors", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()
        self._lock = threading.Lock()
        self.pending = size
        self.delivered: list[int] = []
        self.errors: list[str] = []

    def report(self, index: int, err: KafkaError | None) -> None:
        with self._lock:
            if err is None:
                self.delivered.append(index)
            else:
                self.errors.append(err.str())
            self.pending -= 1
            done = self.pending == 0
        if done:
            self._loop.call_soon_threadsafe(self._finish)

    def cancel_unsent(self, count: int) -> None:
        """Messages never enqueued will never be reported; stop waiting for them."""
        for _ in range(count):
            self.report(-1, KafkaError(KafkaError._FAIL, "not enqueued"))

    def _finish(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        await asyncio.wait_for(asyncio.shield(self._future), timeout_s)


class KafkaSink:
    """confluent-kafka producer with a poll thread that serves delivery reports."""

    def __init__(self, bootstrap: str, *, timeout_ms: int = 5000) -> None:
        self._timeout_s = timeout_ms / 1000
        self._brokers_down = False
        cfg = producer_config(bootstrap, timeout_ms=timeout_ms) | {"error_cb": self._on_error}
        self._producer = Producer(cfg)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._brokers_down = True
        log.warning("kafka client error", extra=kv(code=err.name(), reason=err.str()))

    async def send(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        if self._brokers_down and not await self.ping(timeout_s=1.0):
            raise KafkaUnavailable("Kafka is unreachable", detail={"accepted": []})
        ack = _BatchAck(asyncio.get_running_loop(), len(messages))
        await self._enqueue(messages, ack)
        with contextlib.suppress(TimeoutError):
            await ack.wait(self._timeout_s + 2.0)
        if ack.pending or ack.errors:
            raise KafkaUnavailable(
                "Kafka did not acknowledge every event",
                detail={"accepted": sorted(ack.delivered), "errors": sorted(set(ack.errors))[:5]},
            )
        self._brokers_down = False

    async def _enqueue(self, messages: Sequence[Message], ack: _BatchAck) -> None:
        produce = self._producer.produce
        for index, m in enumerate(messages):
            while True:
                try:
                    produce(
                        m.topic,
                        m.value,
                        m.key,
                        headers=m.headers,
                        on_delivery=lambda err, _msg, i=index: ack.report(i, err),
                    )
                    break
                except BufferError:  # local queue full: let the poll thread drain it
                    await asyncio.sleep(0.005)
                except KafkaException as exc:
                    log.error("produce failed", extra=kv(topic=m.topic, reason=exc))
                    ack.cancel_unsent(len(messages) - index)
                    return

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


@dataclass
class MemorySink:
    """In-memory twin for unit tests of pure logic: keeps messages; can play 'unreachable'."""

    messages: list[Message] = field(default_factory=list)
    available: bool = True

    async def send(self, messages: Sequence[Message]) -> None:
        if not self.available:
            raise KafkaUnavailable("Kafka is unreachable", detail={"accepted": []})
        self.messages.extend(messages)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        return self.available

    def close(self) -> None:
        self.available = False

    def on(self, topic: str) -> list[Message]:
        return [m for m in self.messages if m.topic == topic]


def wait_for_brokers(bootstrap: str, timeout_s: float) -> bool:
    """Block until a broker at `bootstrap` answers (used by start-up and tests)."""
    from confluent_kafka.admin import AdminClient

    # log_level 0: "connection refused" while a broker boots is the expected answer, not news.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1)
            return True
        except KafkaException:
            time.sleep(0.25)
    return False
