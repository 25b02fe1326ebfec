"""`kairos api` (the API alone, scalable with workers) and `kairos up` (everything, one machine)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import typer
import uvicorn

from kairos import runtime
from kairos.adserver import shared as serves
from kairos.api.app import create_app
from kairos.cli.common import clean_errors, console, local_broker, settings_of
from kairos.db import migrate
from kairos.errors import KairosError
from kairos.kafka.admin import ensure_topics
from kairos.kafka.local import fetch_jars
from kairos.logs import kv
from kairos.processes import interrupt_on_sigterm, stop_processes
from kairos.settings import Settings

log = logging.getLogger(__name__)

HOST = typer.Option(None, help="Bind address [env KAIROS_HOST, default 127.0.0.1]")
PORT = typer.Option(None, help="Port [env KAIROS_PORT, default 8000]")


def _bind(settings: Settings, host: str | None, port: int | None) -> Settings:
    update = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return settings.model_copy(update=update) if update else settings


def api(
    ctx: typer.Context,
    host: str | None = HOST,
    port: int | None = PORT,
    workers: int = typer.Option(1, min=1, help="Worker processes (each with its producer)"),
    access_log: bool = typer.Option(False, help="Log every request"),
) -> None:
    """Serve the REST API only (the broker and database must already be there)."""
    settings = _bind(settings_of(ctx), host, port)
    if workers == 1:
        worker = os.environ.get(WORKER) == "1"
        shared = _shared_serves(os.environ.get(SHARED_SERVES)) if worker else None
        _serve(settings, access_log, worker, shared)
        return
    with clean_errors():
        _supervise(settings, workers, access_log)


WORKER = "KAIROS_API_WORKER"  # set in the workers `kairos api --workers N` starts
# and the memory they share serves in: "FD:WORKERS:INDEX" (`adserver.shared`)
SHARED_SERVES = "KAIROS_API_SHARED_SERVES"
STARTUP_S = 30.0  # a worker that exits sooner than this after starting is not restarted


def _supervise(settings: Settings, workers: int, access_log: bool) -> None:
    """`workers` processes of `kairos api` on one port, each with a listening socket of its own
    (SO_REUSEPORT), so that the kernel spreads connections over them: with one socket shared
    by all (uvicorn's workers) whichever process is awake takes the new connections, and a
    burst of keep-alive connections can all land on one. Settings reach the workers through
    the environment; a worker that dies is restarted, one that cannot start stops them all.
    The workers share their serves (`adserver.shared`), so that caps hold across them."""
    shared = serves.create(workers)
    env = os.environ | {
        "KAIROS_HOST": settings.host,
        "KAIROS_PORT": str(settings.port),
        WORKER: "1",
    }
    command = ["api", *(["--access-log"] if access_log else [])]

    def start(n: int) -> tuple[subprocess.Popen[bytes], float]:
        own = env | {SHARED_SERVES: f"{shared}:{workers}:{n}"}  # a restart keeps its rings
        return _child(*command, env=own, pass_fds=(shared,)), time.monotonic()

    children = [start(n) for n in range(workers)]
    interrupt_on_sigterm()
    try:
        while True:
            time.sleep(0.5)
            for n, (child, started) in enumerate(children):
                if child.poll() is None:
                    continue
                if time.monotonic() - started < STARTUP_S:
                    raise KairosError(f"an API worker exited with {child.returncode} on start-up")
                log.warning("api worker exited", extra=kv(pid=child.pid, code=child.returncode))
                children[n] = start(n)
    except KeyboardInterrupt:
        pass
    finally:
        stop_processes([child for child, _ in children])
        os.close(shared)


def _shared_serves(spec: str | None) -> serves.SharedServes | None:
    """A worker's view of the serves its supervisor shares (`SHARED_SERVES`)."""
    if not spec:
        return None
    fd, workers, index = (int(part) for part in spec.split(":"))
    return serves.SharedServes(fd, workers, index)


def _serve(
    settings: Settings,
    access_log: bool = False,
    reuse_port: bool = False,
    shared: serves.SharedServes | None = None,
) -> None:
    config = uvicorn.Config(
        create_app(settings, shared_serves=shared),
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    if reuse_port:
        server.run(sockets=[_reuse_port_socket(settings)])
    else:
        server.run()
    if not server.started:  # as `uvicorn.run`: a failed start is a failed command
        raise SystemExit(3)


def _reuse_port_socket(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.host, settings.port))  # uvicorn listens once the app has started
    return sock


def _child(
    *command: str, env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """Another `kairos` process (same settings, from the environment) supervised here."""
    log.info("starting", extra=kv(process=" ".join(command)))
    return subprocess.Popen([sys.executable, "-m", "kairos", *command], env=env, pass_fds=pass_fds)


def up(ctx: typer.Context, host: str | None = HOST, port: int | None = PORT) -> None:
    """Start everything on this machine: broker, topics, migrations, API, stream processor,
    database writer.

    Ctrl-C stops them all.
    """
    settings = _bind(settings_of(ctx), host, port)
    broker = local_broker(settings) if settings.local_kafka else None
    started_broker = False
    children: list[subprocess.Popen[bytes]] = []
    # SIGTERM (a service manager, `timeout`) must clean up like Ctrl-C: uvicorn re-raises the
    # signal once it has shut down, and this handler turns it into KeyboardInterrupt here.
    interrupt_on_sigterm()
    try:
        with clean_errors():
            if broker is not None:
                fetch_jars(settings.resolved_kafka_libs)
                started_broker = broker.pid() is None
                console.print("starting the local Kafka broker…")
                broker.start()
            ensure_topics(settings.bootstrap_servers, runtime.topics(settings).specs())
            engine = runtime.database(settings)
            migrate.upgrade(engine)
            engine.dispose()
        log.info(
            "platform up",
            extra=kv(
                api=f"http://{settings.host}:{settings.port}",
                kafka=settings.bootstrap_servers,
                database=settings.resolved_database_url,
            ),
        )
        console.print(
            f"Kairos API on http://{settings.host}:{settings.port} "
            f"(docs at /docs) — Ctrl-C stops everything"
        )
        children = [
            _child("stream"),
            _child("persist"),
            _child("feeds", "refresh"),
            _child("learn"),
        ]
        _serve(settings)
    except KeyboardInterrupt:
        pass
    finally:
        stop_processes(children)
        if broker is not None and started_broker:
            console.print("stopping the local Kafka broker…")
            broker.stop()
