"""The click model as the auction's scorer: CPC ads are priced by what the model learnt of them,
a new ad starts from what its campaign taught, and with pruning the K best candidates are
rescored with the user's interests."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY

from kairos.adserver import catalog as catalogs
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import DecisionRequest, PlacementRequest
from kairos.adserver.engine import Engine
from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    Creative,
    Flight,
    Placement,
    RateType,
    Site,
    Zone,
)
from kairos.adserver.scoring import HistoricalCtrScorer
from kairos.adserver.server import AdServer
from kairos.db.engine import make_engine
from kairos.learn import features
from kairos.learn.app import click_params
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.scoring import ModelScorer

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
ADS = ("sport", "garden", "fresh")


def catalog(names: tuple[str, ...] = ADS) -> catalogs.Catalog:
    flights = [
        Flight(
            id=f"f-{name}",
            campaign_id="c-fresh" if name == "fresh" else "c",
            name=name,
            start=NOW - timedelta(days=1),
            rate_type=RateType.CPC,
            price=1.0,
        )
        for name in names
    ]
    return catalogs.build(
        version="t",
        advertisers=[Advertiser(id="adv", name="A")],
        campaigns=[
            Campaign(id="c", advertiser_id="adv", name="C"),
            Campaign(id="c-fresh", advertiser_id="adv", name="New"),
        ],
        flights=flights,
        creatives=[
            Creative(id=f"cr-{n}", advertiser_id="adv", name=n, html=f"<b>{n}</b>") for n in names
        ],
        ads=[Ad(id=f"ad-{n}", flight_id=f"f-{n}", creative_id=f"cr-{n}") for n in names],
        sites=[Site(id="s", name="S", domain="s.example")],
        zones=[Zone(id="z", site_id="s", name="Z")],
        placements=[Placement(id="p", zone_id="z", name="P")],
    )


def x(name: str, user: dict[str, object]) -> dict[str, object]:
    return features.user_part(user) | features.ad_part(
        advertiser_id="adv",
        campaign_id="c",
        flight_id=f"f-{name}",
        ad_id=f"ad-{name}",
        creative_id=f"cr-{name}",
        placement_id=None,
        elements={},
    )


def model() -> BayesianLogistic:
    """Overall sport gets 6 % and garden 2 %; but gardeners click garden at 20 %."""
    trained = BayesianLogistic(click_params(14), seed=1)
    gardener = {"interest.garden": 0.9}
    rows = [
        (x("sport", {}), 600, 10_000),
        (x("garden", {}), 200, 10_000),
        (x("sport", gardener), 20, 2_000),
        (x("garden", gardener), 400, 2_000),
    ]
    for _ in range(3):
        trained.learn_many([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return trained


def winners(engine: Engine, user: dict[str, object], n: int = 50) -> Counter[str]:
    won: Counter[str] = Counter()
    for k in range(n):
        ctx = RequestContext(now=NOW, user_key=f"{k:032x}", features=user)
        (result,) = engine.decide(DecisionRequest([PlacementRequest("p")], ctx), None)
        (choice,) = result.choices
        won[choice.candidate.ad.id] += 1
    return won


def test_the_model_prices_cpc_ads_and_new_ads_start_from_their_campaign() -> None:
    known = ("garden", "sport")  # ties go to the first
    scorer = ModelScorer(model(), version="ctr-test")
    engine = Engine(catalog(known), scorer, rng=random.Random(1))
    assert winners(engine, {}) == Counter({"ad-sport": 50})
    historical = Engine(catalog(known), HistoricalCtrScorer(), rng=random.Random(1))
    assert winners(historical, {}) != winners(engine, {})  # equal prices and CTRs: the first
    ads = list(catalog().ads.values())
    predictions = scorer.predict(ads, RequestContext(now=NOW))
    assert {p.model_version for p in predictions} == {"ctr-test"}
    by_ad = {c.ad.id: p.ctr for c, p in zip(ads, predictions, strict=True)}
    assert abs(by_ad["ad-sport"] - 0.06) < 0.02
    assert abs(by_ad["ad-garden"] - 0.02) < 0.01
    # never seen: what its advertiser taught — above the campaign's average (optimism in the
    # face of uncertainty: a new ad gets tried), never 0 or a coin's 0.5
    assert 0.02 < by_ad["ad-fresh"] < 0.2


def test_pruned_personalisation_rescores_the_best_candidates_for_the_user() -> None:
    gardener = {"interest.garden": 0.9}
    known = catalog(("sport", "garden"))
    context_free = Engine(known, ModelScorer(model()), rng=random.Random(2))
    assert winners(context_free, gardener)["ad-sport"] == 50  # the user is not looked at
    personal = Engine(known, ModelScorer(model(), personalize_top=2), rng=random.Random(2))
    assert winners(personal, gardener)["ad-garden"] == 50
    assert winners(personal, {})["ad-sport"] == 50
    pruned = ModelScorer(model(), personalize_top=1)  # only the best one is rescored
    ctx = RequestContext(now=NOW, user_key="u", features=gardener)
    ads = {c.ad.id: c for c in known.ads.values()}
    free = {
        c.ad.id: p.ctr
        for c, p in zip(ads.values(), pruned.predict(list(ads.values()), ctx), strict=True)
    }
    (sport,) = pruned.personalize([ads["ad-sport"]], ctx)
    assert sport.ctr < free["ad-sport"]  # rescored: gardeners do not click sport
    assert np.isfinite(sport.ctr)
    engine = Engine(known, pruned, rng=random.Random(2))
    (result,) = engine.decide(DecisionRequest([PlacementRequest("p")], ctx), None)
    (choice,) = result.choices
    bids = {
        b.candidate.ad.id: b.prediction.ctr for b in (choice.won.bid, choice.won.runner_up) if b
    }
    assert bids == {"ad-sport": sport.ctr, "ad-garden": free["ad-garden"]}  # not in the top 1


def test_the_server_says_which_version_of_each_model_it_uses(tmp_path: Path) -> None:
    server = AdServer(make_engine(f"sqlite:///{tmp_path / 'k.db'}"), None, scorer="model")
    server.use_model(model().snapshot(), "ctr-7")
    server.use_conversion_model(model().snapshot(), "cvr-3")
    assert isinstance(server.engine.scorer, ModelScorer)  # the auction prices with them now

    def used(name: str, version: str) -> float | None:
        return REGISTRY.get_sample_value("kairos_model_info", {"model": name, "version": version})

    assert used("ctr", "ctr-7") == used("cvr", "cvr-3") == 1.0
    server.use_model(model().snapshot(), "ctr-8")
    assert used("ctr", "ctr-8") == 1.0
    assert used("ctr", "ctr-7") is None  # the one before it is gone
