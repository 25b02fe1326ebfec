"""Entry point of the `kairos` command."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from kairos import logs
from kairos.cli import (
    bench,
    build,
    db,
    evaluate,
    features,
    feeds,
    kafka,
    keys,
    learn,
    models,
    serve,
    status,
    stream,
    train,
)
from kairos.cli.common import console
from kairos.settings import Settings

app = typer.Typer(
    help="Kairos: real-time Dynamic Creative Optimization on Apache Kafka.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(db.app, name="db")
app.add_typer(bench.app, name="bench")
app.add_typer(features.app, name="features")
app.add_typer(keys.app, name="keys")
app.add_typer(feeds.app, name="feeds")
app.add_typer(models.app, name="models")
app.command()(serve.api)
app.command()(serve.up)
app.command()(stream.stream)
app.command()(stream.persist)
app.command()(status.status)
app.command()(train.train)
app.command()(learn.learn)
app.command()(evaluate.evaluate)
app.command(name="compile")(build.compile_modules)


@app.callback()
def root(ctx: typer.Context) -> None:
    """Settings come from KAIROS_* environment variables (see README: Configuration)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        console.print(f"[red]invalid configuration:[/red]\n{exc}")
        raise typer.Exit(2) from exc
    logs.configure(settings.log_level)
    ctx.obj = settings


def main() -> None:
    app()
