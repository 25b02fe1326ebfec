"""`kairos models …`: the model registry — versions, their metrics, which one is in use."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from kairos.cli.common import console, database
from kairos.db import registry as stored

app = typer.Typer(
    help="The model registry: trained versions and the one in use.", no_args_is_help=True
)


@app.command("list")
def list_versions(
    ctx: typer.Context,
    name: str | None = typer.Option(None, help="Only this model (ctr, cvr)"),
) -> None:
    """Every version, newest first, with its validation metrics and status."""
    with database(ctx, upgrade=True) as engine:
        versions = stored.versions(engine, name)
    table = Table("version", "kind", "status", "examples", "AUC", "log loss", "trained on", "note")
    for v in versions:
        table.add_row(
            v.id,
            v.kind,
            v.status,
            str(v.examples),
            f"{v.metrics.get('auc', 0):.4f}",
            f"{v.metrics.get('log_loss', 0):.5f}",
            v.trained_on,
            v.note,
        )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, version: str = typer.Argument(..., help="e.g. ctr-v3")) -> None:
    """One version's record as JSON."""
    with database(ctx) as engine:
        found = stored.get(engine, version)
    if found is None:
        console.print(f"[red]error:[/red] no model version {version!r}")
        raise typer.Exit(1)
    record = found[0]
    typer.echo(
        json.dumps(
            {
                "id": record.id,
                "name": record.name,
                "kind": record.kind,
                "status": record.status,
                "created_at": record.created_at.isoformat(),
                "trained_on": record.trained_on,
                "examples": record.examples,
                "validation": record.validation,
                "metrics": record.metrics,
                "note": record.note,
                "snapshot_bytes": len(found[1]),
            },
            indent=2,
        )
    )
