"""A single-node Apache Kafka broker (KRaft, combined broker+controller) run from Maven jars.

Reproduces what Kafka's own scripts do: `kafka.tools.StorageTool format --standalone` once,
then `kafka.Kafka server.properties`, with a small heap and everything under one directory.
Only the process this module started (its PID file, checked against its command line) is
ever signalled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kairos.kafka.admin import wait_for_brokers
from kairos.kafka.exceptions import BrokerError
from kairos.processes import running

MAIN_CLASS = "kafka.Kafka"


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    ready: bool
    pid: int | None
    bootstrap: str


def _resource(name: str) -> str:
    return resources.files("kairos.kafka").joinpath("resources", name).read_text()


def pom_text() -> str:
    return _resource("pom.xml")


def fetch_jars(libs: Path, *, quiet: bool = True) -> bool:
    """Resolve Kafka's runtime jars from Maven Central into `libs`. Returns False if cached."""
    pom = pom_text()
    stamp = libs / ".pom-sha256"
    digest = hashlib.sha256(pom.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and any(libs.glob("kafka_2.13-*.jar")):
        return False
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    libs.mkdir(parents=True, exist_ok=True)
    work = libs.parent / "maven"
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(pom)
    for old in libs.glob("*.jar"):
        old.unlink()
    cmd = [
        mvn,
        "-B",
        *(["-q"] if quiet else []),
        "-f",
        str(work / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    result = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout or "")[-2000:] if quiet else ""
        raise BrokerError(f"mvn failed to fetch Kafka's jars (exit {result.returncode})\n{tail}")
    stamp.write_text(digest)
    return True


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError("Java 17+ is needed to run the broker: apt-get install openjdk-17-jre")
    return java


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalBroker:
    """Lifecycle of one local broker rooted at `home` (default DATA_DIR/kafka)."""

    def __init__(
        self,
        home: Path,
        libs: Path,
        *,
        port: int = 9092,
        controller_port: int = 9093,
        heap: str = "512m",
    ) -> None:
        self.home = home.resolve()
        self.libs = libs.resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def _properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.out"

    def server_properties(self) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            # One node: every internal topic must be replicated once or groups/transactions hang.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.retention.check.interval.ms": "60000",
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java_command(self, main: str, *args: str) -> list[str]:
        return [
            _java(),
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            # the client compiler only: the broker of one machine shares its cores with the
            # API, and the optimising compiler took a tenth of a core for minutes after start
            # (at ~1,000 decisions/s: 0.10-0.11 of a core in all, against 0.13-0.29)
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _prepare(self) -> None:
        if not any(self.libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Kafka's jars are missing in {self.libs}: run `kairos kafka fetch`")
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self._check_ports_unchanged()
        self._properties.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(_resource("log4j2.properties"))
        if not (self.home / "data" / "meta.properties").exists():
            self._format()

    def _check_ports_unchanged(self) -> None:
        # A standalone KRaft quorum records the controller endpoint when it is formatted.
        ports_file = self.home / "ports.json"
        ports = {"port": self.port, "controller_port": self.controller_port}
        if (self.home / "data" / "meta.properties").exists() and ports_file.exists():
            before = json.loads(ports_file.read_text())
            if before != ports:
                raise BrokerError(
                    f"broker in {self.home} was formatted with ports {before}; "
                    "use those ports or remove the directory"
                )
        ports_file.write_text(json.dumps(ports))

    def _format(self) -> None:
        cmd = self._java_command(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            f"--cluster-id={_cluster_id()}",  # "=": an id may start with "-"
            "-c",
            str(self._properties),
        )
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(f"formatting the broker storage failed: {result.stderr[-2000:]}")

    def start(self, *, wait: bool = True, timeout_s: float = 120.0) -> int:
        """Start the broker in the background (idempotent); wait until it answers."""
        pid = self.pid()
        if pid is None:
            self._prepare()
            with self.log_file.open("ab") as out:
                process = subprocess.Popen(
                    self._java_command(MAIN_CLASS, str(self._properties)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal is ours to relay, not its
                )
            self._process = process
            pid = process.pid
            self._pid_file.write_text(str(pid))
        if wait:
            self.wait_ready(timeout_s)
        return pid

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._alive():
                raise BrokerError(f"the broker exited during start-up:\n{self._log_tail()}")
            if wait_for_brokers(self.bootstrap, timeout_s=min(2.0, deadline - time.monotonic())):
                return
        raise BrokerError(f"the broker did not answer within {timeout_s:.0f}s:\n{self._log_tail()}")

    def _log_tail(self, chars: int = 3000) -> str:
        server_log = self.home / "logs" / "server.log"
        texts = [
            p.read_text(errors="replace")[-chars:]
            for p in (self.log_file, server_log)
            if p.exists()
        ]
        return "\n".join(texts)

    def _alive(self) -> bool:
        # Right after Popen, /proc still shows the pre-exec command line: trust our handle.
        if self._process is not None:
            return self._process.poll() is None
        return self.pid() is not None

    def pid(self) -> int | None:
        """PID of our running broker, or None. A stale or foreign PID is never trusted."""
        try:
            pid = int(self._pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if MAIN_CLASS.encode() in cmdline and str(self._properties).encode() in cmdline:
            return pid if running(pid) else None
        return None

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM (controlled shutdown), then SIGKILL after `timeout_s`. False if not running."""
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 30.0)
        self._process = None
        self._pid_file.unlink(missing_ok=True)
        return True

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        """Wait until every thread of the process has exited (and our child is reaped)."""
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout_s
        while Path(f"/proc/{pid}").exists():  # not our child: init reaps it
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def status(self) -> BrokerStatus:
        pid = self.pid()
        ready = pid is not None and wait_for_brokers(self.bootstrap, timeout_s=2.0)
        return BrokerStatus(running=pid is not None, ready=ready, pid=pid, bootstrap=self.bootstrap)
