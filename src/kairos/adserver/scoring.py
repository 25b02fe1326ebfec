"""The scorer that ships before the models: each ad's historical CTR, smoothed towards a prior.

ctr = (clicks + m * prior_ctr) / (impressions + m), and the post-click conversion rate the
same way over clicks; `m` is the prior's weight in impressions. New ads start at the prior.
The learning issue replaces it through the same `Scorer` interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kairos.adserver.auction import Prediction
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext


@dataclass(frozen=True)
class AdStats:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0


@dataclass(frozen=True)
class HistoricalCtrScorer:
    stats: Mapping[str, AdStats] = field(default_factory=dict)  # by ad id
    prior_ctr: float = 0.01
    prior_cvr: float = 0.05
    strength: float = 100.0
    version: str = "historical-ctr"
    context_free: bool = True

    def predict(self, candidates: Sequence[Candidate], ctx: RequestContext) -> list[Prediction]:
        return [self._one(c.ad.id) for c in candidates]

    def _one(self, ad_id: str) -> Prediction:
        s = self.stats.get(ad_id)
        m = self.strength
        if s is None:
            return Prediction(self.prior_ctr, self.prior_cvr, self.version)
        ctr = (s.clicks + m * self.prior_ctr) / (s.impressions + m)
        cvr = (s.conversions + m * self.prior_cvr) / (s.clicks + m)
        return Prediction(ctr, cvr, self.version)
