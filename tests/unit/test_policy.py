"""Thompson sampling as the ad server's composer: a learned preference among a dynamic
creative's combinations shows in what is served, with the propensity of each choice."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

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
    GoalType,
    Placement,
    Site,
    Zone,
)
from kairos.adserver.scoring import HistoricalCtrScorer
from kairos.creative import assembly
from kairos.creative.model import Slot, SlotKind, Template, Variant
from kairos.learn import features
from kairos.learn.bayes import BayesianLogistic, BayesParams
from kairos.learn.policy import ThompsonComposer, ThompsonPolicy, examples_of
from tests.learning import described

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def catalog(goal: GoalType = GoalType.IMPRESSIONS) -> catalogs.Catalog:
    flight = Flight(
        id="f", campaign_id="c", name="F", start=NOW - timedelta(days=1), price=2, goal_type=goal
    )
    return catalogs.build(
        version="t",
        advertisers=[Advertiser(id="adv", name="A")],
        campaigns=[Campaign(id="c", advertiser_id="adv", name="C")],
        flights=[flight],
        creatives=[Creative(id="cr", advertiser_id="adv", name="Cr", template_id="tp")],
        ads=[Ad(id="ad", flight_id="f", creative_id="cr")],
        sites=[Site(id="s", name="S", domain="s.example")],
        zones=[Zone(id="z", site_id="s", name="Z")],
        placements=[Placement(id="p", zone_id="z", name="P")],
        templates=[
            Template(
                id="tp",
                advertiser_id="adv",
                name="T",
                slots=[Slot(name="headline", kind=SlotKind.TEXT, default="x")],
                html="<b>{{ headline }}</b>",
            )
        ],
        variants=[
            Variant(id=f"h{k}", advertiser_id="adv", slot="headline", value=f"H{k}")
            for k in range(3)
        ],
    )


def test_the_learned_combination_wins_most_decisions_with_its_propensity() -> None:
    model = BayesianLogistic(BayesParams(bits=14, crosses=features.DEFAULT_CROSSES), seed=1)
    rng = random.Random(2)
    rates = {"h0": 0.04, "h1": 0.09, "h2": 0.075}
    xs, ys = [], []
    for _ in range(3000):  # history: the decisions' features, as the stream labels them
        headline = rng.choice(list(rates))
        xs.append(described(headline, {"device": "mobile"}))
        ys.append(1.0 if rng.random() < rates[headline] else 0.0)
    model.learn_many(xs, np.asarray(ys))
    engine = Engine(catalog(), HistoricalCtrScorer(), rng=random.Random(3))
    engine.compose = ThompsonComposer(ThompsonPolicy(model))
    served = []
    for n in range(300):
        ctx = RequestContext(now=NOW, user_key=f"{n:032x}", features={"device": "mobile"})
        (result,) = engine.decide(DecisionRequest([PlacementRequest("p")], ctx), None)
        (choice,) = result.choices
        assert choice.combination is not None
        assert 0 < choice.propensity <= 1
        assert choice.propensity == choice.won.propensity * choice.combination_share
        served.append(choice.combination.elements["headline"])
    counts = Counter(served)
    assert counts.most_common(1)[0][0] == "h1"
    assert counts["h1"] > 0.5 * len(served)
    assert len(counts) >= 2  # with this little history it still explores


def test_one_choice_at_a_time_and_many_at_once_agree() -> None:
    model = BayesianLogistic(BayesParams(bits=12), seed=1)
    xs = [{"el": f"v{k}"} for k in range(3)]
    model.learn_many(xs, [20, 30, 40], [1000, 1000, 1000])
    policy = ThompsonPolicy(model, draws=50)
    singles = Counter(policy.choose(xs)[0] for _ in range(3000))
    many = ThompsonPolicy(BayesianLogistic.restore(model.snapshot())).allocate(xs, 3000)
    for k in range(3):
        assert abs(singles[k] - many[k]) < 200  # the same distribution


def test_a_campaigns_exploration_budget_caps_its_non_best_choices() -> None:
    model = BayesianLogistic(BayesParams(bits=12), seed=2)
    xs = [{"el": f"v{k}"} for k in range(4)]
    model.learn_many(xs, [10, 11, 12, 13], [1000, 1000, 1000, 1000])  # barely told apart
    policy = ThompsonPolicy(model, draws=20)
    best = policy.best(xs)
    assert best == 3
    free = [policy.choose(xs, campaign="free")[0] for _ in range(400)]
    assert sum(c != best for c in free) > 150  # unbudgeted: explores a lot
    capped = [policy.choose(xs, campaign="c", budget=0.1) for _ in range(400)]
    spend = policy.spend["c"]
    assert spend.served == 400
    assert spend.explored == sum(c != best for c, _ in capped) <= 0.1 * 400 + 1
    forced = [c for c, p in capped if p == 1.0]  # over budget: the best, with certainty
    assert len(forced) > 200
    assert set(forced) == {best}
    counts = policy.allocate(xs, 1000, campaign="bulk", budget=0.05)
    assert counts.sum() == 1000
    assert 1000 - counts[best] <= 50
    assert policy.spend["bulk"].explored == 1000 - counts[best]
    none = policy.allocate(xs, 500, campaign="none", budget=0.0)
    assert none[best] == 500


def test_flights_with_a_conversion_goal_choose_by_the_conversion_model() -> None:
    def trained(rates: dict[str, float]) -> BayesianLogistic:
        model = BayesianLogistic(BayesParams(bits=14, crosses=features.DEFAULT_CROSSES), seed=4)
        xs = [described(headline) for headline in rates]
        model.learn_many(xs, [5000 * r for r in rates.values()], [5000] * len(rates))
        return model

    clicks = ThompsonPolicy(trained({"h0": 0.10, "h1": 0.02, "h2": 0.02}))
    conversions = ThompsonPolicy(trained({"h0": 0.001, "h1": 0.001, "h2": 0.02}))
    served: dict[GoalType, Counter[str]] = {}
    for goal in (GoalType.CLICKS, GoalType.CONVERSIONS):
        engine = Engine(catalog(goal), HistoricalCtrScorer(), rng=random.Random(5))
        engine.compose = ThompsonComposer(clicks, conversions)
        served[goal] = Counter()
        for n in range(100):
            ctx = RequestContext(now=NOW, user_key=f"{n:032x}", features={})
            (result,) = engine.decide(DecisionRequest([PlacementRequest("p")], ctx), None)
            (choice,) = result.choices
            assert choice.combination is not None
            served[goal][choice.combination.elements["headline"]] += 1
    assert served[GoalType.CLICKS]["h0"] > 90
    assert served[GoalType.CONVERSIONS]["h2"] > 90


def test_exploration_follows_the_share_of_the_campaign_still_to_serve() -> None:
    from kairos.learn.app import click_params
    from kairos.learn.policy import remaining_share

    start = NOW - timedelta(days=1)
    timed = Flight(id="f", campaign_id="c", name="F", start=start, end=start + timedelta(days=4))
    assert remaining_share(timed, None, start) == 1.0
    assert remaining_share(timed, None, NOW) == 0.75
    assert remaining_share(timed, None, NOW + timedelta(days=9)) == 0.0
    goal = Flight(id="g", campaign_id="c", name="G", start=start, goal_amount=1000)
    assert remaining_share(goal, 300, NOW) == 0.7
    both = Flight(
        id="b",
        campaign_id="c",
        name="B",
        start=start,
        end=start + timedelta(days=4),
        goal_amount=10,
    )
    assert remaining_share(both, 5, NOW) == 0.5  # the goal is further along than the time
    assert remaining_share(Flight(id="n", campaign_id="c", name="N", start=start), 5, NOW) is None

    model = BayesianLogistic(click_params(12), seed=3)
    xs = [{"el": f"v{k}"} for k in range(3)]
    model.learn_many(xs, [20, 25, 30], [1000, 1000, 1000])
    policy = ThompsonPolicy(model)
    assert policy.exploration(None) is None  # the model's own (0.5)
    assert policy.exploration(1.0) == 1.0
    assert policy.exploration(0.01) == pytest.approx(0.1)  # the floor
    early = policy.allocate(xs, 20_000, remaining=1.0)
    late = policy.allocate(xs, 20_000, remaining=0.05)
    assert late[2] > early[2] + 2000  # near the end: mostly the best
    assert early[0] > late[0]


def test_assemblies_with_the_same_combinations_share_what_the_model_hashed_of_them() -> None:
    built = catalog()
    dynamic = built.dynamic
    template = dynamic.templates["tp"]
    # a page's keywords, say, make assemblies anew that the rules do not tell apart
    first, second = (
        assembly.assemble(template, dynamic.variants_of("adv"), [], {"keywords": [k]})
        for k in ("a", "b")
    )
    assert first is not None
    assert second is not None
    assert first is not second
    candidate = built.ads["ad"]
    ctx = RequestContext(now=NOW, placement_id="p")
    own = examples_of(candidate, first.everything, ctx).own
    assert isinstance(own, tuple)
    assert examples_of(candidate, second.everything, ctx).own is own
    assert [features.elements_part(c.elements) for c in first.everything] == list(own)
    drawn = examples_of(candidate, list(first.everything), ctx)  # a sample: made anew
    assert list(drawn.own) == list(own)
    assert isinstance(drawn.own, list)  # not kept by the hasher: another sample comes next
