"""`kairos api --workers N`: workers on one port, each with its own socket, stopped together."""

from __future__ import annotations

import http.client
from pathlib import Path

from kairos.bench.harness import BenchEnv, api_server
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from tests.conftest import KafkaUnderTest
from tests.processes import processes as all_processes


def test_workers_share_the_port_and_stop_with_the_command(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    upgrade(engine)
    engine.dispose()
    env = BenchEnv(kafka.bootstrap, tmp_path, kafka.settings(tmp_path).topic_prefix)
    with api_server(env, workers=2) as base:
        host, port = base.removeprefix("http://").split(":")
        processes = all_processes()
        (supervisor,) = [
            pid for pid, (_, cmd) in processes.items() if f"--port\0{port}\0".encode() in cmd
        ]
        workers = [pid for pid, (parent, _) in processes.items() if parent == supervisor]
        assert len(workers) == 2  # both bound the same port (SO_REUSEPORT) and serve
        for _ in range(20):  # new connections, spread by the kernel
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", "/healthz")
            assert conn.getresponse().status == 200
            conn.close()
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
