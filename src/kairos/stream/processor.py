"""The per-message step of the stream: decode → clean → de-duplicate → enrich → features,
labels and an interaction record.

Works on per-user state through a small `StateStore` interface (the runtime's in-memory,
changelogged store, or a dict in tests) and appends what to publish to `out`. Never raises on
bad input: a message that cannot be used becomes a dead-letter record with the reason.
Features are not published per event: the runtime publishes each changed user's features
once per commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgspec
import orjson

from kairos.domain import codec
from kairos.domain.codec import InvalidEvent
from kairos.domain.decisions import Decision
from kairos.domain.events import BaseEvent, Click, Conversion, Impression
from kairos.domain.examples import LabelledExample
from kairos.stream import labels, state
from kairos.stream.clean import CleaningRules, Refused, clean
from kairos.stream.enrich import (
    GeoLookup,
    device_of,
    local_time,
    next_session,
    no_geo,
    page_context,
)
from kairos.stream.features import Enriched, FeatureConfig, UserFeatures, observe, snapshot
from kairos.stream.labels import LabelConfig, Outcome
from kairos.stream.records import Interaction
from kairos.stream.state import UserState

_ENCODER = msgspec.json.Encoder()
_DECISION = msgspec.json.Decoder(Decision)


class StateStore(Protocol):
    def get(self, user_key: str) -> UserState | None: ...

    def put(self, user_key: str, value: UserState) -> None:
        """Store and mark changed: its features and changelog go out at the next commit."""

    def schedule(self, user_key: str, at: float) -> None:
        """Call `expire` for this user once the stream's clock reaches `at` (epoch seconds)."""


@dataclass(frozen=True)
class Output:
    """A record to publish: `kind` names the destination topic."""

    kind: str  # "dead_letter" | "interaction" | "example"
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class StreamConfig:
    rules: CleaningRules = field(default_factory=CleaningRules)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    # client retries come within minutes; the ids stay in the user's state (and changelog)
    # for this long, so it is kept short
    dedup_horizon: timedelta = timedelta(hours=1)


