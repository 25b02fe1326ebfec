"""`kairos features …`: the online feature store (Redis sync, look-ups)."""

from __future__ import annotations

import signal
import threading

import msgspec
import typer

from kairos import runtime
from kairos.cli.common import clean_errors, console, settings_of
from kairos.featurestore import open_feature_store
from kairos.featurestore.sync import sync_to_redis

app = typer.Typer(
    help="The online feature store: in memory by default, Redis with KAIROS_FEATURE_STORE=redis.",
    no_args_is_help=True,
)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and a supervisor's stop


@app.command()
def sync(
    ctx: typer.Context,
    report_every: float = typer.Option(10.0, min=0.5, help="Seconds between progress logs"),
) -> None:
    """Materialise the features topic into Redis (KAIROS_REDIS_URL) until Ctrl-C."""
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        with clean_errors():
            sync_to_redis(settings_of(ctx), stop, report_every_s=report_every)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@app.command()
def get(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The pseudonymous user key (see --user-id)"),
    user_id: bool = typer.Option(
        False, "--user-id", help="USER is a first-party user id: hash it with the pseudonym key"
    ),
) -> None:
    """Print a user's features as JSON from the configured store (exit 1 when there are none)."""
    settings = settings_of(ctx)
    user_key = runtime.pseudonymizer(settings)(user) if user_id else user
    with clean_errors():
        store = open_feature_store(settings)
        try:
            features = store.get(user_key)
        finally:
            store.close()
    if features is None:
        console.print(f"no features for user_key={user_key}")
        raise typer.Exit(1)
    print(msgspec.json.format(msgspec.json.encode(features), indent=2).decode())
