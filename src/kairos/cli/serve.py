"""`kairos api` (the API alone, scalable with workers) and `kairos up` (everything, one machine)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from types import FrameType

import typer
import uvicorn

from kairos import runtime
from kairos.api.app import create_app
from kairos.cli.common import clean_errors, console, local_broker, settings_of
from kairos.db import migrate
from kairos.kafka.admin import ensure_topics
from kairos.kafka.local import fetch_jars
from kairos.logs import kv
from kairos.processes import stop_process
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
        _serve(settings, access_log)
        return
    # Workers are separate processes: they read the same settings from the environment.
    os.environ.update({"KAIROS_HOST": settings.host, "KAIROS_PORT": str(settings.port)})
    uvicorn.run(
        "kairos.api.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        access_log=access_log,
        log_config=None,
    )


def _serve(settings: Settings, access_log: bool = False) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _child(*command: str) -> subprocess.Popen[bytes]:
    """Another `kairos` process (same settings, from the environment) supervised by `up`."""
    log.info("starting", extra=kv(process=" ".join(command)))
    return subprocess.Popen([sys.executable, "-m", "kairos", *command])


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
    signal.signal(signal.SIGTERM, _interrupt)
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
        for child in children:
            stop_process(child)
        if broker is not None and started_broker:
            console.print("stopping the local Kafka broker…")
            broker.stop()
