"""The local broker's lifecycle commands, and the ingest benchmark end to end (briefly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kairos.bench import ingest
from kairos.kafka.local import LocalBroker
from tests.conftest import KafkaUnderTest

pytestmark = pytest.mark.kafka


def test_status_of_the_running_broker(kafka: KafkaUnderTest) -> None:
    if kafka.broker is None:
        pytest.skip("external cluster")
    status = kafka.broker.status()
    assert status.running
    assert status.ready
    assert status.pid == kafka.broker.pid()
    assert kafka.broker.start() == status.pid  # starting again is a no-op


def test_a_broker_that_is_not_running(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, tmp_path / "libs", port=1, controller_port=2)
    assert broker.pid() is None
    assert broker.stop() is False
    assert not broker.status().running


def test_stale_pid_file_is_never_trusted(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, tmp_path / "libs")
    (tmp_path / "broker.pid").write_text("1")  # PID 1 is not our broker
    assert broker.pid() is None


def test_ingest_bench_writes_its_report(kafka: KafkaUnderTest, tmp_path: Path) -> None:
    settings = kafka.settings(tmp_path)
    plan = ingest.IngestPlan(duration_s=1.0, batch_size=50, connections=2, distinct_batches=4)
    results = ingest.run(settings, plan, lambda _msg: None)
    assert results["events_per_s"] > 0
    assert results["raw_producer_events_per_s"] > 0
    assert results["ratio"] == pytest.approx(
        results["events_per_s"] / results["raw_producer_events_per_s"], abs=1e-3
    )
    json.dumps(results)


def test_stream_and_freshness_benches_report(kafka: KafkaUnderTest, tmp_path: Path) -> None:
    from kairos.bench import freshness
    from kairos.bench import stream as stream_bench

    settings = kafka.settings(tmp_path)
    results = stream_bench.run(
        settings, stream_bench.StreamPlan(events=2000, timeout_s=120), lambda _msg: None
    )
    assert results["events_per_s"] > 0
    assert results["bare_consumer_events_per_s"] > 0
    fresh = freshness.run(settings, freshness.FreshnessPlan(samples=5, users=2), lambda _msg: None)
    assert fresh["samples"] == 5
    assert 0 < fresh["p50_ms"] <= fresh["p99_ms"]


def test_decisions_bench_reports_on_a_full_inventory(kafka: KafkaUnderTest, tmp_path: Path) -> None:
    from kairos.bench import decisions

    settings = kafka.settings(tmp_path)
    plan = decisions.DecisionsPlan(duration_s=1.0, warmup_s=1.0, connections=2, rate=40.0)
    results = decisions.run(settings, plan, lambda _msg: None)
    assert results["ads"] == 1000
    assert results["flights"] == 100
    assert results["fill_rate"] > 0.5  # the inventory really serves
    assert results["requests_per_s"] > 0
    assert results["bare_requests_per_s"] > 0
    assert 0 < results["p50_ms"] <= results["p99_ms"]
    assert results["ratio"] == pytest.approx(
        results["requests_per_s"] / results["bare_requests_per_s"], abs=1e-3
    )
