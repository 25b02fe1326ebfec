"""The click and conversion models as the ad server's scorer: pCTR (and pCVR) for every ad in
the eCPM auction, replacing the smoothed historical CTR once a model is published.

Context free by default: each ad is scored on what the model knows of it (advertiser,
campaign, flight, ad, creative — so a new ad starts from what its campaign and advertiser
taught), once per catalog and model, never per request. With `personalize_top = K` the
request's user features count too, at bounded cost (candidate pruning): every candidate keeps
its context-free score, and only the K best of them by it are scored again with the user's
features (their interests crossed with the ad's creative and elements).
The conversion model predicts a conversion per impression; the auction wants it per click,
so pCVR = p(conversion) / pCTR (at most 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kairos.adserver.auction import Prediction
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.learn import features
from kairos.learn.bayes import BayesianLogistic


@dataclass(eq=False)  # identity: the ad server re-ranks when the scorer object changes
class ModelScorer:
    clicks: BayesianLogistic
    conversions: BayesianLogistic | None = None
    version: str = "model"
    personalize_top: int = 0  # 0: context free (ranked once per catalog and model)
    default_cvr: float = 0.05  # per click, when there is no conversion model
    _base: dict[str, Prediction] = field(default_factory=dict, repr=False)

    @property
    def context_free(self) -> bool:
        return self.personalize_top <= 0

    def predict(self, candidates: Sequence[Candidate], ctx: RequestContext) -> list[Prediction]:
        missing = [c for c in candidates if c.ad.id not in self._base]
        if missing:
            self._base.update(
                zip((c.ad.id for c in missing), self._score(missing, {}), strict=True)
            )
        found = [self._base[c.ad.id] for c in candidates]
        if self.context_free or not ctx.features or not candidates:
            return found
        top = np.argsort([-p.ctr for p in found], kind="stable")[: self.personalize_top]
        chosen = [candidates[i] for i in top]
        for i, prediction in zip(top, self._score(chosen, ctx.features), strict=True):
            found[int(i)] = prediction
        return found

    def _score(self, candidates: Sequence[Candidate], user: Any) -> list[Prediction]:
        xs = [features.user_part(user) | _ad(c) for c in candidates]
        ctr = self.clicks.predict_proba_many(xs)
        if self.conversions is None:
            cvr = np.full(len(xs), self.default_cvr)
        else:
            cvr = np.minimum(1.0, self.conversions.predict_proba_many(xs) / np.maximum(ctr, 1e-9))
        return [Prediction(float(p), float(q), self.version) for p, q in zip(ctr, cvr, strict=True)]


def _ad(c: Candidate) -> dict[str, Any]:
    return features.ad_part(
        advertiser_id=c.advertiser.id,
        campaign_id=c.campaign.id,
        flight_id=c.flight.id,
        ad_id=c.ad.id,
        creative_id=c.creative.id,
        placement_id=None,
        elements={},
    )
