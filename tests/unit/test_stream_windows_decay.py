from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kairos.stream import decay
from kairos.stream.windows import Buckets

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
HOUR = 3600.0


def test_counts_per_window() -> None:
    buckets = Buckets()
    for minutes in (0, 10, 50, 58, 59):
        buckets.add(T0 + timedelta(minutes=minutes))
    now = T0 + timedelta(minutes=59, seconds=30)
    assert buckets.count(now, timedelta(minutes=5)) == 2  # minutes 55..59
    assert buckets.count(now, timedelta(hours=1)) == 5
    assert buckets.count(now + timedelta(hours=3), timedelta(hours=1)) == 0
    assert buckets.count(now + timedelta(hours=3), timedelta(hours=24)) == 5


@given(st.lists(st.integers(0, 3 * 24 * 60), max_size=80), st.integers(0, 2 * 24 * 60))
def test_window_counts_are_exact_at_their_resolution(minutes: list[int], later: int) -> None:
    buckets = Buckets()
    for m in sorted(minutes):
        buckets.add(T0 + timedelta(minutes=m))
    at = max(minutes, default=0) + later  # features are read at or after the latest event
    now = T0 + timedelta(minutes=at)
    assert buckets.count(now, timedelta(minutes=5)) == sum(1 for m in minutes if at - 5 < m <= at)
    assert buckets.count(now, timedelta(hours=1)) == sum(1 for m in minutes if at - 60 < m <= at)
    hour = at // 60
    assert buckets.count(now, timedelta(hours=24)) == sum(
        1 for m in minutes if hour - 24 < m // 60 <= hour
    )


@given(
    st.lists(
        st.tuples(st.integers(0, 30 * 24 * 3600), st.floats(0.1, 10)), min_size=1, max_size=30
    ),
    st.randoms(),
)
def test_decay_is_order_independent(events: list[tuple[int, float]], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    half_life = 3 * 24 * HOUR
    a = b = None
    for t, w in events:
        a = decay.add(a, T0 + timedelta(seconds=t), w, half_life)
    for t, w in shuffled:
        b = decay.add(b, T0 + timedelta(seconds=t), w, half_life)
    now = (T0 + timedelta(days=40)).timestamp()
    expected = sum(w * 0.5 ** ((now - (T0.timestamp() + t)) / half_life) for t, w in events)
    assert a is not None
    assert b is not None
    assert math.isclose(a.value_at(now, half_life), expected, rel_tol=1e-9)
    assert math.isclose(b.value_at(now, half_life), expected, rel_tol=1e-9)


def test_half_life_halves_and_top_keeps_the_strongest() -> None:
    score = decay.add(None, T0, 8.0, HOUR)
    assert score.value_at(T0.timestamp() + 2 * HOUR, HOUR) == 2.0
    scores = {
        "a": decay.add(None, T0, 1.0, HOUR),
        "b": decay.add(None, T0, 5.0, HOUR),
        "c": decay.add(None, T0 + timedelta(hours=3), 2.0, HOUR),
    }
    decay.top(scores, (T0 + timedelta(hours=3)).timestamp(), HOUR, keep=2)
    assert set(scores) == {"b", "c"}
