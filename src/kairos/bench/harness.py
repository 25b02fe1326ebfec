"""What every benchmark needs: a broker, an API server on a free port, and a JSON report."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kairos.errors import KairosError
from kairos.kafka.local import LocalBroker, fetch_jars
from kairos.processes import stop_process
from kairos.settings import Settings

Progress = Callable[[str], None]  # how a benchmark reports what it is doing


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of durations given in seconds."""
    return _percentiles(seconds, 1000, "ms")


def percentiles_us(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean in microseconds of durations given in seconds."""
    return _percentiles(seconds, 1_000_000, "us")


def _percentiles(seconds: list[float], scale: float, unit: str) -> dict[str, float]:
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(scale * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    mean = round(scale * statistics.fmean(ordered), 2)
    return {
        f"p50_{unit}": at(0.50),
        f"p95_{unit}": at(0.95),
        f"p99_{unit}": at(0.99),
        f"mean_{unit}": mean,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class BenchEnv:
    """Where a benchmark runs: a broker, a scratch directory, and a unique topic prefix."""

    bootstrap: str
    workdir: Path
    topic_prefix: str

    def api_environment(self) -> dict[str, str]:
        return {
            "KAIROS_KAFKA_BOOTSTRAP": self.bootstrap,
            "KAIROS_TOPIC_PREFIX": self.topic_prefix,
            "KAIROS_DATA_DIR": str(self.workdir),
            "KAIROS_DATABASE_URL": f"sqlite:///{self.workdir / 'bench.db'}",
            "KAIROS_STREAM_GROUP": f"{self.topic_prefix}-stream",
            "KAIROS_STREAM_METRICS_PORT": "0",  # never collide with a running platform
            "KAIROS_LOG_LEVEL": "WARNING",
        }


@contextmanager
def bench_env(settings: Settings, name: str) -> Iterator[BenchEnv]:
    """A scratch broker on free ports (or the configured cluster) for the length of a run."""
    workdir = Path(tempfile.mkdtemp(prefix=f"kairos-bench-{name}-"))
    prefix = f"b{name[:3]}{int(time.time()) % 100_000}"  # short: topic names have a limit
    broker = None
    try:
        if settings.local_kafka:
            fetch_jars(settings.resolved_kafka_libs)
            broker = LocalBroker(
                workdir / "kafka",
                settings.resolved_kafka_libs,
                port=free_port(),
                controller_port=free_port(),
                heap=settings.kafka_heap,
            )
            broker.start()
        yield BenchEnv(broker.bootstrap if broker else settings.bootstrap_servers, workdir, prefix)
    finally:
        if broker is not None:
            broker.stop()
        if not os.environ.get("KAIROS_BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def kairos_process(
    env: BenchEnv, *args: str, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Another `kairos` command (e.g. `stream`) in a child process, stopped on exit."""
    log_path = env.workdir / f"{args[0]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kairos", *args],
            env=os.environ | env.api_environment() | (extra_env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        stop_process(process)


@contextmanager
def api_server(env: BenchEnv, *, workers: int = 1, timeout_s: float = 60.0) -> Iterator[str]:
    """`kairos api` in a child process on a free port; yields its base URL once ready."""
    with api_process(env, workers=workers, timeout_s=timeout_s) as (base, _pid):
        yield base


@contextmanager
def api_process(
    env: BenchEnv, *, workers: int = 1, timeout_s: float = 60.0
) -> Iterator[tuple[str, int]]:
    """`api_server`, also yielding the process id (its workers are its children)."""
    port = free_port()
    log_path = env.workdir / f"api-{port}.log"
    cmd = [sys.executable, "-m", "kairos", "api", "--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            env=os.environ | env.api_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, timeout_s, log_path)
        yield base, process.pid
    finally:
        stop_process(process)


def _wait_ready(
    base: str, process: subprocess.Popen[bytes], timeout_s: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise KairosError(f"the API exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise KairosError(f"the API was not ready within {timeout_s:.0f}s")


def write_report(name: str, results: dict[str, Any], path: Path | None) -> dict[str, Any]:
    report = {"benchmark": name, "results": results}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    return report
