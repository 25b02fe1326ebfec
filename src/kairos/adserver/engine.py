"""The decision: for each placement of a request, the candidate pipeline as small named steps.

eligible (dates, goals, budgets) → targeting → pacing → caps → ad type and caps per ad → no
duplicates on the page → scoring → auction → house/fallback. Flight-level steps answer for
all flights at once as sets of flights (ints, `index`), shared by the placements of a request;
ad-level ones are pools of the placement's candidates in auction order (`ranking`), so the
auction is the first survivor. In explain mode each dropped candidate gets the step and
reason that dropped it. Pure apart from the injected state (pacer, recent decisions) and
randomness.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from kairos.adserver import auction, caps
from kairos.adserver.auction import Personalizing, Prediction, Scorer
from kairos.adserver.catalog import Candidate, Catalog, PlacementInfo
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import (
    Choice,
    DecisionIds,
    DecisionRequest,
    PlacementRequest,
    PlacementResult,
)
from kairos.adserver.dynamic import ASSEMBLY
from kairos.adserver.explain import Dropped, Masks, explain, lost
from kairos.adserver.index import FlightIndex, Flights, has
from kairos.adserver.model import SelectionMode
from kairos.adserver.pacing import Delivery, Pacer
from kairos.adserver.ranking import Pool, Ranked, personalized, rank
from kairos.creative import assembly
from kairos.creative.assembly import Assembly, Combination
from kairos.creative.rules import Ranker
from kairos.stream.features import UserFeatures

_STATIC = SelectionMode.STATIC  # (read once: an enum member read costs a hook call)
MAX_LOGGED = 50  # eligible ad ids kept per placement in the decision log
MAX_POOLS = 4_096  # remembered candidate pools, all placements together (a few KB each)
# a dynamic creative's choice: (combination, its probability, the options it was chosen among
# when a model scored them — logged for off-policy evaluation; () when not)
Composed = tuple[Combination, float, tuple[Combination, ...]]
Composer = Callable[[Candidate, Assembly, RequestContext, random.Random], Composed]


@dataclass
class Engine:
    catalog: Catalog
    scorer: Scorer
    pacer: Pacer = field(default_factory=Pacer)
    recent: caps.RecentDecisions = field(default_factory=caps.RecentDecisions)
    deliveries: Mapping[str, Delivery] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    new_id: Callable[[], str] = field(default_factory=lambda: DecisionIds())
    # chooses among a dynamic creative's combinations (the learning issue's models plug in)
    compose: Composer = field(default=lambda _ad, found, _ctx, rng: _weighted(found, rng))
    # orders product slots for the visitor's recent products (None: recently viewed first)
    recommender: Ranker | None = None
    _index: FlightIndex | None = field(default=None, repr=False)
    _index_of: Catalog | None = field(default=None, repr=False)
    _ranked: dict[str, Ranked] = field(default_factory=dict, repr=False)
    _ranked_for: tuple[Catalog, Scorer] | None = field(default=None, repr=False)
    _scores: dict[str, Prediction] = field(default_factory=dict, repr=False)
    _pools: dict[tuple[str, Flights, frozenset[str]], Pool] = field(
        default_factory=dict, repr=False
    )

    def decide(
        self, request: DecisionRequest, features: UserFeatures | None
    ) -> list[PlacementResult]:
        ctx = request.ctx
        index, now = self.index(), ctx.timestamp()
        page = _Page(request, features if ctx.personalization else None, index)
        if ctx.features:  # the scorer may refine its ranking with the user's features
            page.personal = getattr(self.scorer, "personalize_top", 0)
        page.base = index.running(now) & index.unspent(self.deliveries)
        page.paced = index.paced(self.pacer, self.rng)
        if page.paced is not None:
            page.base &= page.paced
        if ctx.personalization:
            page.capped = index.capped(page.features, self.recent, ctx.user_key, now)
        return [self._placement(p, page) for p in request.placements]

    def index(self) -> FlightIndex:
        """The decision index of the catalog in use (made on first use of a catalog)."""
        if self._index_of is not self.catalog:
            self._index, self._index_of = FlightIndex(self.catalog), self.catalog
        assert self._index is not None
        return self._index

    def _placement(self, wanted: PlacementRequest, page: _Page) -> PlacementResult:
        info = self.catalog.placement(wanted.key)
        if info is None:
            return PlacementResult(wanted, None, [], 0, f"unknown placement {wanted.key!r}")
        if wanted.zone_id is not None and wanted.zone_id != info.zone.id:
            reason = f"placement is not in zone {wanted.zone_id}"
            return PlacementResult(wanted, info, [], 0, reason)
        ctx, targeted = page.context_for(info, wanted)
        flights = page.base & targeted
        if page.capped is not None:
            flights &= ~page.capped
        ranked = self._ranking(info, ctx, page, flights)
        types = frozenset(wanted.ad_types)
        pool = self._pool(info, ranked, flights, types, page.index)
        if page.personal and pool.survivors:
            scorer = cast(Personalizing, self.scorer)
            ranked, pool = personalized(ranked, pool, scorer, ctx, page.personal)
        skip = self._ad_steps(ranked, pool, ctx, page)
        eligible = pool.eligible(ranked, skip, MAX_LOGGED)
        left = pool.any_left(skip)
        trail: list[Dropped] = []
        if page.request.explain:
            kept = pool.kept.copy()
            kept[list(skip)] = False
            trail = explain(ranked, kept, Masks(flights, targeted, types), ctx, page, self)
        choices = self._choose(info, wanted, ctx, ranked, pool, skip, page)
        if page.request.explain:
            trail += lost(ranked, kept, choices, self._floor(info, wanted))
        no_fill = None if choices else _no_fill(info, left)
        considered = len(info.candidates)
        return PlacementResult(wanted, info, choices, considered, no_fill, trail, eligible)

    def _ranking(
        self, info: PlacementInfo, ctx: RequestContext, page: _Page, flights: Flights
    ) -> Ranked:
        """The candidates in auction order: once per catalog and scorer when the scorer is
        context free, else per request over the candidates whose flights passed."""
        if not self.scorer.context_free:
            alive = info.candidates
            if not page.request.explain:  # explain wants every candidate, with its reason
                position = page.index.position
                alive = tuple(c for c in alive if has(flights, position[c.flight.id]))
            return rank(alive, self.scorer.predict(alive, ctx), page.index)
        made_for = self._ranked_for  # (by identity: a catalog's equality reads all of it)
        if made_for is None or made_for[0] is not self.catalog or made_for[1] is not self.scorer:
            everything = list(self.catalog.ads.values())
            predictions = self.scorer.predict(everything, ctx)
            self._scores = {c.ad.id: p for c, p in zip(everything, predictions, strict=True)}
            self._ranked, self._ranked_for = {}, (self.catalog, self.scorer)
            self._pools = {}
        ranked = self._ranked.get(info.placement.id)
        if ranked is None:
            predictions = [self._scores[c.ad.id] for c in info.candidates]
            ranked = rank(info.candidates, predictions, page.index)
            self._ranked[info.placement.id] = ranked
        return ranked

    def _pool(
        self,
        info: PlacementInfo,
        ranked: Ranked,
        flights: Flights,
        types: frozenset[str],
        index: FlightIndex,
    ) -> Pool:
        """`ranked.pool`, remembered per placement, flights and types while the ranking
        lasts (up to `MAX_POOLS` in all)."""
        if not self.scorer.context_free:  # a ranking per request: nothing to share
            return ranked.pool(index.mask(flights), types)
        key = (info.placement.id, flights, types)
        found = self._pools.get(key)
        if found is None:
            found = ranked.pool(index.mask(flights), types)
            if len(self._pools) >= MAX_POOLS:
                self._pools.clear()
            self._pools[key] = found
        return found

    def _ad_steps(self, ranked: Ranked, pool: Pool, ctx: RequestContext, page: _Page) -> set[int]:
        """The positions the pool's candidates leave out here: already on the page (the ad or
        its creative), or at one of their ad caps."""
        skip = {pos for ad_id in page.ads if (pos := ranked.by_ad.get(ad_id)) is not None}
        for creative_id in page.creatives:
            skip.update(ranked.by_creative.get(creative_id, ()))
        if ranked.ad_capped and ctx.personalization:
            now, kept = ctx.timestamp(), pool.kept
            for pos in ranked.ad_capped:
                c = ranked.candidates[pos]
                if not kept[pos] or pos in skip:
                    continue
                if caps.check(c, page.features, self.recent, ctx.user_key, now, True):
                    skip.add(pos)
        return skip

    # -- auction and fallback -----------------------------------------------------------------

    def _floor(self, info: PlacementInfo, wanted: PlacementRequest) -> float:
        return max(info.placement.floor_cpm, wanted.floor_cpm or 0.0)

    def _choose(
        self,
        info: PlacementInfo,
        wanted: PlacementRequest,
        ctx: RequestContext,
        ranked: Ranked,
        pool: Pool,
        skip: set[int],
        page: _Page,
    ) -> list[Choice]:
        """The auction over the pool less `skip` (which grows with what is chosen)."""
        floor = self._floor(info, wanted)
        static = info.placement.selection is _STATIC
        choices: list[Choice] = []
        biddable = pool.biddable(ranked, floor)
        while len(choices) < max(wanted.count, 1):
            if static:
                open_ = [p for p in biddable if p not in skip]
                won = auction.lottery([ranked.bid(p) for p in ranked.tier(open_)], self.rng)
            else:  # the winner and the runner-up who sets the price
                won = ranked.second_price(ranked.tier(_first_two(biddable, skip)), floor)
            if won is None:
                house = [ranked.bid(p) for p in pool.house(ranked) if p not in skip]
                won = auction.house(house, self.rng)
            if won is None:
                break
            pos = ranked.by_ad[won.bid.candidate.ad.id]
            choice = self._assembled(Choice(self.new_id(), won.bid.candidate, won), ctx)
            if choice is None:  # a dynamic ad with nothing to show here: the next one
                skip.add(pos)
                continue
            choices.append(choice)
            self._served(choice.candidate, ranked.served_keys[pos], ctx, page)
            skip.add(pos)  # more here: not the same again, nor its creative
            skip.update(ranked.by_creative[choice.candidate.creative.id])
        return choices

    def _assembled(self, choice: Choice, ctx: RequestContext) -> Choice | None:
        """A dynamic creative's combination for this request, chosen by `compose`; None
        when its rules leave nothing to show (no product matches)."""
        creative = choice.candidate.creative
        if creative.template_id is None:
            return choice
        started = time.perf_counter()
        dynamic = self.catalog.dynamic
        template = dynamic.templates[creative.template_id]
        found = dynamic.assemblies.get(
            template,
            dynamic.variants_of(creative.advertiser_id),
            dynamic.products_of(template),
            ctx.variables(),
            self.recommender,
        )
        if found is None:
            ASSEMBLY.inc(time.perf_counter() - started)
            return None
        combination, share, options = self.compose(choice.candidate, found, ctx, self.rng)
        ASSEMBLY.inc(time.perf_counter() - started)
        # (not `dataclasses.replace`: it inspects the fields on every call)
        return Choice(
            choice.decision_id, choice.candidate, choice.won, combination, template, share, options
        )

    def _served(
        self, c: Candidate, keys: tuple[str, ...], ctx: RequestContext, page: _Page
    ) -> None:
        page.ads.add(c.ad.id)
        page.creatives.add(c.creative.id)
        if ctx.user_key is None or not ctx.personalization or not keys:
            return
        now = ctx.timestamp()
        self.recent.record(ctx.user_key, now, keys)
        # what was just chosen counts towards its caps for the page's next placements
        counted = [k for k in keys if k in page.index.rules_by_key]
        if counted:
            more = page.index.capped(page.features, self.recent, ctx.user_key, now, counted)
            if more is not None:
                page.capped = more if page.capped is None else page.capped | more


class _Page:
    """One request's shared answers: the flight sets, what it served, per-placement contexts."""

    __slots__ = (
        "ads",
        "base",
        "capped",
        "contexts",
        "creatives",
        "features",
        "index",
        "paced",
        "personal",
        "request",
    )

    def __init__(
        self, request: DecisionRequest, features: UserFeatures | None, index: FlightIndex
    ) -> None:
        self.request, self.features, self.index = request, features, index
        self.base: Flights = index.everything  # running, unspent and paced: set first thing
        self.paced: Flights | None = None  # None: no flight is throttled
        self.capped: Flights | None = None  # flights at a cap for this user
        self.personal = 0  # candidates per placement scored again with the user's features
        self.ads: set[str] = set()
        self.creatives: set[str] = set()
        self.contexts: dict[tuple[str, object], tuple[RequestContext, Flights]] = {}

    def context_for(
        self, info: PlacementInfo, wanted: PlacementRequest
    ) -> tuple[RequestContext, Flights]:
        """The request's context with this placement's site, zone and key-values, and the
        flights whose targeting (expressions included) lets it through."""
        key = (info.placement.id, tuple(sorted(wanted.properties.items())))
        if key not in self.contexts:
            base = self.request.ctx
            properties = {**base.properties, **wanted.properties}
            ctx = base.at_placement(info.site.id, info.zone.id, properties, info.placement.id)
            targeted = self.index.targeted(ctx)
            held = self.index.expressions_hold(ctx)
            self.contexts[key] = (ctx, targeted if held is None else targeted & held)
        return self.contexts[key]

    def not_on_page(self, c: Candidate) -> str | None:
        if c.ad.id in self.ads:
            return "already on this page"
        if c.creative.id in self.creatives:
            return "creative already on this page"
        return None


def _first_two(positions: Iterable[int], skip: set[int]) -> list[int]:
    top: list[int] = []
    for pos in positions:
        if pos not in skip:
            top.append(pos)
            if len(top) == 2:
                break
    return top


def _no_fill(info: PlacementInfo, survivors: bool) -> str:
    if not info.candidates:
        return "no ads fit this placement"
    if not survivors:
        return "every candidate was filtered out"
    return "no bid met the floor"


def _weighted(found: Assembly, rng: random.Random) -> Composed:
    """The default choice: rules first, then weights (`creative.assembly.choose`)."""
    combination, share = assembly.choose(found, rng)
    return combination, share, ()
