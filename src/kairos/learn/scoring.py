"""The click and conversion models as the ad server's scorer: pCTR (and pCVR) for every ad in
the eCPM auction, replacing the smoothed historical CTR once a model is published.

Context free: each ad is scored on what the model knows of it (advertiser, campaign, flight,
ad, creative — so a new ad starts from what its campaign and advertiser taught), once per
catalog and model, never per request. With `personalize_top = K` the request's user features
count too, at bounded cost (candidate pruning, `auction.Personalizing`): every candidate keeps
its context-free score, and only the K best of them by it are scored again with the user's
features (their interests crossed with the ad's creative and elements): the user's features
hashed once, each ad's once per model, and per candidate only what crosses the two.
The conversion model predicts a conversion per impression; the auction wants it per click,
so pCVR = p(conversion) / pCTR (at most 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kairos.adserver.auction import Prediction
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.learn import features
from kairos.learn.bayes import Array, BayesianLogistic
from kairos.learn.hashing import Part


@dataclass(eq=False)  # identity: the ad server re-ranks when the scorer object changes
class ModelScorer:
    clicks: BayesianLogistic
    conversions: BayesianLogistic | None = None
    version: str = "model"
    personalize_top: int = 0  # 0: context free (ranked once per catalog and model)
    default_cvr: float = 0.05  # per click, when there is no conversion model
    _base: dict[str, Prediction] = field(default_factory=dict, repr=False)
    _ad_parts: dict[str, tuple[Part, Part]] = field(default_factory=dict, repr=False)
    _user: tuple[Mapping[str, Any], Part, Part] | None = field(default=None, repr=False)

    @property
    def context_free(self) -> bool:
        return True  # (the user's features count through `personalize`)

    def predict(self, candidates: Sequence[Candidate], ctx: RequestContext) -> list[Prediction]:
        missing = [c for c in candidates if c.ad.id not in self._base]
        if missing:
            self._base.update(zip((c.ad.id for c in missing), self._score(missing), strict=True))
        return [self._base[c.ad.id] for c in candidates]

    def personalize(self, candidates: Sequence[Candidate], ctx: RequestContext) -> list[Prediction]:
        """The candidates' predictions with the request's user features (`ctx.features`)."""
        if not candidates:
            return []
        user = self._user_parts(ctx.features)
        parts = [self._parts(c) for c in candidates]
        ctr = self.clicks.predict_proba_parts(user[0], [p[0] for p in parts])
        if self.conversions is None:
            return self._predictions(ctr, None)
        converted = self.conversions.predict_proba_parts(user[1], [p[1] for p in parts])
        return self._predictions(ctr, converted)

    def _user_parts(self, user: Mapping[str, Any]) -> tuple[Part, Part]:
        """The user's hashed part for each model, as `_parts`; the last user's remembered (a
        request's placements share their features)."""
        if self._user is None or self._user[0] is not user:
            x = features.user_part(user)
            clicks = self.clicks.part(x)
            self._user = (user, clicks, self.conversions.part(x) if self.conversions else clicks)
        return self._user[1], self._user[2]

    def _parts(self, c: Candidate) -> tuple[Part, Part]:
        """The ad's hashed part for the click model and the conversion model (the click
        model's again when there is none), made once per ad."""
        found = self._ad_parts.get(c.ad.id)
        if found is None:
            x = ad_example(c)
            clicks = self.clicks.part(x)
            found = (clicks, self.conversions.part(x) if self.conversions else clicks)
            self._ad_parts[c.ad.id] = found
        return found

    def _score(self, candidates: Sequence[Candidate]) -> list[Prediction]:
        """Context-free predictions (no user)."""
        xs = [_NO_USER | ad_example(c) for c in candidates]
        ctr = self.clicks.predict_proba_many(xs)
        converted = self.conversions.predict_proba_many(xs) if self.conversions else None
        return self._predictions(ctr, converted)

    def _predictions(self, ctr: Array, converted: Array | None) -> list[Prediction]:
        """From pCTR and p(conversion) per impression: pCVR per click (at most 1), or the
        default without a conversion model."""
        if converted is None:
            cvr = np.full(len(ctr), self.default_cvr)
        else:
            cvr = np.minimum(1.0, converted / np.maximum(ctr, 1e-9))
        return [Prediction(float(p), float(q), self.version) for p, q in zip(ctr, cvr, strict=True)]


_NO_USER = features.user_part({})  # what the models see of the user, context free


def ad_example(c: Candidate) -> dict[str, Any]:
    """What the models know of a candidate, context free (`features.ad_part`)."""
    return features.ad_part(
        advertiser_id=c.advertiser.id,
        campaign_id=c.campaign.id,
        flight_id=c.flight.id,
        ad_id=c.ad.id,
        creative_id=c.creative.id,
        placement_id=None,
        elements={},
    )
