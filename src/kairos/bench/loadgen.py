"""An HTTP/1.1 load generator light enough not to compete with the server it measures.

Requests are built once as raw bytes and sent over keep-alive connections by one event loop
(uvloop); a response is read as far as its `Content-Length`. On a small machine
the client shares the CPU with the server and the broker: a thread per connection of
`http.client` cost about a third of a millisecond per request, nearly half of what a decision
costs, and that time was the server's. Two loads: a closed loop (each connection sends its
next request when answered) and an open loop at a fixed rate, whose latencies count from the
time each request was due, so a server that falls behind shows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar, cast

import uvloop

from kairos.errors import KairosError

T = TypeVar("T")
_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


def request(method: str, path: str, host: str, body: bytes = b"") -> bytes:
    """A raw HTTP/1.1 request (JSON body when one is given)."""
    head = f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n"
    if body:
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._transport: asyncio.Transport | None = None
        self._status = 0
        self._need = -1  # bytes of the whole response, once its head is read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need < 0:
            end = self._buffer.find(_END)
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            at = head.find(_LENGTH)
            if at < 0:
                self._fail(KairosError("a response without content-length"))
                return
            stop = head.find(b"\r\n", at + len(_LENGTH))
            length = int(head[at + len(_LENGTH) : stop if stop > 0 else len(head)])
            self._status, self._need = int(head[9:12]), end + len(_END) + length
        if len(self._buffer) >= self._need:
            del self._buffer[: self._need]
            self._need = -1
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(self._status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(KairosError(f"the server closed the connection: {exc}"))

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def send(self, raw: bytes) -> int:
        """The response's status, once the whole response is read."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(host: str, port: int, count: int) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    made = [await loop.create_connection(_Connection, host, port) for _ in range(count)]
    return [protocol for _, protocol in made]


async def _closed(
    host: str, port: int, requests: Sequence[bytes], connections: int, duration_s: float
) -> tuple[float, list[float]]:
    conns = await _connect(host, port, connections)
    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s

    async def run(k: int, conn: _Connection) -> None:
        i = k
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status = await conn.send(requests[i % len(requests)])
            if status != 200:
                raise KairosError(f"the server answered {status}")
            latencies.append(time.perf_counter() - start)
            i += connections

    started = time.perf_counter()
    try:
        await asyncio.gather(*(run(k, c) for k, c in enumerate(conns)))
    finally:
        for conn in conns:
            conn.close()
    return len(latencies) / (time.perf_counter() - started), latencies


async def _open(
    host: str, port: int, requests: Sequence[bytes], rate: float, duration_s: float, pool: int
) -> tuple[float, list[float]]:
    conns = await _connect(host, port, pool)
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(raw: bytes, due: float) -> None:
        conn = await idle.get()  # all busy: the wait counts in the latency
        try:
            await conn.send(raw)
            latencies.append(time.perf_counter() - due)
        finally:
            idle.put_nowait(conn)

    start = time.perf_counter() + 0.1
    total = int(rate * duration_s)
    try:
        for n in range(total):
            due = start + n / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            task = asyncio.ensure_future(one(requests[n % len(requests)], due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for conn in conns:
            conn.close()
    return len(latencies) / (time.perf_counter() - start), latencies


def _run(load: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(load)


def closed_loop(
    host: str, port: int, requests: Sequence[bytes], connections: int, duration_s: float
) -> tuple[float, list[float]]:
    """Requests/s (unrounded: a caller can tell the time taken) and each request's latency in
    seconds; any status but 200 is an error."""
    return _run(_closed(host, port, requests, connections, duration_s))


def fixed_rate(
    host: str,
    port: int,
    requests: Sequence[bytes],
    rate: float,
    duration_s: float,
    connections: int = 16,
) -> tuple[float, list[float]]:
    """Achieved requests/s and each request's latency in seconds from when it was due."""
    return _run(_open(host, port, requests, rate, duration_s, connections))
