"""`kairos bench decisions`: the decision API over HTTP on a realistic inventory, against a bare
endpoint of the same server stack in the same run.

The inventory (seeded, written through the same repository the management API uses): 1,000
live ads over 100 flights in 20 campaigns of 5 advertisers, with targeting (countries,
devices, keywords, day-parts, expressions on user features) and frequency caps; 8 placements.
Each request asks for 3 placements for one of 5,000 visitors (80 % consenting). Loads, from
`bench.loadgen` (one event loop, so the client takes little CPU from the server): closed loops
with a few keep-alive connections for the most requests/s, on the decisions and on the bare
endpoint in turn, a few rounds of each (the ratio is of their totals); an open loop at a fixed
rate (1,000/s by default) for latency at that rate, and one at half the closed loops' rate for
latency where the machine is not saturated. Then the closed loops again once a click model is
in use (`bench.with_model`), as it is in production after `kairos learn` has published one.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from sqlalchemy.orm import Session

from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    CapScope,
    CapUnit,
    Creative,
    Flight,
    FrequencyCap,
    Placement,
    RateType,
    Site,
    Targeting,
    Zone,
)
from kairos.bench import dco, loadgen, loops, with_model
from kairos.bench.harness import Progress, api_process, bench_env, percentiles_ms
from kairos.bench.workload import KEYWORDS, USER_AGENTS
from kairos.db import catalog as catalog_db
from kairos.db import feeds
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from kairos.kafka.admin import ensure_topics
from kairos.kafka.topics import Topics
from kairos.settings import Settings

SIZES = [(300, 250), (728, 90)]
SEGMENTS = ["vip", "new", "churned"]


@dataclass(frozen=True)
class DecisionsPlan:
    duration_s: float = 20.0  # of closed loop per endpoint, in `rounds` alternating parts
    rounds: int = 4
    # the broker's JIT compiles the produce path over the first seconds of decision logs,
    # taking a good part of a core from the API meanwhile: measure after it settles
    warmup_s: float = 10.0
    connections: int = 4  # of the closed loops; the CLI gives 4 per API worker
    workers: int = 1  # API processes serving both the decisions and the bare endpoint
    rate: float = 1000.0  # requests/s of the fixed-rate run
    ads: int = 1000
    flights: int = 100
    users: int = 5000
    model_examples: int = 20_000  # of the click model of the part with one (0: no such part)


def inventory(plan: DecisionsPlan, seed: int = 7) -> list[object]:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=1)
    items: list[object] = [Advertiser(id=f"adv{a}", name=f"Advertiser {a}") for a in range(5)]
    items += [
        Campaign(
            id=f"c{c}",
            advertiser_id=f"adv{c % 5}",
            name=f"Campaign {c}",
            caps=[FrequencyCap(scope=CapScope.CAMPAIGN, impressions=20, unit=CapUnit.DAY)]
            if c % 3 == 0
            else [],
        )
        for c in range(20)
    ]
    for f in range(plan.flights):
        items.append(
            Flight(
                id=f"f{f}",
                campaign_id=f"c{f % 20}",
                name=f"Flight {f}",
                start=start,
                end=start + timedelta(days=30),
                priority=1 + f % 3,
                rate_type=[RateType.CPM, RateType.CPC][f % 2],
                price=round(rng.uniform(0.5, 8.0), 2)
                if f % 2 == 0
                else round(rng.uniform(0.1, 1.0), 2),
                caps=[FrequencyCap(scope=CapScope.FLIGHT, impressions=5, unit=CapUnit.HOUR)]
                if f % 4 == 0
                else [],
                targeting=_targeting(f, rng),
            )
        )
    per_flight = plan.ads // plan.flights
    for f in range(plan.flights):
        advertiser = f"adv{(f % 20) % 5}"
        for n in range(per_flight):
            width, height = SIZES[(f + n) % 2]
            cid = f"cr{f}-{n}"
            items.append(
                Creative(
                    id=cid,
                    advertiser_id=advertiser,
                    name=cid,
                    width=width,
                    height=height,
                    image_url=f"https://cdn.example/{cid}.png",
                    click_url=f"https://shop.example/{cid}",
                    title=f"Offer {cid}",
                    template_id=f"tpl{advertiser[3:]}" if n % dco.DYNAMIC_SHARE == 0 else None,
                )
            )
            items.append(Ad(id=f"ad{f}-{n}", flight_id=f"f{f}", creative_id=cid, weight=1 + n))
    items += dco.templates(5)
    items += [
        Site(id="s1", name="News", domain="news.example"),
        *(Zone(id=f"z{z}", site_id="s1", name=f"zone {z}") for z in range(4)),
    ]
    for p in range(8):
        width, height = SIZES[p % 2]
        items.append(
            Placement(
                id=f"p{p}",
                zone_id=f"z{p % 4}",
                name=f"placement {p}",
                div_name=f"slot-{p}",
                sizes=[f"{width}x{height}"],
                floor_cpm=0.5,
            )
        )
    return items


def _targeting(f: int, rng: random.Random) -> Targeting:
    match f % 5:
        case 0:
            return Targeting()
        case 1:
            return Targeting(devices=["mobile", "tablet"])
        case 2:
            return Targeting(keywords=rng.sample(KEYWORDS, 3))
        case 3:
            return Targeting(exclude_keywords=["news"], hours=list(range(24)))
        case _:
            return Targeting(
                expression=f'interest.{rng.choice(KEYWORDS)} > 0.1 or segment == "vip"'
            )


def seed(database: Path, plan: DecisionsPlan) -> int:
    """The inventory written to a new SQLite database; how many ads it has."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        items = inventory(plan)
        with Session(engine) as session, session.begin():
            for item in items:
                catalog_db.insert(session, item)  # type: ignore[type-var]
            for feed_id, parsed in dco.products(5, KEYWORDS).items():
                feeds.store_import(session, feed_id, parsed)
    finally:
        engine.dispose()
    return sum(isinstance(i, Ad) for i in items)


