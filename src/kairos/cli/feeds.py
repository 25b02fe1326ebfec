"""`kairos feeds …`: import product feeds now, or keep scheduled feeds fresh."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from kairos.cli.common import clean_errors, console, database
from kairos.creative import jobs
from kairos.creative.feeds import FeedError

app = typer.Typer(help="Product feeds of dynamic creatives.", no_args_is_help=True)


@app.command("import")
def import_command(
    ctx: typer.Context,
    feed_id: str = typer.Argument(..., help="The feed (created with POST /v1/feeds)"),
    file: Path | None = typer.Option(None, "--file", help="CSV or JSON; default: the source"),
    fmt: str | None = typer.Option(None, "--format", help="csv or json (default: guessed)"),
) -> None:
    """Import a feed now and print the report (good rows in, bad rows with why)."""
    try:
        with database(ctx) as engine, clean_errors(), Session(engine) as session:
            data = file.read_bytes() if file is not None else None
            report = jobs.import_feed(session, feed_id, data, fmt)
    except FeedError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(report, default=str, indent=2))


@app.command()
def refresh(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One round, then exit"),
    every: float = typer.Option(30.0, help="Seconds between rounds"),
) -> None:
    """Re-import every feed whose refresh period has passed, from its source."""
    try:
        with database(ctx) as engine, clean_errors():
            if once:
                typer.echo(json.dumps(jobs.refresh_due(engine), default=str, indent=2))
            else:
                console.print(f"refreshing due feeds every {every:g}s — Ctrl-C stops")
                jobs.refresh_forever(engine, every)
    except KeyboardInterrupt:
        pass
