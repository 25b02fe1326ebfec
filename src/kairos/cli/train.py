"""`kairos train`: fit a click (or conversion) model offline from a file or the database's
history, report how good it is, record the version in the registry and promote it when it
beats the one in use on the same validation data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from kairos import runtime
from kairos.cli.common import console, database, settings_of
from kairos.learn import history, promotion
from kairos.learn import train as training
from kairos.learn.app import click_params
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.features import DEFAULT_CROSSES
from kairos.learn.ftrl import Ftrl, FtrlParams

FILE = typer.Option(
    None,
    "--file",
    exists=True,
    dir_okay=False,
    help="CSV or Parquet: a label column and feature columns",
)
VALIDATION = typer.Option(
    None, "--validation", exists=True, dir_okay=False, help="Score on this file instead"
)


def train(
    ctx: typer.Context,
    file: Path | None = FILE,
    from_history: bool = typer.Option(
        False, "--history", help="Train on the database's logged impressions and clicks"
    ),
    name: str = typer.Option("ctr", help="What the model predicts: ctr or cvr (registry name)"),
    kind: str = typer.Option("ftrl", help="ftrl (CTR model) or bayes (the serving TS model)"),
    label: str = typer.Option("label", help="The label column (0/1) of a file"),
    time_column: str | None = typer.Option(
        None, "--time-column", help="Split by this column: the latest fifth validates"
    ),
    validation: Path | None = VALIDATION,
    epochs: int = typer.Option(1, min=1, max=50),
    alpha: float = typer.Option(0.1, help="FTRL learning rate"),
    l1: float = typer.Option(1.0, help="L1 strength (sparsity)"),
    l2: float = typer.Option(1.0),
    bits: int = typer.Option(20, min=10, max=26, help="Hashed feature space: 2**bits weights"),
    crosses: bool = typer.Option(True, help="Add the default feature crosses"),
    register: bool = typer.Option(True, help="Record the version in the model registry"),
    publish: bool = typer.Option(
        False, help="When promoted, publish it to the models topic (ad servers pick it up)"
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Write the metrics here"),
    model_path: Path | None = typer.Option(None, "--model", help="Write the model snapshot here"),
) -> None:
    """Train on a file or the history, validate on the latest rows (or --validation), print
    AUC, log loss and calibration against a constant predictor, and register the version."""
    if (file is None) == (not from_history):
        raise typer.BadParameter("give one source: --file PATH or --history")
    if kind not in ("ftrl", "bayes") or name not in history.LABELS:
        raise typer.BadParameter("--kind is ftrl or bayes; --name is ctr or cvr")
    settings = settings_of(ctx)
    try:
        if file is not None:
            xs, ys, times = training.read_table(file, label, time_column)
            source = f"file {file.name}"
        else:
            with database(ctx, upgrade=True) as engine:
                xs, ys, times = history.read_history(engine, name)
            source = "database history"
        if validation is not None:
            vx, vy, _ = training.read_table(validation, label, time_column)
            data = training.Split(xs, ys, vx, vy)
        else:
            data = training.split(xs, ys, times)
    except training.TrainingError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    params: dict[str, Any] = {"bits": bits, "crosses": crosses}
    model: Ftrl | BayesianLogistic
    if kind == "ftrl":
        params |= {"alpha": alpha, "l1": l1, "l2": l2}
        chosen = DEFAULT_CROSSES if crosses else ()
        model = Ftrl(FtrlParams(alpha=alpha, l1=l1, l2=l2, bits=bits, crosses=chosen))
    else:
        model = BayesianLogistic(click_params(bits), name=name)
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress("training", *columns, console=console, transient=True) as bar:
        task = bar.add_task("train", total=len(data.train_x) * epochs)
        training.fit(
            model,
            data.train_x,
            data.train_y,
            epochs=epochs,
            progress=lambda n: bar.advance(task, n),
        )
    base_rate = float(data.train_y.mean())
    report: dict[str, Any] = {
        "model": kind,
        "name": name,
        "params": params,
        "trained_on": source,
        "train_examples": len(data.train_x),
        "train_rate": round(base_rate, 6),
        "validation": training.evaluate(model, data.valid_x, data.valid_y, base_rate),
    }
    if isinstance(model, Ftrl):
        report["nonzero_weights"] = model.nonzero
    if register:
        with database(ctx, upgrade=True) as engine:
            version, verdict = promotion.register(engine, name, model, data, source)
        report["version"] = version.id
        report["promoted"] = verdict.promote
        report["reason"] = verdict.reason
        if "current" in version.metrics:
            report["current_on_same_validation"] = version.metrics["current"]
        if publish and verdict.promote:
            report["published"] = _publish(settings, name, model, version.id)
    if model_path is not None:
        model_path.write_bytes(model.snapshot())
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))


def _publish(settings: Any, name: str, model: Ftrl | BayesianLogistic, version: str) -> bool:
    """Produce the promoted snapshot to the models topic, as `kairos learn` does."""
    if not isinstance(model, BayesianLogistic) or name != "ctr":
        console.print("[yellow]only the bayes ctr model is served: not published[/yellow]")
        return False
    from kairos.learn.app import CTR, publish_snapshot

    topic = runtime.topics(settings).models
    return publish_snapshot(settings.bootstrap_servers, topic, CTR, model.snapshot(), version)
