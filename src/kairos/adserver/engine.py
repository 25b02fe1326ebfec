"""The decision: for each placement of a request, the candidate pipeline as small named steps.

eligible → targeting → caps → pacing → no duplicates on the page → scoring → auction →
house/fallback. Each step keeps or drops candidates and, in explain mode, says why it dropped
each one. Flight-level answers (targeting, pacing) are computed once per flight per request.
Pure apart from the injected state (pacer, recent decisions) and randomness.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kairos.adserver import auction, caps, pacing
from kairos.adserver.auction import Scorer, Won
from kairos.adserver.catalog import Candidate, Catalog, PlacementInfo
from kairos.adserver.context import RequestContext, Scalar
from kairos.adserver.model import SelectionMode
from kairos.adserver.pacing import Delivery, Pacer
from kairos.adserver.targeting.filters import check as targeting_check
from kairos.stream.features import UserFeatures


@dataclass(frozen=True)
class PlacementRequest:
    key: str  # placement id or the page's div name
    ad_types: tuple[str, ...] = ()  # narrower than the placement's, if given
    count: int = 1
    properties: Mapping[str, Scalar] = field(default_factory=dict)
    floor_cpm: float | None = None  # overrides the placement's floor when higher
    zone_id: str | None = None


@dataclass(frozen=True)
class DecisionRequest:
    placements: Sequence[PlacementRequest]
    ctx: RequestContext
    explain: bool = False


@dataclass(frozen=True)
class Dropped:
    ad_id: str
    step: str
    reason: str


@dataclass(frozen=True)
class Choice:
    decision_id: str
    candidate: Candidate
    won: Won


@dataclass(frozen=True)
class PlacementResult:
    request: PlacementRequest
    info: PlacementInfo | None
    choices: list[Choice]
    considered: int
    no_fill: str | None = None  # why nothing was chosen
    dropped: list[Dropped] = field(default_factory=list)


@dataclass
class Engine:
    catalog: Catalog
    scorer: Scorer
    pacer: Pacer = field(default_factory=Pacer)
    recent: caps.RecentDecisions = field(default_factory=caps.RecentDecisions)
    deliveries: Mapping[str, Delivery] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)

    def decide(
        self, request: DecisionRequest, features: UserFeatures | None
    ) -> list[PlacementResult]:
        page = _Page(request, features if request.ctx.personalization else None)
        return [self._placement(p, page) for p in request.placements]

    def _placement(self, wanted: PlacementRequest, page: _Page) -> PlacementResult:
        info = self.catalog.placement(wanted.key)
        if info is None:
            return PlacementResult(wanted, None, [], 0, f"unknown placement {wanted.key!r}")
        if wanted.zone_id is not None and wanted.zone_id != info.zone.id:
            return PlacementResult(
                wanted, info, [], 0, f"placement is not in zone {wanted.zone_id}"
            )
        ctx = page.context_for(info, wanted)
        trail: list[Dropped] | None = [] if page.request.explain else None
        kept = list(info.candidates)
        for name, step in (
            ("eligible", self._eligible(wanted, ctx)),
            ("targeting", self._targeting(ctx, page)),
            ("caps", self._caps(ctx, page)),
            ("pacing", self._pacing(page)),
            ("no_duplicates", page.not_on_page),
        ):
            kept = _apply(name, step, kept, trail)
        choices = self._choose(info, wanted, ctx, kept, page, trail)
        no_fill = None if choices else _no_fill(info, kept)
        return PlacementResult(wanted, info, choices, len(info.candidates), no_fill, trail or [])

    # -- steps: each returns None to keep a candidate, or the reason to drop it -----------

    def _eligible(self, wanted: PlacementRequest, ctx: RequestContext) -> _Step:
        types = set(wanted.ad_types)

        def step(c: Candidate) -> str | None:
            if not c.live_at(ctx.now):
                return "flight not running now"
            if types and c.creative.ad_type not in types:
                return f"ad type {c.creative.ad_type} not requested"
            return pacing.exhausted(c.flight, self.deliveries.get(c.flight.id, Delivery()))

        return step

    def _targeting(self, ctx: RequestContext, page: _Page) -> _Step:
        def step(c: Candidate) -> str | None:
            flight = c.flight
            key = (flight.id, id(ctx))
            if key not in page.targeting:
                page.targeting[key] = targeting_check(flight.targeting, flight.timezone, ctx)
            return page.targeting[key]

        return step

    def _caps(self, ctx: RequestContext, page: _Page) -> _Step:
        user_key = ctx.user_key if ctx.personalization else None
        now = ctx.now.timestamp()

        def step(c: Candidate) -> str | None:
            return caps.check(c, page.features, self.recent, user_key, now)

        return step

    def _pacing(self, page: _Page) -> _Step:
        def step(c: Candidate) -> str | None:
            flight_id = c.flight.id
            if flight_id not in page.paced:
                page.paced[flight_id] = self.pacer.allow(flight_id, self.rng)
            return None if page.paced[flight_id] else "paced: held back to spread delivery"

        return step

    # -- scoring, auction, fallback -------------------------------------------------------

    def _choose(
        self,
        info: PlacementInfo,
        wanted: PlacementRequest,
        ctx: RequestContext,
        kept: list[Candidate],
        page: _Page,
        trail: list[Dropped] | None,
    ) -> list[Choice]:
        floor = max(info.placement.floor_cpm, wanted.floor_cpm or 0.0)
        bids = auction.bids(kept, self.scorer.predict(kept, ctx)) if kept else []
        static = info.placement.selection is SelectionMode.STATIC
        choices: list[Choice] = []
        while len(choices) < max(wanted.count, 1) and bids:
            tier = auction.top_tier(bids, floor)
            won = auction.lottery(tier, self.rng) if static else auction.second_price(tier, floor)
            won = won or auction.house(bids, self.rng)
            if won is None:
                break
            choice = Choice(self.new_id(), won.bid.candidate, won)
            choices.append(choice)
            page.served(choice.candidate)
            if ctx.user_key is not None and ctx.personalization:
                keys = caps.served_keys(choice.candidate)
                self.recent.record(ctx.user_key, ctx.now.timestamp(), keys)
            bids = [b for b in bids if page.not_on_page(b.candidate) is None]
        if trail is not None:
            chosen = {c.candidate.ad.id for c in choices}
            for bid in auction.bids(kept, self.scorer.predict(kept, ctx)) if kept else []:
                if bid.candidate.ad.id not in chosen:
                    reason = f"lost the auction: eCPM {bid.ecpm:.4f} (floor {floor:.4f})"
                    trail.append(Dropped(bid.candidate.ad.id, "auction", reason))
        return choices


_Step = Callable[[Candidate], "str | None"]


@dataclass
class _Page:
    """What one request has decided so far: for no-duplicates and per-flight answers."""

    request: DecisionRequest
    features: UserFeatures | None
    ads: set[str] = field(default_factory=set)
    creatives: set[str] = field(default_factory=set)
    targeting: dict[tuple[str, int], str | None] = field(default_factory=dict)
    paced: dict[str, bool] = field(default_factory=dict)
    contexts: dict[str, RequestContext] = field(default_factory=dict)

    def context_for(self, info: PlacementInfo, wanted: PlacementRequest) -> RequestContext:
        """The request's context with this placement's site, zone and key-values."""
        key = f"{info.placement.id}|{sorted(wanted.properties.items())}"
        if key not in self.contexts:
            base = self.request.ctx
            properties = {**base.properties, **wanted.properties}
            self.contexts[key] = RequestContext(
                now=base.now,
                user_key=base.user_key,
                personalization=base.personalization,
                country=base.country,
                region=base.region,
                device=base.device,
                os=base.os,
                browser=base.browser,
                site_id=info.site.id,
                zone_id=info.zone.id,
                page_url=base.page_url,
                keywords=base.keywords,
                properties=properties,
                features=base.features,
            )
        return self.contexts[key]

    def not_on_page(self, c: Candidate) -> str | None:
        if c.ad.id in self.ads:
            return "already on this page"
        if c.creative.id in self.creatives:
            return "creative already on this page"
        return None

    def served(self, c: Candidate) -> None:
        self.ads.add(c.ad.id)
        self.creatives.add(c.creative.id)


def _apply(
    name: str, step: _Step, candidates: list[Candidate], trail: list[Dropped] | None
) -> list[Candidate]:
    kept = []
    for candidate in candidates:
        reason = step(candidate)
        if reason is None:
            kept.append(candidate)
        elif trail is not None:
            trail.append(Dropped(candidate.ad.id, name, reason))
    return kept


def _no_fill(info: PlacementInfo, kept: list[Candidate]) -> str:
    if not info.candidates:
        return "no ads fit this placement"
    if not kept:
        return "every candidate was filtered out"
    return "no bid met the floor"
