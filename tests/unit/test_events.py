from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos.domain import codec
from kairos.domain.codec import InvalidEvent, WireInvariantError
from kairos.domain.events import (
    EVENT_CLASSES,
    AddToCart,
    Consent,
    EventType,
    Impression,
    PageView,
    Search,
)

KEY = "0123456789abcdef0123456789abcdef"


def inbound(**fields: object) -> bytes:
    return msgspec.json.encode({"user_id": "visitor-1", **fields})


def test_each_type_parses_to_its_class() -> None:
    samples = {
        "page_view": {},
        "search": {"query": "boots"},
        "add_to_cart": {"product_ids": ["p1"], "price": 9.5, "currency": "EUR"},
        "conversion": {"value": 20.0},
        "impression": {"decision_id": "d1", "elements": {"headline": "h2"}},
        "click": {"decision_id": "d1"},
        "custom": {"name": "signup"},
    }
    for kind, fields in samples.items():
        event = codec.parse_inbound(inbound(type=kind, **fields))
        assert type(event) is EVENT_CLASSES[EventType(kind)]
        assert event.event_type == EventType(kind)


def test_missing_required_field_is_located() -> None:
    with pytest.raises(InvalidEvent) as caught:
        codec.parse_inbound(inbound(type="search"))
    assert caught.value.error.loc == ("query",)
    assert "missing required field" in caught.value.error.msg


def test_wrong_type_in_nested_list_is_located() -> None:
    with pytest.raises(InvalidEvent) as caught:
        codec.parse_inbound(inbound(type="add_to_cart", product_ids=["ok", 5]))
    assert caught.value.error.loc == ("product_ids", 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "page_view", "user_id": None},
        {"type": "page_view", "surprise": 1},
        {"type": "nope"},
        {"type": "conversion", "value": -1},
        {"type": "add_to_cart", "product_ids": []},
        {"type": "page_view", "user_key": KEY},
        {"type": "page_view", "event_id": "x" * 129},
        {"type": "add_to_cart", "product_ids": ["p"], "currency": "euro"},
    ],
)
def test_invalid_inbound_events_are_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidEvent):
        codec.parse_inbound(inbound(**fields))


def test_missing_user_id_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="user_id"):
        codec.parse_inbound(msgspec.json.encode({"type": "page_view"}))


def test_event_id_is_generated_when_absent_and_kept_when_given() -> None:
    a = codec.parse_inbound(inbound(type="page_view"))
    b = codec.parse_inbound(inbound(type="page_view"))
    assert a.event_id != b.event_id
    assert codec.parse_inbound(inbound(type="page_view", event_id="e-1")).event_id == "e-1"


def test_consent_defaults_to_contextual_only() -> None:
    event = codec.parse_inbound(inbound(type="page_view"))
    assert event.consent == Consent(personalization=False, measurement=True)


def test_encode_refuses_a_raw_user_id() -> None:
    with pytest.raises(WireInvariantError):
        codec.encode(PageView(user_id="visitor-1"))
    with pytest.raises(WireInvariantError):
        codec.encode(PageView())


def test_decode_refuses_a_wire_event_with_a_raw_id() -> None:
    with pytest.raises(InvalidEvent):
        codec.decode(b'{"type":"page_view","user_id":"v","user_key":"' + KEY.encode() + b'"}')


def test_batch_decodes_in_one_call() -> None:
    body = msgspec.json.encode({"events": [{"type": "search", "user_id": "u", "query": "q"}] * 3})
    assert [type(e) for e in codec.parse_inbound_batch(body)] == [Search] * 3


ids = st.text(alphabet="abcdef0123456789-_", min_size=1, max_size=40)
texts = st.text(max_size=60)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
consents = st.builds(Consent, personalization=st.booleans(), measurement=st.booleans())
common = {
    "event_id": ids,
    "ts": times,
    "received_at": times,
    "user_key": st.just(KEY),
    "session_id": st.none() | ids,
    "page_url": st.none() | texts,
    "consent": consents,
    "properties": st.dictionaries(
        ids, st.none() | st.booleans() | st.integers() | texts, max_size=5
    ),
}
wire_events = st.one_of(
    st.builds(PageView, categories=st.lists(ids, max_size=4), **common),
    st.builds(Search, query=st.text(min_size=1, max_size=50), **common),
    st.builds(
        AddToCart,
        product_ids=st.lists(ids, min_size=1, max_size=5),
        price=st.none() | st.floats(0, 1e6),
        quantity=st.integers(1, 99),
        **common,
    ),
    st.builds(
        Impression,
        decision_id=ids,
        elements=st.dictionaries(ids, ids, max_size=3),
        viewable=st.booleans(),
        **common,
    ),
)


@given(wire_events)
def test_wire_round_trip(event: PageView) -> None:
    data = codec.encode(event)
    assert codec.decode(data) == event
    assert codec.key_of(event) == KEY.encode()
    assert b'"user_id"' not in data
