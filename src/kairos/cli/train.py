"""`kairos train`: fit the click model offline from a file and report how good it is."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from kairos.cli.common import console
from kairos.learn import train as training
from kairos.learn.features import DEFAULT_CROSSES
from kairos.learn.ftrl import Ftrl, FtrlParams


def train(
    file: Path = typer.Option(
        ..., "--file", exists=True, dir_okay=False, help="CSV: a label column and feature columns"
    ),
    label: str = typer.Option("label", help="The label column (0/1)"),
    time_column: str | None = typer.Option(
        None, "--time-column", help="Split by this column: the latest fifth validates"
    ),
    validation: Path | None = typer.Option(
        None,
        "--validation",
        exists=True,
        dir_okay=False,
        help="Score on this file instead of a split",
    ),
    epochs: int = typer.Option(1, min=1, max=50),
    alpha: float = typer.Option(0.1, help="FTRL learning rate"),
    l1: float = typer.Option(1.0, help="L1 strength (sparsity)"),
    l2: float = typer.Option(1.0),
    bits: int = typer.Option(20, min=10, max=26, help="Hashed feature space: 2**bits weights"),
    crosses: bool = typer.Option(True, help="Add the default feature crosses"),
    json_path: Path | None = typer.Option(None, "--json", help="Write the metrics here"),
    model_path: Path | None = typer.Option(None, "--model", help="Write the model snapshot here"),
) -> None:
    """Train the FTRL click model on a file, validate on later rows (or --validation), and
    print AUC, log loss and calibration against a constant predictor."""
    try:
        xs, ys, times = training.read_csv(file, label, time_column)
        if validation is not None:
            vx, vy, _ = training.read_csv(validation, label, time_column)
            data = training.Split(xs, ys, vx, vy)
        else:
            data = training.split(xs, ys, times)
    except training.TrainingError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    params = FtrlParams(
        alpha=alpha, l1=l1, l2=l2, bits=bits, crosses=DEFAULT_CROSSES if crosses else ()
    )
    model = Ftrl(params)
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
    report = {
        "model": "ftrl",
        "params": {"alpha": alpha, "l1": l1, "l2": l2, "bits": bits, "crosses": crosses},
        "train_examples": len(data.train_x),
        "train_rate": round(base_rate, 6),
        "nonzero_weights": model.nonzero,
        "validation": training.evaluate(model, data.valid_x, data.valid_y, base_rate),
    }
    if model_path is not None:
        model_path.write_bytes(model.snapshot())
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
    typer.echo(json.dumps(report, indent=2))
