"""Ranking: priority tiers, then an eCPM auction with floors and second-price clearing, or the
static-rules lottery on fixed weights (the traditional ad server, kept as the baseline).

eCPM = CPM price, or CPC price * pCTR * 1000, or CPA price * pCTR * pCVR * 1000 (pCVR is
post-click). The winner pays the runner-up's eCPM (or the floor) plus one cent, never more than
its own price; the cost is expressed per event of its rate type, for the tracking URLs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.adserver.model import RateType

HOUSE_PRIORITY = 100  # flights at or below this tier are house ads: fallback, no floor
INCREMENT = 0.01


@dataclass(frozen=True)
class Prediction:
    ctr: float
    cvr: float = 0.0
    model_version: str = "none"


class Scorer(Protocol):
    """Predicts click and conversion probabilities for candidates (the ML issue plugs in).

    `context_free` scorers (whose answer does not depend on the request) are asked once per
    catalog and refresh, not per request."""

    @property
    def context_free(self) -> bool: ...

    def predict(self, candidates: Sequence[Candidate], ctx: RequestContext) -> list[Prediction]: ...


class Personalizing(Scorer, Protocol):
    """A context-free scorer that a request's user features refine for a few candidates: the
    engine ranks once per catalog and scorer by `predict`, then per request asks `personalize`
    for the `personalize_top` best candidates by pCTR (of those whose flights passed) and
    moves them to where their new predictions rank (`ranking.reranked`)."""

    @property
    def personalize_top(self) -> int: ...

    def personalize(
        self, candidates: Sequence[Candidate], ctx: RequestContext
    ) -> list[Prediction]: ...


@dataclass(slots=True, init=False)  # made per request: see `context.RequestContext`
class Bid:
    candidate: Candidate
    prediction: Prediction
    ecpm: float

    def __init__(self, candidate: Candidate, prediction: Prediction, ecpm: float) -> None:
        self.candidate = candidate
        self.prediction = prediction
        self.ecpm = ecpm


@dataclass(slots=True, init=False)  # made per request: see `context.RequestContext`
class Won:
    bid: Bid
    clearing_ecpm: float
    cost: float  # per event of the flight's rate type (impression, click or conversion)
    propensity: float  # probability this policy had of choosing this winner
    runner_up: Bid | None

    def __init__(
        self,
        bid: Bid,
        clearing_ecpm: float,
        cost: float,
        propensity: float,
        runner_up: Bid | None,
    ) -> None:
        self.bid = bid
        self.clearing_ecpm = clearing_ecpm
        self.cost = cost
        self.propensity = propensity
        self.runner_up = runner_up


def ecpm(candidate: Candidate, prediction: Prediction) -> float:
    flight = candidate.flight
    match flight.rate_type:
        case RateType.CPM:
            return flight.price
        case RateType.CPC:
            return flight.price * prediction.ctr * 1000
        case RateType.CPA:
            return flight.price * prediction.ctr * prediction.cvr * 1000


def bids(candidates: Sequence[Candidate], predictions: Sequence[Prediction]) -> list[Bid]:
    return [Bid(c, p, ecpm(c, p)) for c, p in zip(candidates, predictions, strict=True)]


def best_tier(
    candidates: Sequence[Candidate],
    scored: Mapping[str, tuple[Prediction, float]],
    floor: float,
    top: int | None = None,
) -> list[Bid]:
    """`top_tier` in one pass over pre-scored candidates (ad id -> prediction, eCPM), making
    bids only for the tier that wins, and with `top` only for its `top` highest eCPMs: the
    hot path of a placement with hundreds of ads."""
    best_priority = HOUSE_PRIORITY
    tier: list[tuple[float, Candidate]] = []
    for c in candidates:
        priority = c.flight.priority
        if priority > best_priority:
            continue
        value = scored[c.ad.id][1]
        if value < floor or priority >= HOUSE_PRIORITY:
            continue
        if priority < best_priority:
            best_priority, tier = priority, []
        if top is not None and len(tier) >= top:
            lowest = min(range(len(tier)), key=lambda i: tier[i][0])
            if value <= tier[lowest][0]:
                continue
            tier[lowest] = (value, c)
        else:
            tier.append((value, c))
    return [Bid(c, scored[c.ad.id][0], value) for value, c in tier]


def top_tier(all_bids: Sequence[Bid], floor: float) -> list[Bid]:
    """The bids of the best (lowest) priority tier that has a bid at or above the floor."""
    tiers: dict[int, list[Bid]] = {}
    for bid in all_bids:
        if bid.candidate.flight.priority < HOUSE_PRIORITY and bid.ecpm >= floor:
            tiers.setdefault(bid.candidate.flight.priority, []).append(bid)
    return tiers[min(tiers)] if tiers else []


def second_price(tier: Sequence[Bid], floor: float) -> Won | None:
    if not tier:
        return None
    ranked = sorted(tier, key=lambda b: b.ecpm, reverse=True)
    winner = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    if runner_up is None and floor <= 0:
        clearing = winner.ecpm  # no competition and no reserve: the flight's own price
    else:
        clearing = min(max(runner_up.ecpm if runner_up else 0.0, floor) + INCREMENT, winner.ecpm)
    return Won(winner, clearing, cost_per_event(winner, clearing), 1.0, runner_up)


def lottery(tier: Sequence[Bid], rng: random.Random) -> Won | None:
    """Static rules: pick by the ads' fixed weights; each pays its flight's price."""
    weighted = [b for b in tier if b.candidate.ad.weight > 0]
    if not weighted:
        return None
    total = sum(b.candidate.ad.weight for b in weighted)
    pick = rng.random() * total
    for bid in weighted:
        pick -= bid.candidate.ad.weight
        if pick < 0:
            break
    price = bid.candidate.flight.price
    cost = price / 1000 if bid.candidate.flight.rate_type is _CPM else price
    return Won(bid, bid.ecpm, cost, bid.candidate.ad.weight / total, None)


def house(all_bids: Sequence[Bid], rng: random.Random) -> Won | None:
    """The fallback: house ads, by weight, free of floors."""
    return lottery([b for b in all_bids if b.candidate.flight.priority >= HOUSE_PRIORITY], rng)


# (an enum's member read from its class costs a call of the enum type's `__getattr__` hook)
_CPM, _CPC = RateType.CPM, RateType.CPC


def cost_per_event(bid: Bid, clearing_ecpm: float) -> float:
    flight, p = bid.candidate.flight, bid.prediction
    rate_type = flight.rate_type
    if rate_type is _CPM:
        return round(clearing_ecpm / 1000, 6)
    if rate_type is _CPC:
        per_click = clearing_ecpm / (p.ctr * 1000) if p.ctr > 0 else flight.price
        return round(min(per_click, flight.price), 6)
    rate = p.ctr * p.cvr * 1000  # CPA
    per_conversion = clearing_ecpm / rate if rate > 0 else flight.price
    return round(min(per_conversion, flight.price), 6)
