"""The local broker's lifecycle commands, and the ingest benchmark end to end (briefly)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kairos.bench import ingest
from kairos.kafka.local import LocalBroker
from kairos.processes import stop_process
from tests.conftest import KafkaUnderTest
from tests.processes import alive, children

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
        # enough events that the processor is still at them when first looked at (2,000 could
        # all be done by then on a fast machine, leaving nothing to time)
        settings,
        stream_bench.StreamPlan(events=20_000, timeout_s=120),
        lambda _msg: None,
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
    # both endpoints measured in turn, each round's ratio beside the whole run's
    assert results["rounds"] == plan.rounds == len(results["ratio_by_round"])
    # the API's own CPU per request: a decision costs it more than the bare endpoint
    assert results["api_cpu_us_per_request"] > results["bare_api_cpu_us_per_request"] > 0
    ratios = results["ratio_by_round"]
    assert min(ratios) - 0.02 <= results["ratio"] <= max(ratios) + 0.02  # (rounded rates)
    # then with a click model published to the models topic, once the server says it uses it
    model = results["with_model"]
    assert model["model_version"].startswith("bench-")
    assert model["requests_per_s"] > 0
    assert model["fill_rate"] > 0.5
    assert model["dynamic_share_of_ads_served"] > 0  # chosen by Thompson sampling
    assert model["ratio"] == pytest.approx(
        model["requests_per_s"] / model["bare_requests_per_s"], abs=1e-3
    )
    assert model["api_cpu_us_per_request"] > model["bare_api_cpu_us_per_request"] > 0


def test_a_terminated_bench_stops_the_servers_it_started(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    """`kill PID` of a running `kairos bench` (SIGTERM) must not leave its API server behind."""
    env = os.environ | {
        "KAIROS_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "KAIROS_DATA_DIR": str(tmp_path),
        "KAIROS_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / "bench.log").open("wb") as log:
        bench = subprocess.Popen(
            [sys.executable, "-m", "kairos", "bench", "ingest", "--duration", "60"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not servers and time.monotonic() < deadline and bench.poll() is None:
            time.sleep(0.2)
            servers = children(bench.pid)
        assert servers, "the bench never started its API server"
        time.sleep(1.0)
        bench.send_signal(signal.SIGTERM)
        bench.wait(timeout=60)
        assert bench.returncode != 0
        assert not any(alive(pid) for pid in servers)
    finally:
        stop_process(bench)
        for pid in servers:  # only when the test fails: the orphans it found, by PID
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