def bodies(plan: DecisionsPlan, count: int = 500) -> list[bytes]:
    rng = random.Random(11)
    made = []
    for _ in range(count):
        user = rng.randrange(plan.users)
        slots = rng.sample(range(8), 3)
        made.append(
            orjson.dumps(
                {
                    "placements": [
                        {
                            "placement": f"slot-{s}",
                            "properties": {"segment": rng.choice(["vip", "new", "churned"])},
                        }
                        for s in slots
                    ],
                    "user_id": f"visitor-{user}",
                    "consent": {"personalization": user % 5 != 0},
                    "page_url": f"https://news.example/{rng.choice(KEYWORDS)}/story-{rng.randrange(500)}",
                    "keywords": rng.sample(KEYWORDS, 2),
                    "user_agent": rng.choice(USER_AGENTS),
                    "ip": f"203.0.113.{rng.randrange(1, 254)}",
                }
            )
        )
    return made


def _creative_share(base: str) -> float:
    """Time assembling and rendering dynamic creatives over time deciding, from the server's
    own counters (one worker's, when there are several)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(("kairos_creative_seconds_total", "kairos_decision_seconds_sum")):
            values[name] = float(value)
    creative = sum(v for k, v in values.items() if k.startswith("kairos_creative_seconds_total"))
    deciding = values.get("kairos_decision_seconds_sum", 0.0)
    return creative / deciding if deciding else 0.0


def _gc_pauses(base: str) -> dict[str, float]:
    """The server's garbage-collector pauses so far (`kairos_gc_pause_seconds`, one worker's
    when there are several): how many, their total, how many over 10 ms."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    count = total = under_10ms = 0.0
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("kairos_gc_pause_seconds_count"):
            count += float(value)
        elif name.startswith("kairos_gc_pause_seconds_sum"):
            total += float(value)
        elif name.startswith("kairos_gc_pause_seconds_bucket") and 'le="0.01"' in name:
            under_10ms += float(value)
    return {
        "count": int(count),
        "seconds": round(total, 3),
        "over_10ms": int(count - under_10ms),
    }


def run(settings: Settings, plan: DecisionsPlan, progress: Progress) -> dict[str, object]:
    with bench_env(settings, "decisions") as env:
        topics = Topics(env.topic_prefix, settings.topic_partitions, settings.topic_replication)
        ensure_topics(env.bootstrap, topics.specs())
        progress(f"seeding {plan.ads} ads over {plan.flights} flights")
        ads = seed(env.workdir / "bench.db", plan)
        requests = bodies(plan)
        with api_process(env, workers=plan.workers) as (base, pid):
            target = loops.Target.of(base, pid, requests)
            host, port, deciding = target.host, target.port, target.deciding
            progress(f"warming up the server and the broker, {plan.warmup_s:.0f}s")
            loadgen.closed_loop(host, port, deciding, plan.connections, plan.warmup_s)
            fill_rate, dynamic_rate = loops.fill_rate(base, requests)
            progress(
                f"decisions and the bare endpoint (GET /healthz), closed loops, "
                f"{plan.rounds} rounds of {plan.duration_s / plan.rounds:.1f}s each"
            )
            rounds = loops.alternating(target, plan.rounds, plan.duration_s, plan.connections)
            closed = loops.summary(rounds)
            creative_share = _creative_share(base)
            # latency where the machine is not saturated first: a saturated run leaves the
            # broker and the producer a backlog to work off
            half = max(closed.requests_per_s / 2, 1.0)
            progress(f"decisions at half the closed loop's rate, {half:.0f} requests/s")
            _, at_half = loadgen.fixed_rate(host, port, deciding, half, plan.duration_s)
            progress(f"decisions at a fixed {plan.rate:.0f} requests/s")
            achieved, fixed = loadgen.fixed_rate(host, port, deciding, plan.rate, plan.duration_s)
            gc_pauses = _gc_pauses(base)
            model = with_model.run(env, topics, target, plan, progress)
    at_rate = percentiles_ms(fixed)
    return {
        "requests_per_s": closed.requests_per_s,
        "p50_ms": at_rate["p50_ms"],
        "p99_ms": at_rate["p99_ms"],
        "rate": plan.rate,
        "achieved_rate": round(achieved, 1),
        "half_load_rate": round(half, 1),
        "half_load_p50_ms": percentiles_ms(at_half)["p50_ms"],
        "half_load_p99_ms": percentiles_ms(at_half)["p99_ms"],
        **asdict(closed),
        "ratio_by_round": [round(d.per_s / b.per_s, 3) if b.per_s else 0.0 for d, b in rounds],
        "rounds": plan.rounds,
        "ads": ads,
        "flights": plan.flights,
        "fill_rate": round(fill_rate, 3),
        "dynamic_share_of_ads_served": round(dynamic_rate, 3),
        "combinations_per_dynamic_ad": dco.HEADLINES * dco.IMAGES * dco.CTAS,
        "creative_share_of_decision_time": round(creative_share, 3),
        "placements_per_request": 3,
        "api_workers": plan.workers,
        "closed_loop_connections": plan.connections,
        "gc_pauses": gc_pauses,
        "gc_thresholds": list(settings.gc_thresholds),
        "gc_full_every_s": settings.gc_full_every_s,
        "with_model": model,
    }