class EventProcessor:
    def __init__(self, config: StreamConfig | None = None, geo: GeoLookup = no_geo) -> None:
        self.config = config or StreamConfig()
        self._geo = geo

    def event(self, value: bytes, store: StateStore, out: list[Output]) -> str:
        """One interaction event. Returns the outcome: processed | duplicate | dead_letter."""
        try:
            event = codec.decode(value)
        except InvalidEvent as exc:
            out.append(dead_letter(value, "invalid_event", exc.error.as_dict()))
            return "dead_letter"
        cleaned = clean(event, self.config.rules)
        if isinstance(cleaned, Refused):
            out.append(dead_letter(value, "refused", {"msg": cleaned.reason}))
            return "dead_letter"
        key = cleaned.user_key
        assert key is not None, "cleaning guarantees a user key"
        assert cleaned.ts is not None, "cleaning guarantees a timestamp"
        user = store.get(key) or UserState(features=UserFeatures(user_key=key))
        ts = cleaned.ts
        seen_at = (cleaned.received_at or ts).timestamp()
        marker = f"{cleaned.event_type.value}:{cleaned.event_id}"
        if not state.first_time(user, marker, seen_at, self.config.dedup_horizon):
            return "duplicate"
        item = self._enrich(cleaned, user, key)
        observe(user.features, item, self.config.features)
        outcome = self._label(cleaned, user, key)
        store.put(key, user)
        if outcome is not None:
            for example in outcome.examples:
                out.append(_example(example))
            deadline = labels.next_deadline(user.pending, self.config.labels)
            if deadline is not None:
                store.schedule(key, deadline)
        out.append(_interaction(item, outcome))
        return "processed"

    def decision(self, value: bytes, store: StateStore, out: list[Output]) -> str:
        """One decision record: remembered so that its impression's example carries it."""
        try:
            decision = _DECISION.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            out.append(dead_letter(value, "invalid_decision", {"msg": str(exc)}))
            return "dead_letter"
        key = decision.user_key
        if key is None or decision.no_fill:
            return "processed"  # nothing will be shown to a known user: nothing to join
        user = store.get(key) or UserState(features=UserFeatures(user_key=key))
        for example in labels.on_decision(user.pending, decision, key, self.config.labels):
            out.append(_example(example))
        store.put(key, user)
        deadline = labels.next_deadline(user.pending, self.config.labels)
        if deadline is not None:
            store.schedule(key, deadline)
        return "processed"

    def expire(self, user_key: str, store: StateStore, now: float, out: list[Output]) -> None:
        """Close the user's attribution windows that ended by `now` (stream time)."""
        user = store.get(user_key)
        if user is None or not user.pending:
            return
        examples = labels.expire(user.pending, user_key, now, self.config.labels)
        for example in examples:
            out.append(_example(example))
        if examples or not user.pending:
            store.put(user_key, user)
        deadline = labels.next_deadline(user.pending, self.config.labels)
        if deadline is not None:
            store.schedule(user_key, deadline)

    def _enrich(self, event: BaseEvent, user: UserState, key: str) -> Enriched:
        ts = event.ts
        assert ts is not None
        user.session = next_session(user.session, ts, key)
        page = page_context(
            event.page_url,
            getattr(event, "title", None),
            tuple(getattr(event, "categories", ())),  # hashable: page contexts are cached
            tuple(getattr(event, "keywords", ())),
        )
        return Enriched(
            event,
            device_of(event.user_agent),
            page,
            local_time(ts, event.timezone),
            user.session,
            self._geo(event.ip),
        )

    def _label(self, event: BaseEvent, user: UserState, key: str) -> Outcome | None:
        config = self.config.labels
        match event:
            case Impression():
                ts = event.ts
                assert ts is not None

                def now_features() -> dict[str, object]:
                    return snapshot(user.features, ts, self.config.features)

                return labels.on_impression(user.pending, event, key, now_features, config)
            case Click():
                return labels.on_click(user.pending, event, key, config)
            case Conversion():
                return labels.on_conversion(user.pending, event, key, config)
            case _:
                return None


def features_record(user: UserState) -> bytes:
    """What the compacted features topic (and so the feature store) holds for a user."""
    return _ENCODER.encode(user.features)


def _interaction(item: Enriched, outcome: Outcome | None) -> Output:
    event = item.event
    assert event.ts is not None
    assert event.user_key is not None
    record = Interaction(
        event_id=event.event_id,
        event_type=event.event_type.value,
        user_key=event.user_key,
        ts=event.ts,
        session_id=item.session.id,
        page_url=event.page_url,
        category=item.page.category,
        device=item.device.type,
        os=item.device.os,
        browser=item.device.browser,
        country=item.geo.country,
        region=item.geo.region,
        local_hour=item.local.hour,
        weekday=item.local.weekday,
        value=_value_of(event),
        product_ids=list(getattr(event, "product_ids", ()) or ()),
    )
    if outcome is not None:
        record.ad, record.attribution, record.counts = (
            outcome.ad,
            outcome.attribution,
            outcome.counts,
        )
    return Output("interaction", event.user_key.encode(), _ENCODER.encode(record))


def _value_of(event: BaseEvent) -> float | None:
    if isinstance(event, Conversion):
        return event.value
    if isinstance(event, Impression | Click):
        return event.cost
    price = getattr(event, "price", None)
    return price * getattr(event, "quantity", 1) if price is not None else None


def _example(example: LabelledExample) -> Output:
    return Output("example", example.user_key.encode(), _ENCODER.encode(example))


def dead_letter(value: bytes, reason: str, error: dict[str, object]) -> Output:
    record = {
        "source": "stream",
        "reason": reason,
        "errors": [error],
        "received_at": datetime.now(UTC).isoformat(),
        "raw": value[:65536].decode("utf-8", errors="replace"),
    }
    return Output("dead_letter", None, orjson.dumps(record))
