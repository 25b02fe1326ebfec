"""Ingestion: validate client events, pseudonymise, and turn them into Kafka messages.

Pure apart from the sink it is handed. Valid events go to their type's topic keyed by the
pseudonymous user id; invalid ones go to the dead-letter topic with the reason, their raw
user id replaced by its pseudonym so that no first-party id ever reaches Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from kairos.domain import codec
from kairos.domain.codec import FieldError, InvalidEvent
from kairos.domain.events import EVENT_TYPES, BaseEvent, replace
from kairos.domain.identity import truncate_ip
from kairos.errors import PayloadTooLarge
from kairos.kafka.sink import Message, MessageSink
from kairos.kafka.topics import Topics

_RAW_USER_ID = re.compile(rb'("user_id"\s*:\s*)"((?:[^"\\]|\\.)*)"')
MAX_DEAD_LETTER_BYTES = 64 * 1024


@dataclass(frozen=True)
class RequestContext:
    """What the HTTP request tells about the visitor when the event does not say."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Rejection:
    index: int
    errors: list[dict[str, object]]


@dataclass
class IngestResult:
    event_ids: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class Ingestor:
    def __init__(
        self,
        sink: MessageSink,
        topics: Topics,
        pseudonymize: Callable[[str], str],
        *,
        max_batch: int = 1000,
    ) -> None:
        self._sink = sink
        self._topics = topics
        self._topic_of = {cls: topics.events(kind) for cls, kind in EVENT_TYPES.items()}
        self._pseudonymize = pseudonymize
        self.max_batch = max_batch

    async def ingest_one(self, body: bytes, ctx: RequestContext) -> IngestResult:
        try:
            item = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return await self._reject_body(body, f"body is not JSON: {exc}")
        return await self._ingest_items([item], ctx)

    async def ingest_batch(self, body: bytes, ctx: RequestContext) -> IngestResult:
        try:  # fast path: the whole batch is valid and validated in one call
            events = codec.parse_inbound_batch(body)
        except (msgspec.ValidationError, msgspec.DecodeError, InvalidEvent):
            pass
        else:
            self._check_size(len(events))
            result = IngestResult(event_ids=[e.event_id for e in events])
            return await self._send(self._accept(events, ctx), [], result)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return await self._reject_body(body, f"body is not JSON: {exc}")
        items = parsed.get("events") if isinstance(parsed, dict) else None
        if not isinstance(items, list) or not items:
            return await self._reject_body(body, 'body must be {"events": [event, ...]}')
        self._check_size(len(items))
        return await self._ingest_items(items, ctx)

    def _check_size(self, count: int) -> None:
        if count > self.max_batch:
            raise PayloadTooLarge(f"batch has {count} events; the maximum is {self.max_batch}")

    async def _ingest_items(self, items: list[Any], ctx: RequestContext) -> IngestResult:
        result = IngestResult()
        valid: list[BaseEvent] = []
        dead: list[Message] = []
        for index, item in enumerate(items):
            try:
                event = codec.parse_inbound(orjson.dumps(item))
            except InvalidEvent as exc:
                errors = [exc.error.as_dict()]
                result.rejected.append(Rejection(index, errors))
                dead.append(self._dead_letter(item, errors, index))
                continue
            valid.append(event)
            result.event_ids.append(event.event_id)
        return await self._send(self._accept(valid, ctx), dead, result)

    def _accept(self, events: Sequence[BaseEvent], ctx: RequestContext) -> list[Message]:
        """Pseudonymise and stamp valid events; one message each on its type's topic."""
        now = datetime.now(UTC)
        keys: dict[str, str] = {}  # per batch: a visitor's events usually come together
        ips: dict[str | None, str | None] = {}
        wire: list[BaseEvent] = []
        for event in events:
            user_id = event.user_id or ""
            key = keys.get(user_id)
            if key is None:
                key = keys[user_id] = self._pseudonymize(user_id)
            raw_ip = event.ip or ctx.ip
            if raw_ip not in ips:
                ips[raw_ip] = truncate_ip(raw_ip)
            ts = event.ts or now
            wire.append(
                replace(
                    event,
                    user_id=None,
                    user_key=key,
                    received_at=now,
                    ts=ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC),
                    ip=ips[raw_ip],
                    user_agent=event.user_agent or ctx.user_agent,
                )
            )
        topic_of = self._topic_of
        return [
            Message(topic_of[type(event)], event.user_key.encode(), value)  # type: ignore[union-attr]
            for event, value in zip(wire, codec.encode_many(wire), strict=True)
        ]

    async def _send(
        self, accepted: list[Message], dead: list[Message], result: IngestResult
    ) -> IngestResult:
        await self._sink.send(accepted + dead)
        return result

    async def _reject_body(self, body: bytes, reason: str) -> IngestResult:
        error = FieldError((), reason).as_dict()
        scrubbed = _RAW_USER_ID.sub(self._scrub_match, body[:MAX_DEAD_LETTER_BYTES])
        record = {
            "reason": "invalid_body",
            "errors": [error],
            "raw": scrubbed.decode("utf-8", errors="replace"),
        }
        await self._sink.send([self._dead_letter_message(None, record)])
        return IngestResult(rejected=[Rejection(0, [error])])

    def _scrub_match(self, match: re.Match[bytes]) -> bytes:
        pseudonym = self._pseudonymize(match.group(2).decode("utf-8", errors="replace"))
        return b'"user_key": "' + pseudonym.encode() + b'", "user_id_removed": true'

    def _dead_letter(self, item: Any, errors: list[dict[str, object]], index: int) -> Message:
        payload, user_key = self._scrub(item)
        record = {
            "reason": "validation_failed",
            "errors": errors,
            "index": index,
            "payload": payload,
        }
        return self._dead_letter_message(user_key, record)

    def _scrub(self, item: Any) -> tuple[Any, str | None]:
        """Replace a raw user id in a rejected payload by its pseudonym."""
        if not isinstance(item, dict) or "user_id" not in item:
            return item, None
        clean = {k: v for k, v in item.items() if k != "user_id"}
        raw = item["user_id"]
        user_key = self._pseudonymize(raw) if isinstance(raw, str) and raw else None
        clean["user_key"] = user_key
        clean["user_id_removed"] = True
        return clean, user_key

    def _dead_letter_message(self, user_key: str | None, record: dict[str, Any]) -> Message:
        record = {"source": "api", "received_at": datetime.now(UTC).isoformat(), **record}
        value = orjson.dumps(record, default=str)
        return Message(self._topics.dead_letter, user_key.encode() if user_key else None, value)
