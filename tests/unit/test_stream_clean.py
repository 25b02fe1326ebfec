from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kairos.domain.events import AddToCart, Conversion, PageView
from kairos.stream.clean import CleaningRules, Refused, clean
from kairos.stream.features import UserFeatures
from kairos.stream.state import MAX_SEEN, UserState, first_time

KEY = "0" * 32
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_future_timestamps_fall_back_to_the_server_clock() -> None:
    event = PageView(user_key=KEY, ts=NOW + timedelta(hours=2), received_at=NOW)
    cleaned = clean(event)
    assert not isinstance(cleaned, Refused)
    assert cleaned.ts == NOW


def test_small_skew_and_missing_ts() -> None:
    skewed = PageView(user_key=KEY, ts=NOW + timedelta(minutes=1), received_at=NOW)
    assert clean(skewed) is skewed  # untouched: within the allowed skew
    missing = clean(PageView(user_key=KEY, received_at=NOW))
    assert not isinstance(missing, Refused)
    assert missing.ts == NOW


def test_too_old_and_unstamped_events_are_refused() -> None:
    old = PageView(user_key=KEY, ts=NOW - timedelta(days=8), received_at=NOW)
    assert isinstance(clean(old), Refused)
    assert isinstance(clean(PageView(user_key=KEY)), Refused)


def test_absurd_values_are_capped() -> None:
    rules = CleaningRules(max_price=100, max_quantity=5, max_order_value=1000)
    cart = clean(
        AddToCart(user_key=KEY, received_at=NOW, product_ids=["p"], price=1e9, quantity=99), rules
    )
    assert isinstance(cart, AddToCart)
    assert (cart.price, cart.quantity) == (100, 5)
    order = clean(Conversion(user_key=KEY, received_at=NOW, value=5e6), rules)
    assert isinstance(order, Conversion)
    assert order.value == 1000


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.booleans(), st.integers(0, 3000)),
        max_size=60,
    )
)
def test_each_id_and_type_counts_once_within_the_horizon(
    items: list[tuple[str, bool, int]],
) -> None:
    user = UserState(features=UserFeatures(user_key=KEY))
    horizon = timedelta(days=3)  # longer than any gap generated here
    passed = []
    for event_id, is_search, minute in items:
        at = (NOW + timedelta(minutes=minute)).timestamp()
        kind = "search" if is_search else "page_view"
        if first_time(user, f"{kind}:{event_id}", at, horizon):
            passed.append((event_id, is_search))
    assert len(passed) == len(set(passed))  # never twice within the horizon
    assert set(passed) == {(i, s) for i, s, _ in items}  # every first one passes


@given(st.integers(min_value=100, max_value=3000))
def test_seen_ids_are_forgotten_after_the_horizon_and_bounded(count: int) -> None:
    user = UserState(features=UserFeatures(user_key=KEY))
    horizon = timedelta(minutes=10)
    start = NOW.timestamp()
    for n in range(count):
        assert first_time(user, f"page_view:{n}", start + n, horizon)
    assert len(user.seen) <= min(count, 600 + 64)  # ids older than 10 minutes are let go
    assert len(user.seen) <= MAX_SEEN
    assert not first_time(user, f"page_view:{count - 1}", start + count, horizon)
