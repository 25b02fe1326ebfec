"""The one wire format of events on Kafka (compact JSON, keyed by the pseudonymous user id),
and the parsing of events as clients send them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from kairos.domain.events import BaseEvent, Event, EventBatch

_ENCODER = msgspec.json.Encoder()
_EVENT = msgspec.json.Decoder(Event)
_BATCH = msgspec.json.Decoder(EventBatch)
_PATH = re.compile(r" - at `\$(.*)`$")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_MISSING = re.compile(r"missing required field `([^`]+)`")


class WireInvariantError(ValueError):
    """An event that must not go on the wire, e.g. one that still carries a raw user id."""


@dataclass(frozen=True)
class FieldError:
    """Why an event was rejected: where (`loc`, a JSON path as a list) and what (`msg`)."""

    loc: tuple[str | int, ...]
    msg: str

    def as_dict(self) -> dict[str, object]:
        return {"loc": list(self.loc), "msg": self.msg}


class InvalidEvent(ValueError):
    def __init__(self, error: FieldError) -> None:
        super().__init__(error.msg)
        self.error = error


def field_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> FieldError:
    """Turn msgspec's "Expected `int`, got `str` - at `$.quantity`" into a located error."""
    text = str(exc)
    match = _PATH.search(text)
    loc: tuple[str | int, ...] = ()
    if match is not None:
        loc = tuple(int(idx) if idx else name for name, idx in _SEGMENT.findall(match.group(1)))
        text = text[: match.start()]
    missing = _MISSING.search(text)
    if missing is not None:  # point at the missing field itself
        loc = (*loc, missing.group(1))
    return FieldError(loc, text)


def encode(event: BaseEvent) -> bytes:
    """JSON bytes of a wire event. Refuses events that are not pseudonymised."""
    if event.user_id is not None or event.user_key is None:
        raise WireInvariantError("only pseudonymised events (user_key, no user_id) go on the wire")
    return _ENCODER.encode(event)


def encode_many(events: Sequence[BaseEvent]) -> list[bytes]:
    """`encode` for a batch, in one call (newlines are always escaped inside JSON values)."""
    for event in events:
        if event.user_id is not None or event.user_key is None:
            raise WireInvariantError("only pseudonymised events go on the wire")
    if not events:
        return []
    return _ENCODER.encode_lines(events).rstrip(b"\n").split(b"\n")


def key_of(event: BaseEvent) -> bytes:
    """Kafka message key: the pseudonymous user id, so one user's events share a partition."""
    if event.user_key is None:
        raise WireInvariantError("event has no user_key")
    return event.user_key.encode()


def decode(data: bytes | str) -> BaseEvent:
    """Parse an event read from Kafka; raises InvalidEvent on a bad one."""
    try:
        event: BaseEvent = _EVENT.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidEvent(field_error(exc)) from exc
    if event.user_key is None or event.user_id is not None:
        raise InvalidEvent(
            FieldError(("user_key",), "a wire event carries user_key, never user_id")
        )
    return event


def parse_inbound(item: bytes) -> BaseEvent:
    """Validate one event as a client sent it (its JSON bytes)."""
    try:
        event: BaseEvent = _EVENT.decode(item)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidEvent(field_error(exc)) from exc
    check_inbound(event)
    return event


def parse_inbound_batch(body: bytes) -> list[BaseEvent]:
    """Fast path: a whole batch body validated in one call; raises on the first bad event."""
    events: list[BaseEvent] = list(_BATCH.decode(body).events)
    for event in events:
        check_inbound(event)
    return events


def check_inbound(event: BaseEvent) -> None:
    if event.user_id is None:
        raise InvalidEvent(FieldError(("user_id",), "user_id is required"))
    if event.user_key is not None or event.received_at is not None:
        raise InvalidEvent(
            FieldError(("user_key",), "user_key and received_at are set by the server")
        )
