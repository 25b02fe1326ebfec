"""The feature stores: the same checks on the in-memory store and on Redis (a real
redis-server), the Redis store's key layout and errors, and the topic follower's batching."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import redis

from kairos.bench.featurestore import realistic_records
from kairos.bench.harness import free_port
from kairos.errors import ConfigurationError
from kairos.featurestore import MemoryFeatureStore, open_feature_store
from kairos.featurestore import local as local_module
from kairos.featurestore.exceptions import FeatureStoreUnavailable
from kairos.featurestore.redis import RedisFeatureStore, redacted
from kairos.featurestore.topic import latest_per_user
from kairos.settings import Settings
from kairos.stream.features import UserFeatures

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def encoded(user_key: str, events: int = 1) -> bytes:
    features = UserFeatures(
        user_key=user_key,
        first_seen=NOW,
        last_seen=NOW,
        personalization=True,
        device="mobile",
        viewed=["p-1", "p-2"],
        searches=["rain jacket"],
        events=events,
    )
    return msgspec.json.encode(features)


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_store(redis_url: str, namespace: str) -> Iterator[RedisFeatureStore]:
    store = RedisFeatureStore(redis_url, namespace)
    yield store
    store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> MemoryFeatureStore | RedisFeatureStore:
    """Every backend, for the checks that hold for all of them."""
    if request.param == "memory":
        return MemoryFeatureStore()
    found: RedisFeatureStore = request.getfixturevalue("redis_store")
    return found


# --- every backend --------------------------------------------------------------------------


def test_put_then_get(store: MemoryFeatureStore | RedisFeatureStore) -> None:
    store.put("u1", encoded("u1", events=3))
    features = store.get("u1")
    assert features is not None
    assert features.events == 3
    assert features.viewed == ["p-1", "p-2"]
    assert store.get("nobody") is None


def test_a_tombstone_erases_the_user(store: MemoryFeatureStore | RedisFeatureStore) -> None:
    store.put_many([("u1", encoded("u1")), ("u2", encoded("u2")), ("u1", None)])
    assert store.get("u1") is None
    assert store.get("u2") is not None
    store.put("never-stored", None)  # erasing an unknown user is not an error
    assert store.get("never-stored") is None


def test_the_last_record_of_a_user_wins(store: MemoryFeatureStore | RedisFeatureStore) -> None:
    store.put_many([("u1", encoded("u1", 1)), ("u1", encoded("u1", 2)), ("u1", encoded("u1", 3))])
    features = store.get("u1")
    assert features is not None
    assert features.events == 3


def test_get_many_keeps_the_order_and_the_gaps(
    store: MemoryFeatureStore | RedisFeatureStore,
) -> None:
    store.put_many([("a", encoded("a", 1)), ("c", encoded("c", 3))])
    found = store.get_many(["c", "b", "a"])
    assert [f.events if f else None for f in found] == [3, None, 1]
    assert store.get_many([]) == []


# --- Redis ----------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_returns_what_the_memory_store_returns(redis_store: RedisFeatureStore) -> None:
    records = realistic_records(users=50, profiles=10, seed=3)
    memory = MemoryFeatureStore()
    memory.put_many(records.items())
    redis_store.put_many(records.items())
    keys = list(records)
    assert redis_store.get_many(keys) == memory.get_many(keys)
    assert redis_store.get(keys[0]) == memory.get(keys[0])
    assert all(f is not None and f.events > 0 for f in memory.get_many(keys))


@pytest.mark.redis
def test_redis_keys_are_namespaced_and_hold_the_topic_bytes(
    redis_url: str, redis_store: RedisFeatureStore, namespace: str
) -> None:
    value = encoded("u1")
    redis_store.put("u1", value)
    with redis.Redis.from_url(redis_url) as raw:
        assert raw.get(f"{namespace}:features:u1") == value
    other = RedisFeatureStore(redis_url, f"{namespace}-other")
    try:
        assert other.get("u1") is None
    finally:
        other.close()


@pytest.mark.redis
def test_an_unreachable_redis_is_a_clear_error() -> None:
    store = RedisFeatureStore(f"redis://127.0.0.1:{free_port()}/0", "t", timeout_s=0.5)
    try:
        with pytest.raises(FeatureStoreUnavailable, match="does not answer"):
            store.ping()
        with pytest.raises(FeatureStoreUnavailable) as caught:
            store.get("u1")
        assert caught.value.status == 503
        with pytest.raises(FeatureStoreUnavailable):
            store.put_many([("u1", encoded("u1"))])
    finally:
        store.close()


def test_an_invalid_redis_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid Redis URL"):
        RedisFeatureStore("http://example.com", "t")


def test_passwords_never_reach_messages() -> None:
    assert redacted("redis://user:s3cret@cache:6380/1") == "redis://user:***@cache:6380/1"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


@pytest.mark.redis
def test_open_feature_store_in_redis_mode(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, feature_store="redis", redis_url=redis_url)
    writer = RedisFeatureStore(redis_url, settings.topic_prefix)
    try:
        writer.put("u-open", encoded("u-open", 7))
        store = open_feature_store(settings)
        try:
            features = store.get("u-open")
            assert features is not None
            assert features.events == 7
        finally:
            store.close()
    finally:
        writer.put("u-open", None)
        writer.close()
    down = Settings(
        data_dir=tmp_path, feature_store="redis", redis_url=f"redis://127.0.0.1:{free_port()}"
    )
    with pytest.raises(FeatureStoreUnavailable):
        open_feature_store(down)


def test_the_feature_store_setting_names_a_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="feature_store"):
        Settings(data_dir=tmp_path, feature_store="cassandra")  # type: ignore[arg-type]


def test_a_missing_redis_server_binary_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module.shutil, "which", lambda _name: None)
    monkeypatch.setattr(local_module, "DEBIAN_BINARY", Path("/nonexistent/redis-server"))
    with pytest.raises(ConfigurationError, match="ensure-system"):
        local_module.redis_server_binary()


# --- the topic follower's batches -----------------------------------------------------------


class FakeMessage:
    def __init__(self, key: bytes | None, value: bytes | None, error: object = None) -> None:
        self._key, self._value, self._error = key, value, error

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> object:
        return self._error


def test_a_batch_keeps_the_last_record_of_each_user_in_the_order_of_those_writes() -> None:
    batch = [
        FakeMessage(b"a", b"1"),
        FakeMessage(b"b", b"2"),
        FakeMessage(None, b"unkeyed"),
        FakeMessage(b"c", b"x", error="broken"),
        FakeMessage(b"a", None),  # erased after its first record
        FakeMessage(b"b", b"3"),
    ]
    latest = latest_per_user(batch)  # type: ignore[arg-type]
    assert list(latest.items()) == [("a", None), ("b", b"3")]
