"""`kairos stream`: run a stream processor (start more for more partitions)."""

from __future__ import annotations

import typer

from kairos.cli.common import clean_errors, settings_of


def stream(ctx: typer.Context) -> None:
    """Clean, enrich and turn events into per-user features (a consumer-group member)."""
    from kairos.stream.app import run

    with clean_errors():
        run(settings_of(ctx))


def persist(ctx: typer.Context) -> None:
    """Write interaction history, performance roll-ups and profiles to the database, exactly
    once (a consumer-group member: start more for more partitions)."""
    from kairos.persist.app import run

    with clean_errors():
        run(settings_of(ctx))
