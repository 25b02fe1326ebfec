"""`kairos evaluate`: off-policy estimates of a model's click rate on logged decisions."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kairos.cli.common import console
from kairos.learn import evaluate as evaluation
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.ftrl import Ftrl

LOG = typer.Option(..., "--log", exists=True, dir_okay=False, help="JSON lines of decisions")
MODEL = typer.Option(..., "--model", exists=True, dir_okay=False, help="A model snapshot")


def evaluate(
    log: Path = LOG,
    model: Path = MODEL,
    clip: float | None = typer.Option(None, help="Clip importance weights at this value"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the estimates here"),
) -> None:
    """IPS, self-normalised IPS and doubly robust estimates, with 95 % intervals, of the click
    rate the model's policy (its best-scored candidate) would have had on the logged decisions."""
    data = model.read_bytes()
    try:
        scorer = _restore(data)
        report = evaluation.evaluate(scorer, evaluation.read(log), clip)
    except evaluation.LogError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))


def _restore(data: bytes) -> Ftrl | BayesianLogistic:
    """Either kind of snapshot: the FTRL model keeps z and n, the Bayesian one m and q."""
    try:
        return BayesianLogistic.restore(data)
    except KeyError:
        return Ftrl.restore(data)
