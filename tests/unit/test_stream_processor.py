from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from kairos.domain import codec
from kairos.domain.events import PageView, Search
from kairos.featurestore import MemoryFeatureStore
from kairos.stream.processor import EventProcessor

KEY = "b" * 32
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class DictState:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, ttl: timedelta | None = None) -> None:
        self.data[key] = orjson.loads(orjson.dumps(value))  # as a real store would: JSON


def wire(event: PageView | Search) -> bytes:
    return codec.encode(event)


def test_valid_events_update_features_and_duplicates_do_not() -> None:
    step, state = EventProcessor(), DictState()
    view = PageView(
        event_id="e1",
        user_key=KEY,
        ts=NOW,
        received_at=NOW,
        page_url="https://s.example/outdoor/tent",
        product_ids=["t1"],
    )
    (out,) = step(wire(view), state)
    assert out.kind == "features"
    assert step(wire(view), state) == []  # the same id and type again
    later = Search(
        event_id="e1",
        user_key=KEY,
        ts=NOW + timedelta(minutes=1),
        received_at=NOW + timedelta(minutes=1),
        query="tent",
    )  # same id, other type
    (out,) = step(wire(later), state)
    store = MemoryFeatureStore()
    store.put(KEY, out.value)
    features = store.get(KEY)
    assert features is not None
    assert features.events == 2
    assert features.viewed == ["t1"]
    assert features.searches == ["tent"]
    assert features.session_depth == 2


def test_bad_messages_become_dead_letters() -> None:
    step, state = EventProcessor(), DictState()
    (out,) = step(b"{not json", state)
    assert out.kind == "dead_letter"
    assert orjson.loads(out.value)["reason"] == "invalid_event"
    stale = PageView(user_key=KEY, ts=NOW - timedelta(days=30), received_at=NOW)
    (out,) = step(wire(stale), state)
    assert orjson.loads(out.value)["reason"] == "refused"
    assert state.data == {}  # nothing counted


def test_memory_store_honours_tombstones() -> None:
    store = MemoryFeatureStore()
    store.put(KEY, msgspec.json.encode({"user_key": KEY}))
    assert store.get(KEY) is not None
    store.put(KEY, None)
    assert store.get(KEY) is None
    assert len(store) == 0


def test_topic_names_that_cannot_fit_are_refused_early(tmp_path: object) -> None:
    import pytest

    from kairos.errors import ConfigurationError
    from kairos.settings import Settings
    from kairos.stream.app import check_names

    check_names(Settings(data_dir=tmp_path))  # the defaults fit
    with pytest.raises(ConfigurationError, match="KAIROS_TOPIC_PREFIX"):
        check_names(Settings(data_dir=tmp_path, topic_prefix="a-rather-long-deployment-name"))
