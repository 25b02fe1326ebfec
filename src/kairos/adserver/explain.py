"""The explain mode: for each candidate a decision dropped, the step and the reason.

The decision itself works on masks; the reasons come from the scalar checks, asked only for
the candidates the masks dropped and in the pipeline's order, so the first failing step is
the one reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kairos.adserver import caps, pacing
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.adserver.index import Flights, Mask, has
from kairos.adserver.pacing import Delivery
from kairos.adserver.ranking import Ranked
from kairos.adserver.targeting.filters import check as targeting_check

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kairos.adserver.index import FlightIndex
    from kairos.stream.features import UserFeatures


@dataclass(frozen=True)
class Dropped:
    ad_id: str
    step: str
    reason: str


@dataclass(slots=True)  # made per request: see `context.RequestContext`
class Masks:
    flights: Flights  # flights that passed every flight-level step for this placement
    targeted: Flights  # flights whose targeting lets the placement's context through
    types: frozenset[str]  # the ad types asked for (empty: the placement's)


class _Page(Protocol):
    index: FlightIndex
    features: UserFeatures | None
    paced: Flights | None
    capped: Flights | None

    def not_on_page(self, c: Candidate) -> str | None: ...


class _Engine(Protocol):
    deliveries: Mapping[str, Delivery]
    recent: caps.RecentDecisions


class _Choice(Protocol):
    @property
    def candidate(self) -> Candidate: ...


_NOTHING = Delivery()


def explain(
    ranked: Ranked, kept: Mask, masks: Masks, ctx: RequestContext, page: _Page, engine: _Engine
) -> list[Dropped]:
    """Why each candidate that did not reach the auction was dropped."""
    trail = []
    for pos in np.flatnonzero(~kept):
        c = ranked.candidates[pos]
        step, reason = _why(c, int(ranked.flight[pos]), masks, ctx, page, engine)
        trail.append(Dropped(c.ad.id, step, reason))
    return trail


def lost(ranked: Ranked, kept: Mask, choices: Sequence[_Choice], floor: float) -> list[Dropped]:
    chosen = {choice.candidate.ad.id for choice in choices}
    trail = []
    for pos in np.flatnonzero(kept):
        c = ranked.candidates[pos]
        if c.ad.id not in chosen:
            reason = f"lost the auction: eCPM {ranked.ecpm[pos]:.4f} (floor {floor:.4f})"
            trail.append(Dropped(c.ad.id, "auction", reason))
    return trail


def _why(
    c: Candidate, flight: int, masks: Masks, ctx: RequestContext, page: _Page, engine: _Engine
) -> tuple[str, str]:
    now = ctx.timestamp()
    user_key = ctx.user_key if ctx.personalization else None
    if not has(masks.flights, flight):
        if not c.live_at(ctx.now):
            return "eligible", "flight not running now"
        spent = pacing.exhausted(c.flight, engine.deliveries.get(c.flight.id, _NOTHING))
        if spent is not None:
            return "eligible", spent
        if not has(masks.targeted, flight):
            return "targeting", targeting_check(c.flight.targeting, c.flight.timezone, ctx) or "?"
        if page.paced is not None and not has(page.paced, flight):
            return "pacing", "paced: held back to spread delivery"
        verdict = caps.check(c, page.features, engine.recent, user_key, now, ad_level=False)
        return "caps", verdict or "cap reached"
    if masks.types and c.creative.ad_type not in masks.types:
        return "eligible", f"ad type {c.creative.ad_type} not requested"
    verdict = caps.check(c, page.features, engine.recent, user_key, now, ad_level=True)
    if verdict is not None:
        return "caps", verdict
    return "no_duplicates", page.not_on_page(c) or "already on this page"
