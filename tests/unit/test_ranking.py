"""A ranking refined per request (`ranking.reranked`: a few candidates' predictions changed)
is the ranking made anew from the changed predictions, in every part the engine reads; and
the engine refines with the user's features only the best few of the placement's pool."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver.auction import Prediction
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import DecisionRequest, PlacementRequest
from kairos.adserver.engine import Engine
from kairos.adserver.index import FlightIndex
from kairos.adserver.model import CapScope, CapUnit, FrequencyCap, RateType
from kairos.adserver.ranking import Ranked, rank, reranked
from tests.unit.test_adserver_engine import NOW, USER, build, flight

CTRS = (0.01, 0.02, 0.05)  # few values: ties, which go to the first ranked
AD_CAP = FrequencyCap(scope=CapScope.AD, impressions=1, period=1, unit=CapUnit.DAY)


@st.composite
def rankings(draw: st.DrawFn) -> tuple[list[Candidate], list[Prediction], FlightIndex]:
    flights = [
        flight(
            f"f{n}",
            priority=draw(st.sampled_from((1, 2, 9))),
            rate_type=draw(st.sampled_from((RateType.CPM, RateType.CPC))),
            price=draw(st.sampled_from((1.0, 2.0))),
            caps=[AD_CAP] if draw(st.booleans()) else [],
        )
        for n in range(draw(st.integers(1, 5)))
    ]
    catalog = build(flights, ads_per_flight=draw(st.integers(1, 4)))
    candidates = list(catalog.ads.values())
    predictions = [Prediction(draw(st.sampled_from(CTRS))) for _ in candidates]
    return candidates, predictions, FlightIndex(catalog)


def parts(r: Ranked) -> dict[str, object]:
    """What the engine reads of a ranking, comparably."""
    return {
        "candidates": [c.ad.id for c in r.candidates],
        "predictions": list(r.predictions),
        "ecpms": list(r.ecpms),
        "ecpm": r.ecpm.tolist(),
        "priorities": list(r.priorities),
        "priority": r.priority.tolist(),
        "flight": r.flight.tolist(),
        "house": r.house.tolist(),
        "by_ad": dict(r.by_ad),
        "by_creative": {k: list(r.by_creative[k]) for k in r.by_creative},
        "ad_capped": sorted(r.ad_capped),
        "served_keys": list(r.served_keys),
        "ctr": r.ctr.tolist(),
        "origin": r.origin.tolist(),
    }


@settings(max_examples=150, deadline=None)
@given(rankings(), st.data())
def test_a_refined_ranking_is_the_ranking_made_anew(
    made: tuple[list[Candidate], list[Prediction], FlightIndex], data: st.DataObject
) -> None:
    candidates, predictions, index = made
    base = rank(candidates, predictions, index)
    positions = data.draw(st.sets(st.integers(0, len(candidates) - 1)))
    changed = {p: Prediction(data.draw(st.sampled_from(CTRS)), 0.1, "personal") for p in positions}
    refined, order = reranked(base, changed)
    anew = list(predictions)
    for pos, prediction in changed.items():
        anew[int(base.origin[pos])] = prediction
    assert parts(refined) == parts(rank(candidates, anew, index))
    flights = np.array(
        data.draw(
            st.lists(st.booleans(), min_size=len(index.position), max_size=len(index.position))
        ),
        dtype=bool,
    )
    pool = base.pool(flights, frozenset())
    assert list(pool.reordered(order).survivors) == list(
        refined.pool(flights, frozenset()).survivors
    )


class Halving:
    """A context-free scorer of pCTR 0.01, 0.02, … in the catalog's order that halves the pCTR
    of whatever it personalizes, and says which candidates it was asked about."""

    context_free = True

    def __init__(self, top: int, candidates: list[Candidate]) -> None:
        self.personalize_top = top
        self.ctr = {c.ad.id: 0.01 * (n + 1) for n, c in enumerate(candidates)}
        self.asked: list[str] = []

    def predict(self, candidates: list[Candidate], ctx: RequestContext) -> list[Prediction]:
        return [Prediction(self.ctr[c.ad.id]) for c in candidates]

    def personalize(self, candidates: list[Candidate], ctx: RequestContext) -> list[Prediction]:
        self.asked += [c.ad.id for c in candidates]
        return [Prediction(self.ctr[c.ad.id] / 2, 0.0, "personal") for c in candidates]


def test_the_engine_refines_the_best_of_the_pool_by_ctr_for_a_user_with_features() -> None:
    flights = [flight(f"f{n}", rate_type=RateType.CPC, price=1.0) for n in range(4)]
    catalog = build(flights)
    scorer = Halving(2, list(catalog.ads.values()))  # pCTR 0.01, 0.02, 0.03, 0.04
    engine = Engine(catalog, scorer, rng=random.Random(1))  # type: ignore[arg-type]
    ctx = RequestContext(now=NOW, user_key=USER, personalization=True, features={"x": 1.0})
    (result,) = engine.decide(DecisionRequest([PlacementRequest("p1")], ctx), None)
    assert sorted(scorer.asked) == ["f2-ad0", "f3-ad0"]  # the two best by pCTR
    # halved, 0.015 and 0.02: f1's 0.02 ties f3 and ranks first (it came first)
    assert result.choices[0].candidate.ad.id == "f1-ad0"
    assert result.choices[0].won.runner_up is not None
    assert result.choices[0].won.runner_up.candidate.ad.id == "f3-ad0"
    scorer.asked.clear()
    without = RequestContext(now=NOW, user_key=USER, personalization=True)
    (result,) = engine.decide(DecisionRequest([PlacementRequest("p1")], without), None)
    assert scorer.asked == []  # no features: the ranking of the catalog
    assert result.choices[0].candidate.ad.id == "f3-ad0"
