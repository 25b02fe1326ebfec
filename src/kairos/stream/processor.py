"""The per-event step of the stream: decode → clean → de-duplicate → enrich → features.

Works on one user's state (anything with `get`/`set`, e.g. the stream library's state store or
a dict in tests) and returns what to publish. Never raises on bad input: a message that cannot
be used becomes a dead-letter record with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
import orjson

from kairos.domain import codec
from kairos.domain.codec import InvalidEvent
from kairos.stream.clean import CleaningRules, Refused, clean
from kairos.stream.enrich import (
    GeoLookup,
    Session,
    device_of,
    local_time,
    next_session,
    no_geo,
    page_context,
)
from kairos.stream.features import Enriched, FeatureConfig, UserFeatures, observe

_FEATURES = msgspec.json.Decoder(UserFeatures)
_SESSION = msgspec.json.Decoder(Session)
_ENCODER = msgspec.json.Encoder()


class StateLike(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, ttl: timedelta | None = None) -> None: ...


@dataclass(frozen=True)
class Output:
    """A record to publish: `kind` names the destination topic."""

    kind: str  # "features" | "dead_letter"
    value: bytes


@dataclass(frozen=True)
class StreamConfig:
    rules: CleaningRules = field(default_factory=CleaningRules)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    dedup_horizon: timedelta = timedelta(hours=24)


class EventProcessor:
    def __init__(self, config: StreamConfig | None = None, geo: GeoLookup = no_geo) -> None:
        self.config = config or StreamConfig()
        self._geo = geo

    def __call__(self, value: bytes, state: StateLike) -> list[Output]:
        try:
            event = codec.decode(value)
        except InvalidEvent as exc:
            return [_dead(value, "invalid_event", exc.error.as_dict())]
        cleaned = clean(event, self.config.rules)
        if isinstance(cleaned, Refused):
            return [_dead(value, "refused", {"msg": cleaned.reason})]
        if not self._first_time(cleaned.event_id, cleaned.event_type.value, state):
            return []  # a duplicate: counted once already
        ts = cleaned.ts or cleaned.received_at or datetime.now(UTC)
        key = cleaned.user_key or ""
        previous = state.get("session")
        session = next_session(_SESSION.decode(previous) if previous else None, ts, key)
        state.set("session", _ENCODER.encode(session).decode())
        page = page_context(
            cleaned.page_url,
            getattr(cleaned, "title", None),
            tuple(getattr(cleaned, "categories", ())),  # hashable: page contexts are cached
            tuple(getattr(cleaned, "keywords", ())),
        )
        item = Enriched(
            cleaned,
            device_of(cleaned.user_agent),
            page,
            local_time(ts, cleaned.timezone),
            session,
            self._geo(cleaned.ip),
        )
        stored = state.get("features")
        features = _FEATURES.decode(stored) if stored else UserFeatures(user_key=key)
        observe(features, item, self.config.features)
        encoded = _ENCODER.encode(features)
        state.set("features", encoded.decode())
        return [Output("features", encoded)]

    def _first_time(self, event_id: str, kind: str, state: StateLike) -> bool:
        """One small state entry per (type, id), expiring after the horizon."""
        marker = f"seen:{kind}:{event_id}"
        if state.get(marker) is not None:
            return False
        state.set(marker, 1, ttl=self.config.dedup_horizon)
        return True


def _dead(value: bytes, reason: str, error: dict[str, object]) -> Output:
    record = {
        "source": "stream",
        "reason": reason,
        "errors": [error],
        "received_at": datetime.now(UTC).isoformat(),
        "raw": value[:65536].decode("utf-8", errors="replace"),
    }
    return Output("dead_letter", orjson.dumps(record))
