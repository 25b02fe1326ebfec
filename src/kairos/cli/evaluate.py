"""`kairos evaluate`: off-policy estimates of a model's click rate on logged decisions."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kairos import runtime
from kairos.cli.common import console, settings_of
from kairos.db import registry as stored
from kairos.learn import evaluate as evaluation
from kairos.learn import registry

LOG = typer.Option(..., "--log", exists=True, dir_okay=False, help="JSON lines of decisions")
MODEL = typer.Option(None, "--model", exists=True, dir_okay=False, help="A model snapshot file")
VERSION = typer.Option(
    None, "--version", help="A registered model version (e.g. ctr-v3), or the name of one in use"
)


def evaluate(
    ctx: typer.Context,
    log: Path = LOG,
    model: Path | None = MODEL,
    version: str | None = VERSION,
    clip: float | None = typer.Option(None, help="Clip importance weights at this value"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the estimates here"),
) -> None:
    """IPS, self-normalised IPS and doubly robust estimates, with 95 % intervals, of the click
    rate the model's policy (its best-scored candidate) would have had on the logged decisions."""
    if (model is None) == (version is None):
        raise typer.BadParameter("give one policy: --model FILE or --version ID")
    data = model.read_bytes() if model is not None else _registered(ctx, version or "")
    try:
        scorer = registry.restore(data)
        report = evaluation.evaluate(scorer, evaluation.read(log), clip)
    except evaluation.LogError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))


def _registered(ctx: typer.Context, version: str) -> bytes:
    """A version's snapshot by id, or the promoted version of a model name."""
    engine = runtime.database(settings_of(ctx))
    found = stored.get(engine, version) or stored.promoted(engine, version)
    if found is None:
        console.print(f"[red]error:[/red] no registered model {version!r} (see kairos models list)")
        raise typer.Exit(1)
    return found[1]
