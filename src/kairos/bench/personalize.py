"""`kairos bench personalize`: what personalised pCTR (`KAIROS_PERSONALIZE_TOP = K`) costs the
decision engine, against the same decisions with the model's context-free scores (K = 0) in
the same run.

The decisions benchmark's inventory (1,000 ads over 100 flights, 8 placements, targeting and
caps, dynamic creatives) and requests (3 placements each, 5,000 visitors), every visitor with
interests in a few of the inventory's keywords. The click model is trained first on synthetic
impressions where a visitor clicks the ads of a topic of theirs more (each flight has a topic),
so personal scores differ from context-free ones. Then the same requests are decided in process
by the ad server's engine once per K (caps' memory emptied and the random generator seeded
alike each time): CPU per decision, its ratio to the baseline's, the share of placements
whose ad differs from the baseline's, and the share of dynamic creatives among the ads shown
(each one assembled and chosen among its combinations by Thompson sampling, so that a K whose
personal scores favour dynamic ads pays for their assembly too).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from kairos.adserver.caps import RecentDecisions
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import DecisionRequest, PlacementRequest, PlacementResult
from kairos.adserver.server import AdServer
from kairos.api.decision_body import decode
from kairos.bench import clicks
from kairos.bench import decisions as inventory
from kairos.bench.harness import Progress
from kairos.db.engine import make_engine
from kairos.stream.enrich import device_of
from kairos.stream.features import FeatureConfig, UserFeatures, snapshot


@dataclass(frozen=True)
class PersonalizePlan:
    tops: tuple[int, ...] = (10, 50, 200)  # the K measured, each against K = 0
    decisions: int = 3_000  # per K, after `warmup` more
    warmup: int = 500
    examples: int = 20_000  # synthetic impressions the click model learns from
    users: int = 5_000


@dataclass(frozen=True)
class _Request:
    decision: DecisionRequest
    features: UserFeatures


def run(plan: PersonalizePlan, progress: Progress) -> dict[str, object]:
    """Everything in process, on a scratch database (no broker)."""
    workdir = Path(tempfile.mkdtemp(prefix="kairos-bench-personalize-"))
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    try:
        progress("seeding 1,000 ads over 100 flights")
        decisions_plan = inventory.DecisionsPlan(users=plan.users)
        inventory.seed(workdir / "bench.db", decisions_plan)
        server = _server(engine)
        progress(f"training the click model on {plan.examples:,} synthetic impressions")
        model = clicks.trained(list(server.engine.catalog.ads.values()), plan.examples, plan.users)
        requests = _requests(decisions_plan, datetime.now(UTC))
        runs: dict[int, tuple[float, list[str]]] = {}
        for top in (0, *plan.tops):
            progress(f"{plan.decisions:,} decisions with personalize_top={top}")
            server.personalize_top = top
            server.use_model(model.snapshot(), f"bench-{top}")
            runs[top] = _decide(server, requests, plan)
    finally:
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    baseline_s, baseline_ads = runs[0]
    by_top = {}
    for top in plan.tops:
        seconds, ads = runs[top]
        changed = sum(a != b for a, b in zip(ads, baseline_ads, strict=True)) / len(ads)
        by_top[str(top)] = {
            "us_per_decision": round(1e6 * seconds / plan.decisions, 1),
            "ratio": round(seconds / baseline_s, 3),
            "placements_with_another_ad": round(changed, 3),
            "dynamic_share": _dynamic(ads),
        }
    return {
        "baseline_us_per_decision": round(1e6 * baseline_s / plan.decisions, 1),
        "baseline_dynamic_share": _dynamic(baseline_ads),
        "by_top": by_top,
        "decisions": plan.decisions,
        "placements_per_request": 3,
        "ads": len(server.engine.catalog.ads),
        "examples": plan.examples,
    }


def _dynamic(ads: list[str]) -> float:
    """The share of filled placements that showed a dynamic creative (each one assembled and
    chosen among its combinations by Thompson sampling: the larger part of a decision's cost
    once a model is in use)."""
    filled = [ad for ad in ads if ad]
    return round(sum(ad.endswith("*") for ad in filled) / len(filled), 3) if filled else 0.0


def _server(engine: Engine) -> AdServer:
    server = AdServer(engine, None, scorer="model")
    server.refresh_catalog()
    server.refresh_delivery()
    return server


def _requests(plan: inventory.DecisionsPlan, now: datetime) -> list[_Request]:
    """The decisions benchmark's bodies as the engine gets them, every visitor consenting."""
    found = []
    for body in inventory.bodies(plan):
        wanted = decode(body)
        user = int((wanted.user_id or "visitor-0").removeprefix("visitor-"))
        person = clicks.visitor(user, now)
        device = device_of(wanted.user_agent)
        ctx = RequestContext(
            now=now,
            user_key=person.user_key,
            personalization=True,
            device=device.type,
            os=device.os,
            browser=device.browser,
            page_url=wanted.page_url,
            keywords=frozenset(k.lower() for k in wanted.keywords),
            properties=dict(wanted.properties),
            features=snapshot(person, now, FeatureConfig()),
        )
        placements = [
            PlacementRequest(p.placement, properties=p.properties) for p in wanted.placements
        ]
        found.append(_Request(DecisionRequest(placements, ctx), person))
    return found


def _decide(
    server: AdServer, requests: list[_Request], plan: PersonalizePlan
) -> tuple[float, list[str]]:
    """CPU seconds of `plan.decisions` decisions (after the warm-up), and each placement's ad
    (noted alike for every K)."""
    engine = server.engine
    engine.recent, engine.rng = RecentDecisions(), random.Random(9)
    for n in range(plan.warmup):
        r = requests[n % len(requests)]
        engine.decide(r.decision, r.features)
    engine.recent, engine.rng = RecentDecisions(), random.Random(9)
    ads: list[str] = []
    started = time.process_time()
    for n in range(plan.decisions):
        r = requests[n % len(requests)]
        results = engine.decide(r.decision, r.features)
        ads += [_shown(res) for res in results]
    return time.process_time() - started, ads


def _shown(result: PlacementResult) -> str:
    """The placement's ad, marked when it is a dynamic creative (assembled per request)."""
    if not result.choices:
        return ""
    choice = result.choices[0]
    return f"{choice.candidate.ad.id}{'*' if choice.combination is not None else ''}"
