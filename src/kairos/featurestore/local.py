"""A throwaway `redis-server` on a loopback port (tests and benchmarks): no persistence, and
stopped only by the PID this process started."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from kairos.errors import ConfigurationError
from kairos.processes import stop_process

DEBIAN_BINARY = Path("/usr/bin/redis-server")


def redis_server_binary() -> Path:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    if DEBIAN_BINARY.exists():
        return DEBIAN_BINARY
    raise ConfigurationError(
        "redis-server not found: run scripts/ensure-system.sh (Debian package redis-server)"
    )


@contextmanager
def local_redis(workdir: Path, port: int, *, timeout_s: float = 15.0) -> Iterator[str]:
    """Start `redis-server` on 127.0.0.1:`port`; yields its URL once it answers PING."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "redis.log"
    command = [
        str(redis_server_binary()),
        *("--save", "", "--appendonly", "no"),
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, process, timeout_s, log_path)
        yield url
    finally:
        stop_process(process, timeout_s=10)


def _wait_for_ping(
    url: str, process: subprocess.Popen[bytes], timeout_s: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    with redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ConfigurationError(f"redis-server exited: {log_path.read_text()[-2000:]}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
    raise ConfigurationError(f"redis-server did not answer within {timeout_s:.0f}s")
