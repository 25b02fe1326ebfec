"""`kairos kafka …`: fetch the jars, start/stop/status of the local broker, topics."""

from __future__ import annotations

import typer

from kairos import runtime
from kairos.cli.common import clean_errors, console, local_broker, settings_of
from kairos.kafka.admin import admin_client, ensure_topics, existing_topics
from kairos.kafka.local import fetch_jars

app = typer.Typer(
    help="The Kafka broker: a local single-node KRaft broker, or your cluster.",
    no_args_is_help=True,
)


@app.command()
def fetch(
    ctx: typer.Context, verbose: bool = typer.Option(False, help="Show Maven output")
) -> None:
    """Download Apache Kafka's jars from Maven Central (cached; quick when already done)."""
    settings = settings_of(ctx)
    with clean_errors():
        fetched = fetch_jars(settings.resolved_kafka_libs, quiet=not verbose)
    state = "fetched" if fetched else "already present"
    console.print(f"kafka jars {state} in {settings.resolved_kafka_libs}")


@app.command()
def start(
    ctx: typer.Context, timeout: float = typer.Option(120.0, help="Seconds to wait for readiness")
) -> None:
    """Start the local broker in the background and create the declared topics."""
    settings = settings_of(ctx)
    with clean_errors():
        if not settings.local_kafka:
            console.print(f"KAIROS_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}: using that cluster")
        else:
            fetch_jars(settings.resolved_kafka_libs)
            broker = local_broker(settings)
            pid = broker.start(timeout_s=timeout)
            console.print(f"broker up pid={pid} bootstrap={broker.bootstrap}")
        created = ensure_topics(settings.bootstrap_servers, runtime.topics(settings).specs())
        console.print(f"topics ready (created {len(created)})")


@app.command()
def stop(ctx: typer.Context) -> None:
    """Stop the local broker this project started (controlled shutdown, then SIGKILL)."""
    settings = settings_of(ctx)
    stopped = local_broker(settings).stop()
    console.print("broker stopped" if stopped else "broker was not running")


@app.command()
def status(ctx: typer.Context) -> None:
    """Whether the broker is up and answering. Exit code 0 when ready, 1 otherwise."""
    settings = settings_of(ctx)
    if settings.local_kafka:
        st = local_broker(settings).status()
        console.print(
            f"local broker running={st.running} ready={st.ready} pid={st.pid} "
            f"bootstrap={st.bootstrap}"
        )
        raise typer.Exit(0 if st.ready else 1)
    from kairos.kafka.admin import wait_for_brokers

    ready = wait_for_brokers(settings.bootstrap_servers, timeout_s=5)
    console.print(f"cluster bootstrap={settings.bootstrap_servers} ready={ready}")
    raise typer.Exit(0 if ready else 1)


@app.command()
def topics(ctx: typer.Context) -> None:
    """List the declared topics and whether each exists with its partition count."""
    settings = settings_of(ctx)
    with clean_errors():
        present = existing_topics(admin_client(settings.bootstrap_servers), timeout_s=10)
    for spec in runtime.topics(settings).specs():
        found = present.get(spec.name)
        mark = f"{found} partitions" if found is not None else "MISSING"
        policy = "compacted" if spec.compacted else "delete"
        console.print(f"{spec.name:34} {mark:14} {policy:9} {spec.purpose}")
