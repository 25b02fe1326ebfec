"""The features topic, written in Kafka transactions, materialised into Redis by the sync (in
process and as `kairos features sync`) and into memory by the in-process store; aborted
transactions are never visible. And the feature store benchmark, briefly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from kairos.cli.main import app
from kairos.featurestore import MemoryFeatureStore
from kairos.featurestore.exceptions import FeatureStoreUnavailable
from kairos.featurestore.redis import RedisFeatureStore
from kairos.featurestore.sync import sync_to_redis
from kairos.featurestore.topic import FeatureTopicFollower, TopicFeatureStore
from kairos.kafka.admin import ensure_topics
from kairos.kafka.topics import Topics
from kairos.processes import stop_process
from kairos.settings import Settings
from kairos.stream.features import UserFeatures
from tests.conftest import KafkaUnderTest

T = TypeVar("T")
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
runner = CliRunner()


def features(user_key: str, events: int) -> bytes:
    value = UserFeatures(user_key=user_key, first_seen=NOW, last_seen=NOW, events=events)
    return msgspec.json.encode(value)


def produce_in_transaction(
    bootstrap: str, topic: str, records: list[tuple[str, bytes | None]], *, commit: bool = True
) -> None:
    """One transaction, as the stream processor writes the topic; aborted when `commit` is
    False, after its records reached the log (flushed), so readers must skip them."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(60)
    producer.begin_transaction()
    for user_key, value in records:
        producer.produce(topic, value, user_key.encode())
    producer.flush(30)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.abort_transaction(30)


def eventually(probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s}s")


@pytest.fixture
def written(kafka: KafkaUnderTest, redis_url: str, tmp_path: Path) -> Settings:
    """A fresh features topic holding committed, aborted and erased records."""
    settings = kafka.settings(tmp_path, redis_url=redis_url)
    topics = Topics(settings.topic_prefix, settings.topic_partitions)
    ensure_topics(kafka.bootstrap, [s for s in topics.specs() if s.name == topics.user_features])
    topic = topics.user_features
    produce_in_transaction(
        kafka.bootstrap, topic, [("a", features("a", 1)), ("b", features("b", 2)), ("c", None)]
    )
    produce_in_transaction(
        kafka.bootstrap, topic, [("a", features("a", 99)), ("d", features("d", 99))], commit=False
    )
    produce_in_transaction(kafka.bootstrap, topic, [("c", features("c", 3)), ("b", None)])
    produce_in_transaction(kafka.bootstrap, topic, [("e", features("e", 5))])
    return settings


EXPECTED = {"a": 1, "b": None, "c": 3, "d": None, "e": 5}  # d and a=99 were aborted


def events_of(found: list[UserFeatures | None]) -> dict[str, int | None]:
    return {key: f.events if f else None for key, f in zip(EXPECTED, found, strict=True)}


@pytest.mark.kafka
@pytest.mark.redis
def test_committed_features_reach_memory_and_redis_and_aborted_ones_never(
    written: Settings,
) -> None:
    topic = Topics(written.topic_prefix).user_features
    memory = TopicFeatureStore(written.bootstrap_servers, topic)
    try:
        assert memory.wait_caught_up(30)
        assert events_of(memory.get_many(list(EXPECTED))) == EXPECTED
        assert memory.updates == 6  # the committed records only
    finally:
        memory.close()

    stop = threading.Event()
    sync = threading.Thread(
        target=sync_to_redis, args=(written, stop), kwargs={"report_every_s": 1}
    )
    sync.start()
    store = RedisFeatureStore(written.redis_url, written.topic_prefix)
    try:
        eventually(lambda: store.get("e"))
        assert events_of(store.get_many(list(EXPECTED))) == EXPECTED
    finally:
        stop.set()
        sync.join(timeout=30)
        store.close()
    assert not sync.is_alive()


