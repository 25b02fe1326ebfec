"""`kairos stream`: run a stream processor (start more for more partitions)."""

from __future__ import annotations

import typer

from kairos.cli.common import clean_errors, settings_of


def stream(ctx: typer.Context) -> None:
    """Clean, enrich and turn events into per-user features (a consumer-group member)."""
    from kairos.stream.app import run  # the stream library is heavy: load it only here

    with clean_errors():
        run(settings_of(ctx))
