"""Messages that could not reach Kafka, kept on local disk until a broker takes them.

A tracking hit is answered even while the cluster is down (the visitor's pixel loads, their
click lands), and a decision is served without waiting for its log: what the producers could
not deliver is appended to this process's spool file instead of being dropped, and
`Spool.replay` sends it again once a broker answers, oldest file first, with the awaited
producer (acks=all). A file is deleted once all of it is acknowledged; how far a file got is
kept beside it (`.sent`), so a replay cut short resends nothing already acknowledged.

Records are length-prefixed and checksummed; a record cut short by a crash ends what is read
of its file. Appends are flushed to the operating system, not synced to the disk: they
survive the process, not the machine. A process adopts the files of processes that are gone,
renaming each to its own name first, so that two processes never replay the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import msgspec
from prometheus_client import Counter

from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.sink import Message, MessageSink
from kairos.logs import kv
from kairos.processes import running

log = logging.getLogger(__name__)
SPOOLED = Counter("kairos_spooled_messages_total", "Messages kept on disk while Kafka was away")
REPLAYED = Counter("kairos_spool_replayed_messages_total", "Spooled messages delivered later")
LOST = Counter("kairos_spool_lost_messages_total", "Messages neither Kafka nor the disk took")

_HEAD = struct.Struct("<II")  # the record's length, its CRC-32
_SUFFIX = ".spool"
_SENT = ".sent"  # beside a file being replayed: the offset acknowledged so far
BATCH = 500  # messages per acknowledged send when replaying
MAX_FILE_BYTES = 64 * 1024 * 1024  # then a new file: a replay reads one file at a time


def encode(message: Message) -> bytes:
    body = msgspec.msgpack.encode((message.topic, message.key, message.value, message.headers))
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


def records(data: bytes) -> Iterator[tuple[int, Message]]:
    """Each whole record of a file's bytes, with the offset just after it; stops at the first
    cut-short or damaged one."""
    at = 0
    while at + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, at)
        body = data[at + _HEAD.size : at + _HEAD.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            return
        message = _message(body)
        if message is None:
            return
        at += _HEAD.size + length
        yield at, message


def _message(body: bytes) -> Message | None:
    """A record's message (MessagePack keeps bytes and text apart, as Kafka headers have
    them); None when it is not one."""
    try:
        topic, key, value, headers = msgspec.msgpack.decode(body)
    except (msgspec.DecodeError, ValueError, TypeError):
        return None
    if not isinstance(topic, str) or not isinstance(value, bytes):
        return None
    if key is not None and not isinstance(key, bytes):
        return None
    if headers is not None and not isinstance(headers, list):
        return None
    return Message(topic, key, value, [(str(k), v) for k, v in headers] if headers else None)


class Spool:
    """This process's spool in `directory` (shared by the processes of one host)."""

    WARN_EVERY_S = 10.0  # one warning per this long while deliveries fail, with their count

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # failed deliveries are told on several threads
        self._file: BinaryIO | None = None
        self._size = 0  # bytes in the current file
        self._warned = 0.0  # when the last warning was logged (monotonic)
        self._unwarned = 0  # failures since

    def failed(self, message: Message, error: str) -> None:
        """A producer's report of a message it could not deliver (`sink.Failed`): spooled,
        and logged without flooding the log when a whole cluster is away."""
        if not self.append([message]):
            return  # (logged)
        self._unwarned += 1
        now = time.monotonic()
        if now - self._warned >= self.WARN_EVERY_S:
            log.warning(
                "kafka did not take messages: spooled for later",
                extra=kv(count=self._unwarned, topic=message.topic, error=error),
            )
            self._warned, self._unwarned = now, 0

    def append(self, messages: Sequence[Message]) -> bool:
        """Keep `messages`; False when the disk refused them (full, read-only): they are lost,
        counted and logged, but whoever spools (a visitor's click) goes on."""
        data = b"".join(encode(m) for m in messages)
        with self._lock:
            try:
                if self._file is None:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    path = self.directory / f"{os.getpid()}-{time.time_ns()}{_SUFFIX}"
                    self._file, self._size = path.open("ab"), 0
                self._file.write(data)
                self._file.flush()
                self._size += len(data)
                if self._size >= MAX_FILE_BYTES:  # a long outage: files of a bounded size
                    self._drop_file()
            except OSError as exc:
                self._drop_file()  # it may end in a torn record: later ones go to a new file
                LOST.inc(len(messages))
                log.error("spool refused messages", extra=kv(count=len(messages), error=repr(exc)))
                return False
        SPOOLED.inc(len(messages))
        return True

    def _drop_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # what it held is on disk as far as it got
                self._file.close()
            self._file = None

    def pending(self) -> list[Path]:
        """Spool files on disk (this process's current one included), oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"*{_SUFFIX}"), key=_age)

    async def replay(self, sink: MessageSink) -> int:
        """Send what is spooled (this process's closed files and those of processes that
        are gone); returns how many messages were delivered. Stops at the first failure,
        keeping what was not acknowledged for the next time."""
        with self._lock:  # new failures go to a new file, not one of these
            self._drop_file()
            files = self.pending()
        delivered = 0
        for path in files:
            mine = self._claim(path)
            if mine is None:
                continue
            try:
                delivered += await _replay_file(mine, sink)
            except KafkaUnavailable as exc:
                log.warning("spool replay stopped", extra=kv(file=mine.name, reason=exc.message))
                break
        return delivered

    def _claim(self, path: Path) -> Path | None:
        """`path` renamed to this process's name, or None when another live process owns it
        or took it first."""
        owner = _owner(path)
        if owner != os.getpid():
            if owner is not None and running(owner):
                return None
            claimed = path.with_name(f"{os.getpid()}-{path.name.split('-', 1)[-1]}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                return None
            sent = path.with_name(path.name + _SENT)
            if sent.exists():
                os.replace(sent, claimed.with_name(claimed.name + _SENT))
            return claimed
        return path

    def close(self) -> None:
        with self._lock:
            self._drop_file()


async def keep_replaying(spool: Spool, sink: MessageSink, every_s: float) -> None:
    """The API's task: every `every_s`, when something is spooled and a broker answers,
    replay it."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if spool.pending() and await sink.ping(timeout_s=2.0):
                delivered = await spool.replay(sink)
                if delivered:
                    log.info("spooled messages delivered", extra=kv(count=delivered))
        except OSError as exc:  # a full or unreadable disk: try again later, still serving
            log.error("spool replay failed", extra=kv(error=repr(exc)))


async def _replay_file(path: Path, sink: MessageSink) -> int:
    sent_path = path.with_name(path.name + _SENT)
    done = int(sent_path.read_text() or "0") if sent_path.exists() else 0
    data = await asyncio.to_thread(path.read_bytes)  # up to `MAX_FILE_BYTES`: not on the loop
    batch: list[Message] = []
    delivered = 0
    end = done
    for offset, message in records(data[done:]):
        batch.append(message)
        end = done + offset
        if len(batch) >= BATCH:
            await sink.send(batch)
            delivered += len(batch)
            sent_path.write_text(str(end))
            batch = []
    if batch:
        await sink.send(batch)
        delivered += len(batch)
    if end < len(data):
        log.warning("spool file ends in a damaged record", extra=kv(file=path.name, at=end))
    REPLAYED.inc(delivered)
    path.unlink()
    sent_path.unlink(missing_ok=True)
    return delivered


def _owner(path: Path) -> int | None:
    head = path.name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _age(path: Path) -> int:
    tail = path.name.split("-", 1)[-1].removesuffix(_SUFFIX)
    return int(tail) if tail.isdigit() else 0
