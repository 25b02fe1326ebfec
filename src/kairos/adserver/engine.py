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
from dataclasses import dataclass, field, replace

from kairos.adserver import auction, caps, pacing
from kairos.adserver.auction import Prediction, Scorer, Won
from kairos.adserver.catalog import Candidate, Catalog, FlightGroup, PlacementInfo
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
    eligible: tuple[str, ...] = ()  # ad ids that reached the auction (for off-policy logs)


@dataclass
class Engine:
    catalog: Catalog
    scorer: Scorer
    pacer: Pacer = field(default_factory=Pacer)
    recent: caps.RecentDecisions = field(default_factory=caps.RecentDecisions)
    deliveries: Mapping[str, Delivery] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    _static: Mapping[str, tuple[Prediction, float]] = field(default_factory=dict, repr=False)
    _static_key: tuple[str, int] | None = field(default=None, repr=False)
    _ranked: dict[int, tuple[Candidate, ...]] = field(default_factory=dict, repr=False)
    _memo: dict[tuple[object, ...], str | None] = field(default_factory=dict, repr=False)
    _memo_version: str | None = field(default=None, repr=False)

    def decide(
        self, request: DecisionRequest, features: UserFeatures | None
    ) -> list[PlacementResult]:
        if self._memo_version != self.catalog.version:  # a new catalog: forget old answers
            self._memo, self._memo_version = {}, self.catalog.version
        page = _Page(request, features if request.ctx.personalization else None)
        return [self._placement(p, page) for p in request.placements]

    def _placement(self, wanted: PlacementRequest, page: _Page) -> PlacementResult:
        info = self.catalog.placement(wanted.key)
        if info is None:
            return PlacementResult(wanted, None, [], 0, f"unknown placement {wanted.key!r}")
        if wanted.zone_id is not None and wanted.zone_id != info.zone.id:
            reason = f"placement is not in zone {wanted.zone_id}"
            return PlacementResult(wanted, info, [], 0, reason)
        ctx = page.context_for(info, wanted)
        trail: list[Dropped] | None = [] if page.request.explain else None
        kept = self._candidates(info, wanted, ctx, page, trail)
        eligible = tuple(c.ad.id for c in kept[:MAX_LOGGED])
        choices = self._choose(info, wanted, ctx, kept, page, trail)
        no_fill = None if choices else _no_fill(info, kept)
        considered = len(info.candidates)
        return PlacementResult(wanted, info, choices, considered, no_fill, trail or [], eligible)

    def _candidates(
        self,
        info: PlacementInfo,
        wanted: PlacementRequest,
        ctx: RequestContext,
        page: _Page,
        trail: list[Dropped] | None,
    ) -> list[Candidate]:
        """Flight-level steps once per flight, then the ad-level ones for surviving flights."""
        types = set(wanted.ad_types)
        user_key = ctx.user_key if ctx.personalization else None
        now = ctx.now.timestamp()
        kept: list[Candidate] = []
        # with scores fixed per catalog, a flight only ever bids with its best ads: the auction
        # needs each flight's top `count + 1` (winner and price setter), not all of them
        learned = info.placement.selection is SelectionMode.LEARNED
        top = wanted.count + 1 if learned and trail is None and self.scorer.context_free else 0
        for group in info.groups:
            dropped = self._flight_verdict(group, ctx, page, user_key, now)
            if dropped is not None:
                if trail is not None:
                    trail.extend(Dropped(c.ad.id, *dropped) for c in group.candidates)
                continue
            ad_caps = group.ad_capped
            clash = group.flight.id in page.flights or not page.creatives.isdisjoint(
                group.creative_ids
            )
            if not (types or ad_caps or clash):  # nothing can drop a single ad: keep all
                kept.extend(self._best_of(group, ctx, top) if top else group.candidates)
                continue
            for c in group.candidates:
                step, reason = _ad_verdict(c, types, page, ad_caps, self.recent, user_key, now)
                if reason is None:
                    kept.append(c)
                elif trail is not None:
                    trail.append(Dropped(c.ad.id, step, reason))
        return kept

    def _flight_verdict(
        self,
        group: FlightGroup,
        ctx: RequestContext,
        page: _Page,
        user_key: str | None,
        now: float,
    ) -> tuple[str, str] | None:
        """(step, reason) when the whole flight is out for this placement's context."""
        flight, first = group.flight, group.first
        scope = group.scope
        key = (flight.id, None if scope == 0 else ctx.zone_id if scope == 1 else id(ctx))
        if key not in page.settled:
            page.settled[key] = self._settled(group, ctx, page)
        settled = page.settled[key]
        if settled is not None:
            return settled
        if group.capped:
            if flight.id not in page.capped:
                verdict = caps.check(first, page.features, self.recent, user_key, now, False)
                page.capped[flight.id] = (first.advertiser.id, verdict)
            verdict = page.capped[flight.id][1]
            if verdict is not None:
                return "caps", verdict
        return None

    def _settled(
        self, group: FlightGroup, ctx: RequestContext, page: _Page
    ) -> tuple[str, str] | None:
        """The parts of a flight's verdict that cannot change within a request."""
        flight, first = group.flight, group.first
        if flight.id not in page.eligible:
            if not first.live_at(ctx.now):
                page.eligible[flight.id] = "flight not running now"
            else:
                delivered = self.deliveries.get(flight.id, _NOTHING)
                page.eligible[flight.id] = pacing.exhausted(flight, delivered)
        if page.eligible[flight.id] is not None:
            return "eligible", page.eligible[flight.id] or ""
        reason = self._targeting(group, ctx)  # called once per targeting scope: see above
        if reason is not None:
            return "targeting", reason
        if flight.id not in page.paced:
            page.paced[flight.id] = self.pacer.allow(flight.id, self.rng)
        if not page.paced[flight.id]:
            return "pacing", "paced: held back to spread delivery"
        return None

    def _targeting(self, group: FlightGroup, ctx: RequestContext) -> str | None:
        """Targeting without an expression depends on a few request traits only: visitors
        who share them (device, place, page keywords, the minute) share the answer."""
        flight = group.flight
        if group.scope == 2:
            return targeting_check(flight.targeting, flight.timezone, ctx)
        place = (ctx.site_id, ctx.zone_id) if group.scope == 1 else None
        traits = (ctx.country, ctx.region, ctx.device, ctx.os, ctx.browser, ctx.keywords)
        key = (flight.id, traits, place, int(ctx.now.timestamp()) // 60)
        memo = self._memo
        if key not in memo:
            if len(memo) >= MAX_MEMO:
                memo.clear()
            memo[key] = targeting_check(flight.targeting, flight.timezone, ctx)
        return memo[key]

    # -- scoring, auction, fallback -------------------------------------------------------

    def _best_of(self, group: FlightGroup, ctx: RequestContext, top: int) -> Sequence[Candidate]:
        """The group's `top` ads by (context-free) eCPM, ranked once per catalog and scorer."""
        scored = self._scores((), ctx)
        ranked = self._ranked.get(id(group))
        if ranked is None:
            ranked = tuple(sorted(group.candidates, key=lambda c: -scored[c.ad.id][1]))
            self._ranked[id(group)] = ranked
        return ranked[:top]

    def _scores(
        self, candidates: Sequence[Candidate], ctx: RequestContext
    ) -> Mapping[str, tuple[Prediction, float]]:
        """Ad id -> (prediction, eCPM): once per catalog and scorer for context-free scorers."""
        if self.scorer.context_free:
            key = (self.catalog.version, id(self.scorer))
            if self._static_key != key:
                everything = [c for c in self.catalog.ads.values()]
                predictions = self.scorer.predict(everything, ctx)
                self._static = {
                    c.ad.id: (p, auction.ecpm(c, p))
                    for c, p in zip(everything, predictions, strict=True)
                }
                self._static_key = key
                self._ranked = {}
            return self._static
        predictions = self.scorer.predict(candidates, ctx)
        return {
            c.ad.id: (p, auction.ecpm(c, p)) for c, p in zip(candidates, predictions, strict=True)
        }

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
        scored = self._scores(kept, ctx) if kept else {}
        static = info.placement.selection is SelectionMode.STATIC
        choices: list[Choice] = []
        while len(choices) < max(wanted.count, 1) and kept:
            tier = auction.best_tier(kept, scored, floor, top=None if static else 2)
            won = auction.lottery(tier, self.rng) if static else auction.second_price(tier, floor)
            if won is None:
                house = [auction.Bid(c, *scored[c.ad.id]) for c in kept if _is_house(c)]
                won = auction.house(house, self.rng)
            if won is None:
                break
            choice = Choice(self.new_id(), won.bid.candidate, won)
            choices.append(choice)
            page.served(choice.candidate)
            if ctx.user_key is not None and ctx.personalization:
                keys = caps.served_keys(choice.candidate)
                self.recent.record(ctx.user_key, ctx.now.timestamp(), keys)
            if len(choices) < wanted.count:  # more to choose here: not the same ad again
                ad, creative = choice.candidate.ad.id, choice.candidate.creative.id
                kept = [c for c in kept if c.ad.id != ad and c.creative.id != creative]
        if trail is not None:
            chosen = {c.candidate.ad.id for c in choices}
            for c in kept:
                if c.ad.id not in chosen:
                    value = scored[c.ad.id][1]
                    reason = f"lost the auction: eCPM {value:.4f} (floor {floor:.4f})"
                    trail.append(Dropped(c.ad.id, "auction", reason))
        return choices


def _ad_verdict(
    c: Candidate,
    types: set[str],
    page: _Page,
    ad_caps: bool,
    recent: caps.RecentDecisions,
    user_key: str | None,
    now: float,
) -> tuple[str, str | None]:
    if types and c.creative.ad_type not in types:
        return "eligible", f"ad type {c.creative.ad_type} not requested"
    if ad_caps:
        reason = caps.check(c, page.features, recent, user_key, now, ad_level=True)
        if reason is not None:
            return "caps", reason
    return "no_duplicates", page.not_on_page(c)


def _is_house(c: Candidate) -> bool:
    return c.flight.priority >= auction.HOUSE_PRIORITY


_NOTHING = Delivery()
MAX_MEMO = 200_000  # remembered targeting answers (cleared when full, and per catalog)
MAX_LOGGED = 50  # eligible ad ids kept per placement in the decision log


@dataclass
class _Page:
    """What one request has decided so far: for no-duplicates and per-flight answers."""

    request: DecisionRequest
    features: UserFeatures | None
    ads: set[str] = field(default_factory=set)
    creatives: set[str] = field(default_factory=set)
    flights: set[str] = field(default_factory=set)  # of the ads served
    eligible: dict[str, str | None] = field(default_factory=dict)
    settled: dict[tuple[str, object], tuple[str, str] | None] = field(default_factory=dict)
    paced: dict[str, bool] = field(default_factory=dict)
    capped: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # advertiser, why
    contexts: dict[str, RequestContext] = field(default_factory=dict)

    def context_for(self, info: PlacementInfo, wanted: PlacementRequest) -> RequestContext:
        """The request's context with this placement's site, zone and key-values."""
        key = f"{info.placement.id}|{sorted(wanted.properties.items())}"
        if key not in self.contexts:
            base = self.request.ctx
            self.contexts[key] = replace(
                base,
                site_id=info.site.id,
                zone_id=info.zone.id,
                properties={**base.properties, **wanted.properties},
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
        self.flights.add(c.flight.id)
        # what was just chosen counts towards its advertiser's caps from now on
        for flight_id in [f for f, (adv, _) in self.capped.items() if adv == c.advertiser.id]:
            del self.capped[flight_id]


def _no_fill(info: PlacementInfo, kept: list[Candidate]) -> str:
    if not info.candidates:
        return "no ads fit this placement"
    if not kept:
        return "every candidate was filtered out"
    return "no bid met the floor"
