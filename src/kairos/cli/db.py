"""`kairos db …`: Alembic migrations of the configured database."""

from __future__ import annotations

import typer

from kairos.cli.common import console, database
from kairos.db import migrate

app = typer.Typer(
    help="The database (SQLite by default, PostgreSQL via KAIROS_DATABASE_URL).",
    no_args_is_help=True,
)


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    with database(ctx) as engine:
        migrate.upgrade(engine, revision)
        console.print(f"database at {migrate.current_revision(engine)}")


@app.command()
def downgrade(
    ctx: typer.Context, revision: str = typer.Argument(..., help="e.g. -1 or base")
) -> None:
    """Revert migrations down to REVISION."""
    with database(ctx) as engine:
        migrate.downgrade(engine, revision)
        console.print(f"database at {migrate.current_revision(engine)}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the database's revision and the newest one available."""
    with database(ctx) as engine:
        current = migrate.current_revision(engine)
    console.print(f"current={current} head={migrate.head_revision()}")


@app.command()
def revision(
    ctx: typer.Context,
    message: str = typer.Option(..., "-m", "--message"),
    autogenerate: bool = typer.Option(True, help="Diff the models against the database"),
) -> None:
    """Write a new migration script (developers: after changing kairos.db.models)."""
    with database(ctx) as engine:
        migrate.revision(engine, message, autogenerate=autogenerate)
