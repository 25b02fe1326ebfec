"""Roll-up arithmetic and the database writer's store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from kairos.db.models import InteractionRecord, Performance, UserProfile
from kairos.persist import store
from kairos.persist.rollup import aggregate, bucket_of, combination_of, keys_for
from kairos.stream import state
from kairos.stream.decay import Decayed
from kairos.stream.features import UserFeatures
from kairos.stream.records import AdRef, Counts, Interaction
from kairos.stream.state import UserState

KEY = "d" * 32
T = datetime(2026, 11, 2, 10, 15, 30, tzinfo=UTC)
AD = AdRef(
    decision_id="d1",
    campaign_id="c1",
    ad_id="a1",
    creative_id="cr1",
    placement_id="p1",
    elements={"headline": "h1", "cta": "c2"},
)


def interaction(event_id: str, ts: datetime = T, **counts: float) -> Interaction:
    return Interaction(
        event_id=event_id,
        event_type="impression",
        user_key=KEY,
        ts=ts,
        ad=AD,
        counts=msgspec.convert(counts, Counts),
    )


def test_an_interaction_adds_to_its_ad_total_and_each_element_per_grain() -> None:
    keys = keys_for(interaction("e1", impressions=1))
    totals = [k for k in keys if k.slot == ""]
    elements = sorted((k.grain, k.slot, k.variant) for k in keys if k.slot)
    assert [(k.grain, k.bucket, k.combination) for k in totals] == [
        ("minute", datetime(2026, 11, 2, 10, 15, tzinfo=UTC), "cta=c2|headline=h1"),
        ("hour", datetime(2026, 11, 2, 10, 0, tzinfo=UTC), "cta=c2|headline=h1"),
    ]
    assert elements == [
        ("hour", "cta", "c2"),
        ("hour", "headline", "h1"),
        ("minute", "cta", "c2"),
        ("minute", "headline", "h1"),
    ]
    assert all(k.campaign_id == "c1" and k.flight_id == "" for k in keys)


def test_long_combinations_stay_within_the_column_and_distinct() -> None:
    many = {f"slot{i:02d}": "v" * 30 for i in range(30)}
    other = many | {"slot00": "w" * 30}
    assert len(combination_of(many)) <= 512
    assert combination_of(many) != combination_of(other)


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 7200))))
def test_aggregation_preserves_every_count(items: list[tuple[int, int, int]]) -> None:
    batch = [
        interaction(f"e{n}", T + timedelta(seconds=s), impressions=i, clicks=c)
        for n, (i, c, s) in enumerate(items)
    ]
    rows = aggregate(batch)
    for grain in ("minute", "hour"):
        ad_rows = [c for k, c in rows.items() if k.grain == grain and k.slot == ""]
        assert sum(c.impressions for c in ad_rows) == sum(i for i, _, _ in items)
        assert sum(c.clicks for c in ad_rows) == sum(c for _, c, _ in items)
    assert bucket_of(T, 60).second == 0


def test_state_encoding_reuses_the_features_bytes_exactly() -> None:
    user = UserState(
        features=UserFeatures(user_key=KEY, events=3, interests={"eco": Decayed(1.5, 10.0)}),
        seen={"page_view:x": 1.0},
    )
    features = msgspec.json.encode(user.features)
    assert state.encode_with(user, features) == state.encode(user)
    assert state.decode(state.encode(user)) == user


# -- the store, on both databases --------------------------------------------------------------


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def write(engine: Engine, batch: list[Interaction], offsets: dict[tuple[str, int], int]) -> int:
    with Session(engine) as session, session.begin():
        return store.write_batch(session, "g", batch, [], offsets)


def performance(engine: Engine) -> tuple[int, int, float]:
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.sum(Performance.impressions),
                func.sum(Performance.clicks),
                func.sum(Performance.spend),
            ).where(Performance.grain == "minute", Performance.slot == "")
        ).one()
    return int(row[0] or 0), int(row[1] or 0), float(row[2] or 0)


def test_writing_the_same_interactions_twice_counts_them_once(engine: Engine) -> None:
    batch = [
        interaction("e1", impressions=1, spend=0.25),
        interaction("e2", clicks=1),
        interaction("e1", impressions=1, spend=0.25),  # the same event within a batch
    ]
    assert write(engine, batch, {("t", 0): 3}) == 2
    assert performance(engine) == (1, 1, 0.25)
    assert write(engine, [*batch[:2], interaction("e3", impressions=1)], {("t", 0): 6}) == 1
    assert performance(engine) == (2, 1, 0.25)
    with Session(engine) as session:
        assert store.stored_offsets(session, "g") == {("t", 0): 6}
        assert session.scalar(select(func.count()).select_from(InteractionRecord)) == 3
        element = session.scalars(
            select(Performance).where(Performance.grain == "hour", Performance.slot == "headline")
        ).one()
    assert (element.variant, element.impressions, element.clicks) == ("h1", 2, 1)


def test_profiles_follow_the_newest_features_and_keep_the_first_sighting(engine: Engine) -> None:
    older = UserFeatures(
        user_key=KEY,
        first_seen=T,
        last_seen=T,
        events=1,
        interests={"eco": Decayed(1.0, T.timestamp())},
    )
    newer = UserFeatures(
        user_key=KEY,
        first_seen=T,
        last_seen=T + timedelta(hours=1),
        events=4,
        personalization=True,
        interests={"eco": Decayed(2.0, T.timestamp()), "travel": Decayed(1.0, T.timestamp())},
    )
    for batch in ([older, newer], [older]):  # a late, older record does not roll it back
        with Session(engine) as session, session.begin():
            store.write_batch(session, "g", [], batch, {})
    with Session(engine) as session:
        profile = session.get(UserProfile, KEY)
    assert profile is not None
    assert profile.event_count == 4
    assert profile.consent_personalization is True
    assert profile.first_seen.replace(tzinfo=UTC) == T
    assert set(profile.interests) == {"eco", "travel"}


def test_retention_deletes_only_old_history(engine: Engine) -> None:
    old, new = T - timedelta(days=100), T
    write(engine, [interaction("old", old, impressions=1), interaction("new", new)], {})
    with Session(engine) as session, session.begin():
        assert store.delete_history_before(session, T - timedelta(days=90)) == 1
    with Session(engine) as session:
        left = session.scalars(select(InteractionRecord.event_id)).all()
    assert left == ["new"]
    assert performance(engine)[0] == 1  # roll-ups outlive the raw history
