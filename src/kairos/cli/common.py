"""Helpers every command shares: settings from the context, errors as clean exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy import Engine

from kairos import runtime
from kairos.db import migrate
from kairos.errors import KairosError
from kairos.kafka.local import LocalBroker
from kairos.settings import Settings

console = Console(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    found = ctx.find_root().obj
    assert isinstance(found, Settings), "the root callback sets the settings"
    return found


def local_broker(settings: Settings) -> LocalBroker:
    return LocalBroker(
        settings.kafka_dir,
        settings.resolved_kafka_libs,
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        heap=settings.kafka_heap,
    )


@contextmanager
def database(ctx: typer.Context, *, upgrade: bool = False) -> Iterator[Engine]:
    """The configured database for one command (migrated first with `upgrade`); its
    connections are closed when the command is done with it."""
    engine = runtime.database(settings_of(ctx))
    try:
        if upgrade:
            migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def clean_errors() -> Iterator[None]:
    """Print a KairosError as one readable line and exit 1, instead of a traceback."""
    try:
        yield
    except KairosError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
