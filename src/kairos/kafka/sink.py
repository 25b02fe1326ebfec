"""Where accepted messages go: an interface, the Kafka producer behind it, and an in-memory twin.

`send` returns only when every message of the batch is acknowledged by the brokers
(idempotent producer, acks=all); otherwise it raises `KafkaUnavailable` naming what did land.
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


Failed = Callable[[str], None]  # told why a message sent without waiting was not delivered


class MessageSink(Protocol):
    async def send(self, messages: Sequence[Message]) -> None: ...

    def send_nowait(self, messages: Sequence[Message], failed: Failed) -> int:
        """Enqueue without waiting for delivery (logs that must not hold a response);
        returns how many were enqueued: the rest met a full local queue, `enqueue` them."""
        ...

    async def enqueue(self, messages: Sequence[Message], failed: Failed) -> None:
        """Enqueue every message, waiting for room in the local queue but never for
        delivery; a delivery that fails is told to `failed`."""
        ...

    async def ping(self, timeout_s: float = 1.0) -> bool: ...

    def close(self) -> None: ...


def producer_config(
    bootstrap: str, *, timeout_ms: int, linger_ms: int = 20, client_id: str = "kairos"
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
        "queue.buffering.max.messages": 1_000_000,
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


class KafkaSink:
    """confluent-kafka producer; a poll thread serves delivery reports.

    Messages are produced as requests arrive and batched by librdkafka (`linger.ms`), so the
    brokers see large batches under load; each request waits for its own delivery reports.

    A sink of logs that nothing waits for (`awaited=False`: `send_nowait` and `enqueue`
    only) has librdkafka report failed deliveries alone, so a delivered message costs no call
    into Python; and it serves its reports on the caller's thread as it sends (a poll thread
    takes the interpreter's lock once per report, and the serving thread hands it over each
    time), its own thread polling only when it has been idle for a while. Its `send` is
    refused, since it could not tell a delivery from a missing report.
    """

    def __init__(
        self, bootstrap: str, *, timeout_ms: int = 5000, linger_ms: int = 20, awaited: bool = True
    ) -> None:
        self._timeout_s = timeout_ms / 1000
        self._brokers_down = False
        self._awaited = awaited
        cfg = producer_config(bootstrap, timeout_ms=timeout_ms, linger_ms=linger_ms) | {
            "error_cb": self._on_error,
            "logger": logging.getLogger("kairos.kafka.librdkafka"),
            "delivery.report.only.error": not awaited,
        }
        self._producer = Producer(cfg)
        self._polled = time.monotonic()  # when the sender last served reports (not awaited)
        self._stop = threading.Event()
        poll = self._poll if awaited else self._poll_when_idle
        self._poller = threading.Thread(target=poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _poll_when_idle(self, idle_s: float = 0.5) -> None:
        while not self._stop.wait(idle_s):
            if time.monotonic() - self._polled >= idle_s:
                self._producer.poll(0)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            if not self._brokers_down:
                log.warning("all brokers down", extra=kv(reason=err.str()))
            self._brokers_down = True
        else:
            log.debug("kafka client error", extra=kv(code=err.name(), reason=err.str()))

    async def send(self, messages: Sequence[Message]) -> None:
        if not self._awaited:
            raise TypeError("this sink reports failed deliveries only: `enqueue` instead")
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

    def send_nowait(self, messages: Sequence[Message], failed: Failed) -> int:
        def report(err: KafkaError | None, _msg: object = None) -> None:
            if err is not None:
                failed(err.str())

        produce, enqueued = self._producer.produce, len(messages)
        for index, m in enumerate(messages):
            try:
                if m.headers:
                    produce(m.topic, m.value, m.key, headers=m.headers, on_delivery=report)
                else:
                    produce(m.topic, m.value, m.key, on_delivery=report)
            except BufferError:
                enqueued = index
                break
            except KafkaException as exc:
                failed(f"not enqueued: {exc}")
        if not self._awaited:  # the reports due so far, on this thread (a message leaves the
            self._producer.poll(0)  # local queue once its report is served)
            self._polled = time.monotonic()
        return enqueued

    async def enqueue(self, messages: Sequence[Message], failed: Failed) -> None:
        done = 0
        while True:
            done += self.send_nowait(messages[done:], failed)
            if done >= len(messages):
                return
            await asyncio.sleep(0.005)  # local queue full: let the producer drain it

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
            raise KafkaUnavailable("Kafka is unreachable", detail={"delivered": 0})
        self.messages.extend(messages)

    def send_nowait(self, messages: Sequence[Message], failed: Failed) -> int:
        if not self.available:
            for _ in messages:
                failed("Kafka is unreachable")
        else:
            self.messages.extend(messages)
        return len(messages)

    async def enqueue(self, messages: Sequence[Message], failed: Failed) -> None:
        self.send_nowait(messages, failed)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        return self.available

    def close(self) -> None:
        self.available = False

    def on(self, topic: str) -> list[Message]:
        return [m for m in self.messages if m.topic == topic]
