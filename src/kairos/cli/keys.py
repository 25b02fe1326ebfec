"""`kairos keys …`: API keys of the management API (the secret is printed once, to stdout)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from kairos.cli.common import clean_errors, console, database
from kairos.db import apikeys
from kairos.db.apikeys import Scope

app = typer.Typer(help="API keys of the management API.", no_args_is_help=True)


@contextmanager
def _session(ctx: typer.Context) -> Iterator[Session]:
    try:
        with database(ctx) as engine, clean_errors(), Session(engine) as session, session.begin():
            yield session
    except (OperationalError, ProgrammingError) as exc:  # most likely: tables not there yet
        console.print(f"[red]error:[/red] {exc.orig} — has `kairos db upgrade` run?")
        raise typer.Exit(1) from exc


@app.command()
def create(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Who or what uses the key"),
    scope: list[Scope] = typer.Option(
        ..., "--scope", help="read (GET), write (POST/PATCH/DELETE), admin (keys; implies all)"
    ),
) -> None:
    """Create a key and print its secret: it is shown this once, only its hash is kept."""
    with _session(ctx) as session:
        new = apikeys.create_key(session, name, scope)
    console.print(f"created {new.key.id} ({', '.join(sorted(new.key.scopes))}); the secret:")
    typer.echo(new.secret)


@app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List keys: id, name, secret prefix, scopes, created, last used, revoked."""
    with _session(ctx) as session:
        keys = apikeys.list_keys(session)
    for key in keys:
        used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
        revoked = (
            f"revoked {key.revoked_at.isoformat(timespec='seconds')}" if key.revoked_at else ""
        )
        created = key.created_at.isoformat(timespec="seconds")
        scopes = ",".join(sorted(key.scopes))
        line = f"{key.id}  {key.name}  {key.prefix}…  {scopes}  created {created}  used {used}"
        typer.echo(f"{line}  {revoked}".rstrip())


@app.command()
def revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="The key's id")) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    with _session(ctx) as session:
        key = apikeys.revoke_key(session, key_id)
    console.print(f"revoked {key.id} ({key.name})")