class FlakySink(MemoryFeatureStore):
    """Refuses its first write, as a Redis that is briefly down would."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def put_many(self, records: Iterable[tuple[str, bytes | None]]) -> None:
        if not self.refused:
            self.refused += 1
            raise FeatureStoreUnavailable("down for a moment")
        super().put_many(records)


@pytest.mark.kafka
@pytest.mark.redis
def test_a_refused_batch_is_written_again_before_anything_newer(written: Settings) -> None:
    sink = FlakySink()
    topic = Topics(written.topic_prefix).user_features
    follower = FeatureTopicFollower(written.bootstrap_servers, topic, sink, batch_size=2)
    try:
        deadline = time.monotonic() + 30
        while not follower.caught_up and time.monotonic() < deadline:
            with contextlib.suppress(FeatureStoreUnavailable):
                follower.poll(0.2)
    finally:
        follower.close()
    assert sink.refused == 1
    assert follower.caught_up
    assert events_of(sink.get_many(list(EXPECTED))) == EXPECTED


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    return os.environ | {
        "KAIROS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "KAIROS_TOPIC_PREFIX": settings.topic_prefix,
        "KAIROS_DATA_DIR": str(settings.data_dir),
        "KAIROS_REDIS_URL": settings.redis_url,
        "KAIROS_LOG_LEVEL": "INFO",
        **extra,
    }


@pytest.mark.kafka
@pytest.mark.redis
def test_the_sync_command_runs_until_ctrl_c_and_get_reads_either_store(
    written: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_path = written.data_dir / "sync.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kairos", "features", "sync", "--report-every", "0.5"],
            env=environment(written),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    store = RedisFeatureStore(written.redis_url, written.topic_prefix)
    try:
        eventually(lambda: store.get("e"))
        eventually(lambda: "caught up" in log_path.read_text() or None)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        stop_process(process)
        store.close()
    output = log_path.read_text()
    assert "feature sync caught up" in output
    assert "records=6" in output
    assert "Traceback" not in output

    for name, value in environment(written).items():
        if name.startswith("KAIROS_"):
            monkeypatch.setenv(name, value)
    for mode in ("redis", "memory"):
        monkeypatch.setenv("KAIROS_FEATURE_STORE", mode)
        result = runner.invoke(app, ["features", "get", "c"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["events"] == 3
        missing = runner.invoke(app, ["features", "get", "d"])  # aborted: never there
        assert missing.exit_code == 1


@pytest.mark.kafka
@pytest.mark.redis
def test_the_sync_explains_an_unreachable_redis(
    kafka: KafkaUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIROS_KAFKA_BOOTSTRAP", kafka.bootstrap)
    monkeypatch.setenv("KAIROS_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAIROS_REDIS_URL", "redis://127.0.0.1:1/0")
    result = runner.invoke(app, ["features", "sync"])
    assert result.exit_code == 1
    assert "does not answer" in result.output


@pytest.mark.redis
@pytest.mark.parametrize("configured", [False, True], ids=["own-server", "KAIROS_REDIS_URL"])
def test_the_featurestore_bench_reports_every_store(
    configured: bool, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    if configured:
        monkeypatch.setenv("KAIROS_REDIS_URL", redis_url)
    else:
        monkeypatch.delenv("KAIROS_REDIS_URL", raising=False)
    path = tmp_path / "featurestore.json"
    args = ["bench", "featurestore", "--quick", "--json", str(path), "--users", "500"]
    result = runner.invoke(app, [*args, "--reads", "400", "--mget-batch", "20"])
    assert result.exit_code == 0, result.output
    report = json.loads(path.read_text())
    assert report["benchmark"] == "featurestore"
    results = report["results"]
    assert results["users"] == 500
    assert results["reads"] == 400
    assert results["redis"] == ("configured" if configured else "local")
    assert results["value_bytes_mean"] > 0
    for name in ("baseline_dict", "memory_get", "redis_get", "redis_mget"):
        figures = results[name]
        assert figures["reads_per_s"] > 0
        assert 0 < figures["p50_us"] <= figures["p99_us"]
        if name != "baseline_dict":
            assert figures["ratio"] == pytest.approx(
                figures["reads_per_s"] / results["baseline_dict"]["reads_per_s"], rel=1e-2
            )
    if configured:  # a shared Redis keeps nothing of the run
        import redis

        with redis.Redis.from_url(redis_url) as raw:
            assert not list(raw.scan_iter(match="bench-*", count=1000))
