"""The learned choice among candidates: Thompson sampling with a Bayesian click model, with a
per-campaign exploration budget. `ThompsonPolicy` is the one selection code: the ad server's
composer (`ThompsonComposer`) asks it for one request's choice, replays and simulations ask it
for many requests at once (`allocate`), and both get the same answers in distribution.

Each candidate is described the way training examples are (`learn.features`: the user's
snapshot and the ad with the combination's elements), so what the stream labels is what the
model learns from. The propensity is the policy's probability of that choice, logged with the
decision for off-policy evaluation.

Exploration budget: the share of a campaign's choices that may go to a candidate other than
the one the model currently believes best (the posterior mean's choice). Once a campaign has
spent it, its requests get that best candidate (propensity 1) until its share falls back.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.adserver.model import GoalType
from kairos.creative.assembly import Assembly, Combination
from kairos.learn import features
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.hashing import Example

Array = np.ndarray[Any, Any]


@dataclass
class Spend:
    served: int = 0
    explored: int = 0  # choices other than the model's current best


@dataclass
class ThompsonPolicy:
    model: BayesianLogistic
    draws: int = 100  # posterior draws to estimate a choice's propensity
    budget: float = 1.0  # default exploration budget of a campaign (1: unlimited)
    spend: dict[str, Spend] = field(default_factory=dict)

    def choose(
        self,
        xs: Sequence[Example],
        values: Sequence[float] | None = None,
        campaign: str | None = None,
        budget: float | None = None,
    ) -> tuple[int, float]:
        """One request's choice among candidates (value = bid or worth of a click), and its
        propensity."""
        limit = self.budget if budget is None else budget
        if limit >= 1.0:  # no budget: nothing to count (the hot path of most campaigns)
            return self.model.choose(xs, values, draws=self.draws)
        spent = self.spend.setdefault(campaign or "", Spend())
        best = self.best(xs, values)
        if spent.explored >= limit * (spent.served + 1):
            chosen, propensity = best, 1.0
        else:
            chosen, propensity = self.model.choose(xs, values, draws=self.draws)
        spent.served += 1
        spent.explored += int(chosen != best)
        return chosen, propensity

    def allocate(
        self,
        xs: Sequence[Example],
        n: int,
        values: Sequence[float] | None = None,
        campaign: str | None = None,
        budget: float | None = None,
    ) -> Array:
        """How many of `n` requests choose each candidate, each by its own posterior draw, with
        feedback held until all n are served (as a stream delivers it): counts per candidate."""
        counts = self.model.allocate(xs, n, values)
        limit = self.budget if budget is None else budget
        spent = self.spend.setdefault(campaign or "", Spend())
        if limit >= 1.0:
            spent.served += n
            return counts
        best = self.best(xs, values)
        explored = n - int(counts[best])
        allowed = max(0, int(limit * (spent.served + n)) - spent.explored)
        if explored > allowed:  # the over-budget share goes to the best candidate
            others = np.delete(np.arange(len(xs)), best)
            kept = np.floor(counts[others] * allowed / explored).astype(int)
            counts[others] = kept
            counts[best] = n - int(kept.sum())
            explored = int(kept.sum())
        spent.served += n
        spent.explored += explored
        return counts

    def best(self, xs: Sequence[Example], values: Sequence[float] | None = None) -> int:
        """The candidate the model believes best now (no exploration)."""
        worth = np.ones(len(xs)) if values is None else np.asarray(values, dtype=float)
        return int(np.argmax(self.model.predict_proba_many(xs) * worth))


def examples_of(
    candidate: Candidate, options: Sequence[Combination], ctx: RequestContext
) -> list[dict[str, Any]]:
    """The model's view of each combination of a dynamic ad for this request."""
    user = features.user_part(ctx.features)
    return [
        user
        | features.ad_part(
            advertiser_id=candidate.advertiser.id,
            campaign_id=candidate.campaign.id,
            flight_id=candidate.flight.id,
            ad_id=candidate.ad.id,
            creative_id=candidate.creative.id,
            placement_id=ctx.placement_id,
            elements=option.elements,
        )
        for option in options
    ]


@dataclass
class ThompsonComposer:
    """The ad server's `compose` hook: the policy picks a dynamic ad's combination — by its
    sampled click probability, or, for a flight whose goal is conversions, by its sampled
    conversion probability when a conversion model is in use."""

    policy: ThompsonPolicy
    conversions: ThompsonPolicy | None = None

    def __call__(
        self, candidate: Candidate, found: Assembly, ctx: RequestContext, rng: random.Random
    ) -> tuple[Combination, float, tuple[Combination, ...]]:
        options = found.candidates(rng)
        xs = examples_of(candidate, options, ctx)
        campaign = candidate.campaign
        policy = self.policy
        if self.conversions is not None and candidate.flight.goal_type is GoalType.CONVERSIONS:
            policy = self.conversions
        chosen, propensity = policy.choose(xs, campaign=campaign.id, budget=campaign.exploration)
        return options[chosen], propensity, tuple(options)
