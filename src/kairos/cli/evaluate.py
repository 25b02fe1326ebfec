"""`kairos evaluate`: off-policy estimates of a model's click rate on logged decisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import msgspec
import typer

from kairos import runtime
from kairos.cli.common import console, database, settings_of
from kairos.db import registry as stored
from kairos.domain.decisions import Decision
from kairos.domain.examples import LabelledExample
from kairos.kafka.compacted import read_values
from kairos.learn import evaluate as evaluation
from kairos.learn import registry

T = TypeVar("T")

LOG = typer.Option(
    None, "--log", exists=True, dir_okay=False, help="JSON lines of decisions (generic format)"
)
DECISIONS = typer.Option(
    False,
    "--decisions",
    help="Use this platform's own decision log (the decisions and labelled-examples topics)",
)
MODEL = typer.Option(None, "--model", exists=True, dir_okay=False, help="A model snapshot file")
VERSION = typer.Option(
    None, "--version", help="A registered model version (e.g. ctr-v3), or the name of one in use"
)


def evaluate(
    ctx: typer.Context,
    log: Path | None = LOG,
    own: bool = DECISIONS,
    model: Path | None = MODEL,
    version: str | None = VERSION,
    clip: float | None = typer.Option(None, help="Clip importance weights at this value"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the estimates here"),
) -> None:
    """IPS, self-normalised IPS and doubly robust estimates, with 95 % intervals, of the click
    rate the model's policy (its best-scored candidate) would have had on the logged decisions."""
    if (model is None) == (version is None):
        raise typer.BadParameter("give one policy: --model FILE or --version ID")
    if (log is None) == (not own):
        raise typer.BadParameter("give one log: --log FILE or --decisions")
    data = model.read_bytes() if model is not None else _registered(ctx, version or "")
    try:
        scorer = registry.restore(data)
        logged = evaluation.read(log) if log is not None else _own_log(ctx)
        report = evaluation.evaluate(scorer, logged, clip)
    except evaluation.LogError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))


def _registered(ctx: typer.Context, version: str) -> bytes:
    """A version's snapshot by id, or the promoted version of a model name."""
    with database(ctx) as engine:
        found = stored.get(engine, version) or stored.promoted(engine, version)
    if found is None:
        console.print(f"[red]error:[/red] no registered model {version!r} (see kairos models list)")
        raise typer.Exit(1)
    return found[1]


def _own_log(ctx: typer.Context) -> list[evaluation.Decision]:
    """The decisions topic and the labelled examples, read to their end."""
    settings = settings_of(ctx)
    topics = runtime.topics(settings)
    bootstrap = settings.bootstrap_servers
    decisions = msgspec.json.Decoder(Decision)
    examples = msgspec.json.Decoder(LabelledExample)
    with console.status("reading the decision log"):
        logged = [_decoded(decisions, v) for v in read_values(bootstrap, topics.decisions)]
        labelled = [_decoded(examples, v) for v in read_values(bootstrap, topics.labelled_examples)]
    return list(
        evaluation.from_decision_log(
            (d for d in logged if d is not None), (e for e in labelled if e is not None)
        )
    )


def _decoded(decoder: msgspec.json.Decoder[T], value: bytes) -> T | None:
    try:
        return decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None  # not a record of this schema: not evaluated
