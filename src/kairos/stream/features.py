"""Real-time per-user features, the input of the models, updated one event at a time.

`UserFeatures` is the state kept per pseudonymous user (msgspec, so it travels as compact JSON
on the compacted features topic); `observe` folds an enriched event into it; `snapshot` reads
the model-facing view at a given time (decayed interests, window counts, recency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from msgspec import Struct, field

from kairos.domain.events import (
    AddToCart,
    BaseEvent,
    Click,
    Conversion,
    EventType,
    Impression,
    PageView,
    Search,
)
from kairos.stream import decay
from kairos.stream.decay import Decayed
from kairos.stream.enrich import (
    NO_GEO,
    Device,
    Geo,
    LocalTime,
    PageContext,
    Session,
    local_time,
)
from kairos.stream.windows import Buckets


@dataclass(frozen=True)
class FeatureConfig:
    interest_half_life: timedelta = timedelta(days=3)
    windows: tuple[timedelta, ...] = (
        timedelta(minutes=5),
        timedelta(hours=1),
        timedelta(hours=24),
    )
    recent_products: int = 20
    recent_searches: int = 10
    max_interests: int = 50
    max_keywords: int = 100
    max_elements: int = 500

    @property
    def half_life_s(self) -> float:
        return self.interest_half_life.total_seconds()


# how much each interaction says about an interest in the page's category and keywords
INTEREST_WEIGHTS = {
    EventType.PAGE_VIEW: 1.0,
    EventType.SEARCH: 2.0,
    EventType.CLICK: 3.0,
    EventType.ADD_TO_CART: 4.0,
    EventType.CONVERSION: 6.0,
}


@dataclass(frozen=True)
class Enriched:
    """An event with what the stream learnt about it."""

    event: BaseEvent
    device: Device
    page: PageContext
    local: LocalTime
    session: Session
    geo: Geo = NO_GEO


class UserFeatures(Struct, kw_only=True, gc=False):
    user_key: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    personalization: bool = False
    device: str | None = None
    os: str | None = None
    browser: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None  # IANA name, last known: local time of day for the models
    session_id: str | None = None
    session_started: datetime | None = None
    session_depth: int = 0
    interests: dict[str, Decayed] = field(default_factory=dict)
    keywords: dict[str, Decayed] = field(default_factory=dict)
    viewed: list[str] = field(default_factory=list)  # most recent first
    carted: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    counts: dict[str, Buckets] = field(default_factory=dict)  # by event type
    element_impressions: dict[str, int] = field(default_factory=dict)  # "slot=variant"
    element_clicks: dict[str, int] = field(default_factory=dict)
    frequency: dict[str, Buckets] = field(default_factory=dict)  # "ad:ID", "campaign:ID", …
    events: int = 0


def observe(features: UserFeatures, item: Enriched, config: FeatureConfig) -> UserFeatures:
    """Fold one cleaned, de-duplicated, enriched event into the user's features (in place)."""
    event = item.event
    ts = event.ts or event.received_at
    assert ts is not None, "cleaning guarantees a timestamp"
    _identity(features, item, ts)
    features.counts.setdefault(event.event_type.value, Buckets()).add(ts)
    _interests(features, item, ts, config)
    match event:
        case PageView():
            _remember(features.viewed, event.product_ids, config.recent_products)
        case AddToCart():
            _remember(features.carted, event.product_ids, config.recent_products)
        case Search():
            _remember(features.searches, [event.query.strip().lower()], config.recent_searches)
        case Impression():
            _count_elements(features.element_impressions, event.elements, config.max_elements)
            for key in _frequency_keys(event):
                features.frequency.setdefault(key, Buckets()).add(ts)
        case Click():
            _count_elements(features.element_clicks, event.elements, config.max_elements)
        case Conversion():  # bought: no longer waiting in the cart
            features.carted[:] = [p for p in features.carted if p not in event.product_ids]
        case _:
            pass
    return features


