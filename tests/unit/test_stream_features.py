from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from kairos.domain.events import (
    AddToCart,
    BaseEvent,
    Click,
    Consent,
    Conversion,
    Impression,
    PageView,
    Search,
)
from kairos.stream.enrich import device_of, local_time, next_session, page_context
from kairos.stream.features import (
    Enriched,
    FeatureConfig,
    UserFeatures,
    frequency,
    observe,
    snapshot,
)

KEY = "a" * 32
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONFIG = FeatureConfig(interest_half_life=timedelta(hours=1), recent_products=3)


def enrich(event: BaseEvent, session_of: dict[str, object]) -> Enriched:
    ts = event.ts or T0
    session = next_session(session_of.get("s"), ts, KEY)  # type: ignore[arg-type]
    session_of["s"] = session
    return Enriched(
        event,
        device_of(event.user_agent),
        page_context(event.page_url),
        local_time(ts, event.timezone),
        session,
    )


def play(events: list[BaseEvent]) -> UserFeatures:
    features = UserFeatures(user_key=KEY)
    sessions: dict[str, object] = {}
    for event in events:
        observe(features, enrich(event, sessions), CONFIG)
    return features


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_visit_becomes_features() -> None:
    consent = Consent(personalization=True)
    features = play(
        [
            PageView(
                user_key=KEY,
                ts=at(0),
                page_url="https://s.example/eco/bamboo-brush",
                product_ids=["p1"],
                consent=consent,
            ),
            PageView(
                user_key=KEY,
                ts=at(1),
                page_url="https://s.example/eco/solar-lamp",
                product_ids=["p2"],
                consent=consent,
            ),
            Search(user_key=KEY, ts=at(2), query="Solar Charger", consent=consent),
            AddToCart(user_key=KEY, ts=at(3), product_ids=["p2"], consent=consent),
            PageView(
                user_key=KEY,
                ts=at(4),
                page_url="https://s.example/travel/lisbon",
                product_ids=["p3", "p4"],
                consent=consent,
            ),
            Impression(
                user_key=KEY,
                ts=at(5),
                decision_id="d1",
                ad_id="ad1",
                campaign_id="c1",
                elements={"headline": "h2"},
                consent=consent,
            ),
            Click(
                user_key=KEY,
                ts=at(6),
                decision_id="d1",
                elements={"headline": "h2"},
                page_url="https://s.example/eco/offer",
                consent=consent,
            ),
        ]
    )
    view = snapshot(features, at(6), CONFIG)
    assert view["personalization"] is True
    assert view["viewed"] == ["p3", "p4", "p2"]  # most recent first, capped at 3
    assert view["carted"] == ["p2"]
    assert view["searches"] == ["solar charger"]
    assert view["count.page_view.5m"] == 1  # minutes 2..6 hold only the Lisbon page
    assert view["count.page_view.1h"] == 3
    assert view["element_clicks"] == {"headline=h2": 1}
    assert features.element_impressions == {"headline=h2": 1}
    assert view["session_depth"] == 7
    assert view["recency_s"] == 0.0
    eco, travel = view["interest.eco"], view["interest.travel"]
    assert isinstance(eco, float)
    assert isinstance(travel, float)
    assert eco > travel > 0
    assert frequency(features, "ad:ad1", at(6), timedelta(hours=1)) == 1
    assert frequency(features, "campaign:c1", at(6), timedelta(days=1)) == 1
    assert frequency(features, "ad:other", at(6), timedelta(days=1)) == 0


def test_conversion_empties_the_cart_of_what_was_bought() -> None:
    features = play(
        [
            AddToCart(user_key=KEY, ts=at(0), product_ids=["p1"]),
            AddToCart(user_key=KEY, ts=at(1), product_ids=["p2"]),
            Conversion(user_key=KEY, ts=at(2), value=10.0, product_ids=["p1"]),
        ]
    )
    assert features.carted == ["p2"]


def test_interest_decays_with_the_half_life() -> None:
    features = play([PageView(user_key=KEY, ts=at(0), page_url="https://s.example/eco/x")])
    assert snapshot(features, at(0), CONFIG)["interest.eco"] == 1.0
    assert snapshot(features, at(60), CONFIG)["interest.eco"] == 0.5


def test_features_survive_the_wire() -> None:
    features = play(
        [
            PageView(user_key=KEY, ts=at(0), page_url="https://s.example/eco/x", product_ids=["p"]),
            Impression(user_key=KEY, ts=at(1), decision_id="d", ad_id="a"),
        ]
    )
    data = msgspec.json.encode(features)
    back = msgspec.json.decode(data, type=UserFeatures)
    assert back == features
    assert snapshot(back, at(2), CONFIG) == snapshot(features, at(2), CONFIG)


def test_the_snapshot_tells_the_visitors_local_time_when_their_zone_is_known() -> None:
    unknown = play([PageView(user_key=KEY, ts=at(0))])
    view = snapshot(unknown, at(0), CONFIG)
    assert (view["local_hour"], view["weekday"]) == (12, 6)  # UTC: Sunday noon
    tokyo = play([PageView(user_key=KEY, ts=at(0), timezone="Asia/Tokyo")])
    assert tokyo.timezone == "Asia/Tokyo"
    view = snapshot(tokyo, at(0), CONFIG)
    assert (view["local_hour"], view["weekday"]) == (21, 6)  # 21:00 in Tokyo
    bogus = play([PageView(user_key=KEY, ts=at(0), timezone="Mars/Olympus")])
    assert bogus.timezone is None  # an unknown zone is not remembered
