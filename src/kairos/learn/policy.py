"""The learned choice of a dynamic creative's combination: Thompson sampling over the
candidates an `Assembly` offers, with a Bayesian click model, as the ad server's `compose`.

Each candidate is described the way training examples are (`learn.features`: the user's
snapshot and the ad with the combination's elements), so what the stream labels is what the
model learns from. The propensity is the policy's estimated probability of that choice,
logged with the decision for off-policy evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.creative.assembly import Assembly, Combination
from kairos.learn import features
from kairos.learn.bayes import BayesianLogistic


@dataclass
class ThompsonComposer:
    model: BayesianLogistic
    draws: int = 100  # posterior draws to estimate the propensity

    def __call__(
        self, candidate: Candidate, found: Assembly, ctx: RequestContext, rng: random.Random
    ) -> tuple[Combination, float]:
        options = found.candidates(rng)
        user = features.user_part(ctx.features)
        xs = [
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
        chosen, propensity = self.model.choose(xs, draws=self.draws)
        return options[chosen], propensity