def _identity(features: UserFeatures, item: Enriched, ts: datetime) -> None:
    features.events += 1
    if features.first_seen is None or ts < features.first_seen:
        features.first_seen = ts
    if features.last_seen is None or ts >= features.last_seen:
        features.last_seen = ts
        features.personalization = item.event.consent.personalization
        features.device, features.os = item.device.type, item.device.os
        features.browser = item.device.browser
        if item.geo.country:
            features.country, features.region = item.geo.country, item.geo.region
        if item.event.timezone and item.local.timezone == item.event.timezone:
            features.timezone = item.event.timezone  # a zone that exists
    session = item.session
    features.session_id, features.session_started = session.id, session.started
    features.session_depth = session.depth


def _interests(features: UserFeatures, item: Enriched, ts: datetime, config: FeatureConfig) -> None:
    weight = INTEREST_WEIGHTS.get(item.event.event_type)
    if weight is None:
        return
    hl = config.half_life_s
    if item.page.category:
        cat = item.page.category
        features.interests[cat] = decay.add(features.interests.get(cat), ts, weight, hl)
    words = list(item.page.keywords)
    if isinstance(item.event, Search):
        words += item.event.query.lower().split()
    for word in words:
        features.keywords[word] = decay.add(features.keywords.get(word), ts, weight, hl)
    now = ts.timestamp()
    decay.top(features.interests, now, hl, config.max_interests)
    decay.top(features.keywords, now, hl, config.max_keywords)


def _remember(recent: list[str], items: list[str], keep: int) -> None:
    for value in reversed(items):
        if value in recent:
            recent.remove(value)
        recent.insert(0, value)
    del recent[keep:]


def _count_elements(counts: dict[str, int], elements: dict[str, str], limit: int) -> None:
    for slot, variant in elements.items():
        key = f"{slot}={variant}"
        if key in counts or len(counts) < limit:
            counts[key] = counts.get(key, 0) + 1


def _frequency_keys(event: Impression) -> list[str]:
    pairs = (
        ("ad", event.ad_id),
        ("creative", event.creative_id),
        ("flight", event.flight_id),
        ("campaign", event.campaign_id),
        ("advertiser", event.advertiser_id),
    )
    return [f"{kind}:{value}" for kind, value in pairs if value]


def snapshot(features: UserFeatures, now: datetime, config: FeatureConfig) -> dict[str, object]:
    """The model-facing view at `now`: decayed scores, window counts, recency."""
    hl, t = config.half_life_s, now.timestamp()
    local = local_time(now, features.timezone)
    view: dict[str, object] = {
        "user_key": features.user_key,
        "personalization": features.personalization,
        "device": features.device,
        "os": features.os,
        "browser": features.browser,
        "country": features.country,
        "session_depth": features.session_depth,
        "local_hour": local.hour,  # in the visitor's time zone when known, else UTC
        "weekday": local.weekday,
        "recency_s": (now - features.last_seen).total_seconds() if features.last_seen else None,
        "viewed": list(features.viewed),
        "carted": list(features.carted),
        "searches": list(features.searches),
        "element_clicks": dict(features.element_clicks),
    }
    for name, score in features.interests.items():
        view[_name("interest.", name)] = round(score.value_at(t, hl), 6)
    for name, score in features.keywords.items():
        view[_name("keyword.", name)] = round(score.value_at(t, hl), 6)
    epoch = int(t)
    windows = _windows(config.windows)
    for kind, buckets in features.counts.items():
        for label, seconds in windows:
            view[_name(_name("count.", kind), label)] = buckets.count_at(epoch, seconds)
    return view


@lru_cache(maxsize=65_536)
def _name(prefix: str, name: str) -> str:
    return prefix + name  # feature names repeat across users: build each once


@lru_cache(maxsize=16)
def _windows(windows: tuple[timedelta, ...]) -> list[tuple[str, float]]:
    return [(f".{_label(w)}", w.total_seconds()) for w in windows]


def frequency(features: UserFeatures, key: str, now: datetime, window: timedelta) -> int:
    """Impressions of `key` ("ad:ID", "campaign:ID", …) in the window: for frequency caps."""
    buckets = features.frequency.get(key)
    return buckets.count(now, window) if buckets else 0


@lru_cache(maxsize=64)
def _label(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"
