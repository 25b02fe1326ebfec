"""`kairos bench …`: self-contained benchmarks that write JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress

from kairos.bench import decisions as decisions_bench
from kairos.bench import featurestore, freshness, ingest, personalize, recommend, upworthy
from kairos.bench import stream as stream_bench
from kairos.bench.harness import write_report
from kairos.cli.common import clean_errors, console, settings_of
from kairos.processes import interrupt_on_sigterm

app = typer.Typer(
    help="Benchmarks, each against a baseline measured in the same run.", no_args_is_help=True
)


def _progress(message: str) -> None:
    console.print(f"[dim]{message}[/dim]")


def _report(name: str, json_path: Path | None, measure: Callable[[], dict[str, object]]) -> None:
    """Run one benchmark, write its JSON report, and print it. A SIGTERM stops the broker and
    servers the benchmark started, as Ctrl-C does."""
    interrupt_on_sigterm()
    with clean_errors():
        results = measure()
    print(json.dumps(write_report(name, results, json_path), indent=2))


JSON_PATH = typer.Option(None, "--json", help="Write the report to this file")
QUICK = typer.Option(False, "--quick", help="A run of at most about a minute")


@app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    duration: float = typer.Option(20.0, help="Seconds of load per side"),
    batch_size: int = typer.Option(500, help="Events per HTTP request"),
    connections: int = typer.Option(8, help="Concurrent HTTP connections"),
    workers: int = typer.Option(1, help="API worker processes"),
) -> None:
    """Events/s through `POST /v1/events/batch` vs. produced straight to Kafka."""
    plan = ingest.IngestPlan(
        duration_s=min(duration, 10.0) if quick else duration,
        batch_size=batch_size,
        connections=connections,
        workers=workers,
    )
    _report("ingest", json_path, lambda: ingest.run(settings_of(ctx), plan, _progress))


@app.command("freshness")
def freshness_command(
    ctx: typer.Context,
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    samples: int = typer.Option(200, help="Interactions measured"),
) -> None:
    """Time from an interaction posted to the API to updated features in the feature store."""
    plan = freshness.FreshnessPlan(samples=min(samples, 40) if quick else samples)
    _report("freshness", json_path, lambda: freshness.run(settings_of(ctx), plan, _progress))


@app.command("stream")
def stream_command(
    ctx: typer.Context,
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    events: int = typer.Option(100_000, help="Events loaded and processed"),
) -> None:
    """Events/s through the stream processor vs. a bare consume-and-commit loop."""
    plan = stream_bench.StreamPlan(events=min(events, 20_000) if quick else events)
    _report("stream", json_path, lambda: stream_bench.run(settings_of(ctx), plan, _progress))


@app.command("featurestore")
def featurestore_command(
    ctx: typer.Context,
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    users: int = typer.Option(100_000, help="Users in the store"),
    reads: int = typer.Option(100_000, help="Reads per measurement, of random users"),
    mget_batch: int = typer.Option(50, min=1, help="Users per pipelined MGET"),
) -> None:
    """Read latency and reads/s of the memory and Redis stores vs. a plain dict lookup.

    Starts its own redis-server on a free port unless KAIROS_REDIS_URL is set.
    """
    plan = featurestore.FeatureStorePlan(
        users=min(users, 5_000) if quick else users,
        reads=min(reads, 5_000) if quick else reads,
        mget_batch=mget_batch,
    )
    _report("featurestore", json_path, lambda: featurestore.run(settings_of(ctx), plan, _progress))


@app.command("decisions")
def decisions_command(
    ctx: typer.Context,
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    rate: float = typer.Option(1000.0, help="Requests/s of the fixed-rate latency run"),
    duration: float = typer.Option(20.0, help="Seconds per measurement"),
    connections: int | None = typer.Option(
        None, min=1, help="Connections of the closed-loop runs [default: 4 per API worker]"
    ),
    workers: int = typer.Option(1, min=1, help="API worker processes (both endpoints)"),
) -> None:
    """Decisions/s and latency over HTTP on 1,000 ads, vs. a bare endpoint of the same server."""
    plan = decisions_bench.DecisionsPlan(
        duration_s=min(duration, 5.0) if quick else duration,
        warmup_s=2.0 if quick else 10.0,
        rate=rate,
        # the kernel spreads connections over the workers by hash: a few per worker keep
        # each one busy
        connections=connections or 4 * workers,
        workers=workers,
    )
    _report("decisions", json_path, lambda: decisions_bench.run(settings_of(ctx), plan, _progress))


@app.command("personalize")
def personalize_command(
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    top: list[int] = typer.Option(
        [10, 50, 200], "--top", min=1, help="Candidates rescored per placement (repeatable)"
    ),
    decisions: int = typer.Option(3000, min=1, help="Decisions per K"),
) -> None:
    """The decision engine's CPU with personalised pCTR (K candidates rescored with the
    user's features) vs. the model's context-free scores, in process."""
    plan = personalize.PersonalizePlan(
        tops=tuple(top),
        decisions=min(decisions, 500) if quick else decisions,
        warmup=100 if quick else 500,
        examples=4_000 if quick else 20_000,
    )
    _report("personalize", json_path, lambda: personalize.run(plan, _progress))


@app.command("upworthy")
def upworthy_command(
    json_path: Path | None = JSON_PATH,
    data: Path = typer.Option(
        Path("../shared/data/upworthy/upworthy_clean.parquet"),
        help="The Upworthy Research Archive's packages (parquet)",
    ),
    batch: int = typer.Option(1000, help="Impressions of a test between two model updates"),
    seed: int = typer.Option(0, help="Seed of the clicks drawn and of the policies"),
    tests: int | None = typer.Option(None, help="Replay only the first N tests"),
    text_cutoff: int = typer.Option(201426, help="Text model: trained before this week (YYYYWW)"),
) -> None:
    """Creative selection replayed on real headline x image tests: the ad server's policy vs.
    the uniform split, the per-test best package and per-test Bernoulli Thompson sampling."""
    plan = upworthy.ReplayPlan(batch=batch, seed=seed, limit=tests, text_cutoff=text_cutoff)
    with Progress(console=console, transient=True) as bars:

        def bar(total: int) -> Callable[[int], None]:
            task = bars.add_task("tests", total=total)
            return lambda done: bars.advance(task, done)

        _report("upworthy", json_path, lambda: upworthy.run(data, plan, _progress, bar))


@app.command("recommend")
def recommend_command(
    json_path: Path | None = JSON_PATH,
    quick: bool = QUICK,
    seed: int = typer.Option(0, help="Seed of the synthetic shop and its sessions"),
) -> None:
    """The hybrid product recommender vs. collaborative-only, content-only and popularity on
    next-item prediction (recall@10, NDCG@10) in a seeded synthetic shop."""
    plan = recommend.RecommendPlan(seed=seed)
    if quick:
        plan = recommend.RecommendPlan(
            products=400,
            categories=10,
            users=300,
            train_sessions=2500,
            test_sessions=500,
            seed=seed,
        )
    _report("recommend", json_path, lambda: recommend.run(plan, _progress))
