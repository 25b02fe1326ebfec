from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import orjson

from kairos.domain import codec
from kairos.domain.decisions import Decision
from kairos.domain.events import BaseEvent, Click, Impression, PageView, Search
from kairos.featurestore import MemoryFeatureStore
from kairos.stream.processor import EventProcessor, Output, features_record
from kairos.stream.records import Interaction
from kairos.stream.state import UserState

KEY = "b" * 32
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class DictStore:
    """The runtime's StateStore contract, in a dict."""

    def __init__(self) -> None:
        self.users: dict[str, UserState] = {}
        self.dirty: set[str] = set()
        self.timers: dict[str, float] = {}

    def get(self, user_key: str) -> UserState | None:
        return self.users.get(user_key)

    def put(self, user_key: str, value: UserState) -> None:
        self.users[user_key] = value
        self.dirty.add(user_key)

    def schedule(self, user_key: str, at: float) -> None:
        self.timers[user_key] = min(at, self.timers.get(user_key, at))


def wire(event: BaseEvent) -> bytes:
    return codec.encode(event)


def of_kind(out: list[Output], kind: str) -> list[dict[str, object]]:
    return [orjson.loads(o.value) for o in out if o.kind == kind]


def test_valid_events_update_features_and_duplicates_do_not() -> None:
    step, store, out = EventProcessor(), DictStore(), []
    view = PageView(
        event_id="e1",
        user_key=KEY,
        ts=NOW,
        received_at=NOW,
        page_url="https://s.example/outdoor/tent",
        product_ids=["t1"],
    )
    assert step.event(wire(view), store, out) == "processed"
    assert step.event(wire(view), store, out) == "duplicate"  # the same id and type again
    later = Search(
        event_id="e1",
        user_key=KEY,
        ts=NOW + timedelta(minutes=1),
        received_at=NOW + timedelta(minutes=1),
        query="tent",
    )  # same id, other type
    assert step.event(wire(later), store, out) == "processed"
    memory = MemoryFeatureStore()
    memory.put(KEY, features_record(store.users[KEY]))
    features = memory.get(KEY)
    assert features is not None
    assert features.events == 2
    assert features.viewed == ["t1"]
    assert features.searches == ["tent"]
    assert features.session_depth == 2
    history = of_kind(out, "interaction")
    assert [h["event_type"] for h in history] == ["page_view", "search"]
    assert history[0]["category"] == "outdoor"
    assert all(o.key == KEY.encode() for o in out)


def test_bad_messages_become_dead_letters() -> None:
    step, store, out = EventProcessor(), DictStore(), []
    assert step.event(b"{not json", store, out) == "dead_letter"
    stale = PageView(user_key=KEY, ts=NOW - timedelta(days=30), received_at=NOW)
    assert step.event(wire(stale), store, out) == "dead_letter"
    assert step.decision(b"[1, 2]", store, out) == "dead_letter"
    reasons = [d["reason"] for d in of_kind(out, "dead_letter")]
    assert reasons == ["invalid_event", "refused", "invalid_decision"]
    assert store.users == {}  # nothing counted


def test_impression_click_and_window_close_give_labels_and_counts() -> None:
    step, store, out = EventProcessor(), DictStore(), []
    decision = Decision(
        decision_id="d1",
        ts=NOW,
        user_key=KEY,
        campaign_id="c1",
        ad_id="a1",
        elements={"headline": "h2"},
        propensity=0.25,
        model_version="m7",
        features={"interest.eco": 0.4},
    )
    step.decision(msgspec.json.encode(decision), store, out)
    shown = Impression(
        event_id="i1", user_key=KEY, ts=NOW, received_at=NOW, decision_id="d1", cost=0.002
    )
    shown2 = Impression(
        event_id="i2", user_key=KEY, ts=NOW, received_at=NOW, decision_id="d2", ad_id="a2"
    )
    for event in (shown, shown2):
        step.event(wire(event), store, out)
    at = NOW + timedelta(minutes=3)
    click = Click(event_id="k1", user_key=KEY, ts=at, received_at=at, decision_id="d1")
    step.event(wire(click), store, out)
    (positive,) = of_kind(out, "example")
    assert positive["label"] == 1
    assert positive["delay_s"] == 180.0
    assert positive["propensity"] == 0.25
    assert positive["model_version"] == "m7"
    assert positive["features"] == {"interest.eco": 0.4}
    assert positive["elements"] == {"headline": "h2"}
    history = [msgspec.convert(h, Interaction) for h in of_kind(out, "interaction")]
    assert [h.counts.impressions for h in history] == [1, 1, 0]
    assert history[0].counts.spend == 0.002
    assert history[2].counts.clicks == 1
    assert store.timers[KEY] == (NOW + timedelta(minutes=30)).timestamp()
    out.clear()
    step.expire(KEY, store, (NOW + timedelta(minutes=31)).timestamp(), out)
    (negative,) = of_kind(out, "example")
    assert (negative["decision_id"], negative["label"]) == ("d2", 0)
    assert "interest.eco" not in negative["features"]  # no decision record: a snapshot
    assert negative["features"]["user_key"] == KEY


def test_idle_users_leave_the_state_with_tombstones_unless_they_come_back() -> None:
    from kairos.stream.partition import PartitionState

    partition = PartitionState(0)
    step, out = EventProcessor(), []
    for n, key in enumerate(("a" * 32, "b" * 32)):
        at = NOW + timedelta(days=n * 40)  # a: 40 days before b
        step.event(wire(PageView(user_key=key, ts=at, received_at=at)), partition, out)
    partition.dirty.clear()
    cutoff = (NOW + timedelta(days=40) - timedelta(days=30)).timestamp()
    assert partition.evict_idle(cutoff) == 1
    assert set(partition.users) == {"b" * 32}
    assert partition.evicted == {"a" * 32}
    later = NOW + timedelta(days=41)  # a comes back before the commit: no tombstone for a
    step.event(wire(PageView(user_key="a" * 32, ts=later, received_at=later)), partition, out)
    assert partition.evicted == set()
    assert partition.users["a" * 32].features.events == 1  # a fresh start
