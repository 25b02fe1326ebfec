"""The one wire format of events on Kafka: compact JSON, keyed by the pseudonymous user id."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from kairos.domain.events import INBOUND, WIRE, BaseEvent, Event

_EVENT: TypeAdapter[Any] = TypeAdapter(Event)
_WIRE_CONTEXT = {"side": WIRE}
_INBOUND_CONTEXT = {"side": INBOUND}


class WireInvariantError(ValueError):
    """An event that must not go on the wire, e.g. one that still carries a raw user id."""


def encode(event: BaseEvent) -> bytes:
    """JSON bytes of a wire event. Refuses events that are not pseudonymised."""
    if event.user_id is not None or event.user_key is None:
        raise WireInvariantError("only pseudonymised events (user_key, no user_id) go on the wire")
    return event.model_dump_json(exclude_none=True, exclude_defaults=False).encode()


def key_of(event: BaseEvent) -> bytes:
    """Kafka message key: the pseudonymous user id, so one user's events share a partition."""
    if event.user_key is None:
        raise WireInvariantError("event has no user_key")
    return event.user_key.encode()


def decode(data: bytes | str) -> BaseEvent:
    """Parse an event read from Kafka; raises pydantic.ValidationError on a bad one."""
    event: BaseEvent = _EVENT.validate_json(data, context=_WIRE_CONTEXT)
    return event


def parse_inbound(item: Any) -> BaseEvent:
    """Validate one event as a client sent it (already JSON-decoded)."""
    event: BaseEvent = _EVENT.validate_python(item, context=_INBOUND_CONTEXT)
    return event
