"""The decisions benchmark's part with a click model in use, as a server is once `kairos learn`
has published one: the model prices the pay-per-click ads (pCTR) and chooses each dynamic
creative's combination by Thompson sampling, with its propensity.

The model is trained on synthetic impressions of the benchmark's inventory (`bench.clicks`)
and published to the models topic the servers follow; the benchmark waits until a server
says (`kairos_model_info`) that it uses it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.orm import Session

from kairos.adserver import catalog as catalogs
from kairos.bench import clicks, loadgen, loops
from kairos.bench.harness import BenchEnv, Progress
from kairos.db import catalog as catalog_db
from kairos.db.engine import make_engine
from kairos.errors import KairosError
from kairos.kafka.topics import Topics
from kairos.learn.app import CTR, publish_snapshot

if TYPE_CHECKING:
    from kairos.bench.decisions import DecisionsPlan

WAIT_S = 30.0  # for a server to take the model up
FOLLOW_S = 1.0  # then for every worker's follower (each polls the topic twice a second)


class ModelNotInUse(KairosError):
    pass


def publish(bootstrap: str, topic: str, database: Path, examples: int, users: int) -> str:
    """Train the click model on the catalog in `database` and publish it; its version."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            rows = catalog_db.load_catalog_rows(session)
    finally:
        engine.dispose()
    catalog = catalogs.build(version="bench", **vars(rows))
    model = clicks.trained(list(catalog.ads.values()), examples, users)
    version = f"bench-{time.time_ns()}"
    if not publish_snapshot(bootstrap, topic, CTR, model.snapshot(), version):
        raise ModelNotInUse("the click model could not be published", detail={"topic": topic})
    return version


def wait_until_used(base: str, version: str, timeout_s: float = WAIT_S) -> None:
    """Until the server at `base` uses click model `version`."""
    wanted = f'kairos_model_info{{model="{CTR}",version="{version}"}} 1.0'
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if wanted in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
            time.sleep(FOLLOW_S)
            return
        time.sleep(0.2)
    raise ModelNotInUse("the server did not take the click model up", detail={"version": version})


def run(
    env: BenchEnv, topics: Topics, target: loops.Target, plan: DecisionsPlan, progress: Progress
) -> dict[str, object] | None:
    """The closed loops again once a click model is in use."""
    if not plan.model_examples:
        return None
    progress(f"publishing a click model learnt from {plan.model_examples:,} impressions")
    database = env.workdir / "bench.db"
    version = publish(env.bootstrap, topics.models, database, plan.model_examples, plan.users)
    wait_until_used(target.base, version)
    loadgen.closed_loop(
        target.host, target.port, target.deciding, plan.connections, plan.warmup_s / 2
    )
    fill_rate, dynamic_rate = loops.fill_rate(target.base, target.bodies)
    rounds = max(1, plan.rounds // 2)
    progress(f"decisions with the model and the bare endpoint, {rounds} rounds")
    measured = loops.alternating(target, rounds, plan.duration_s / 2, plan.connections)
    return {
        "model_version": version,
        **asdict(loops.summary(measured)),
        "fill_rate": round(fill_rate, 3),
        "dynamic_share_of_ads_served": round(dynamic_rate, 3),
    }
