"""The catalog: everything servable, indexed in memory for the decision hot path.

Built from the object model (loaded from the database and refreshed when it changes), never
queried from the database per request. For each placement it holds the candidate ads whose
creative fits the placement's ad types and sizes and whose whole chain (advertiser, campaign,
flight, ad) is active; dates, targeting, caps and pacing are checked per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    Creative,
    Flight,
    Placement,
    Site,
    Status,
    Zone,
)
from kairos.creative.assembly import Assemblies
from kairos.creative.model import Product, Template, Variant
from kairos.creative.rules import Shelf


@dataclass(frozen=True)
class Candidate:
    """One servable ad with its whole chain, resolved once when the catalog is built."""

    ad: Ad
    creative: Creative
    flight: Flight
    campaign: Campaign
    advertiser: Advertiser

    def live_at(self, now: datetime) -> bool:
        flight = self.flight
        return flight.start <= now and (flight.end is None or now < flight.end)


@dataclass(frozen=True)
class PlacementInfo:
    placement: Placement
    zone: Zone
    site: Site
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Dynamic:
    """What dynamic creatives are assembled from: live templates, active variants by
    advertiser and slot, and the available products of each feed the templates use."""

    templates: dict[str, Template] = field(default_factory=dict)
    variants: dict[str, dict[str, tuple[Variant, ...]]] = field(default_factory=dict)
    products: dict[str, Shelf] = field(default_factory=dict)  # by feed
    assemblies: Assemblies = field(default_factory=Assemblies, repr=False, compare=False)

    def variants_of(self, advertiser_id: str) -> dict[str, tuple[Variant, ...]]:
        return self.variants.get(advertiser_id, {})

    def products_of(self, template: Template) -> Shelf:
        shelf = self.products.get(template.feed_id) if template.feed_id else None
        return shelf if shelf is not None else _EMPTY_SHELF


@dataclass(frozen=True)
class Catalog:
    version: str
    placements: dict[str, PlacementInfo] = field(default_factory=dict)
    by_div: dict[str, str] = field(default_factory=dict)  # div name -> placement id
    flights: dict[str, Flight] = field(default_factory=dict)
    ads: dict[str, Candidate] = field(default_factory=dict)
    dynamic: Dynamic = field(default_factory=Dynamic)

    def placement(self, key: str) -> PlacementInfo | None:
        """By placement id, or by the page's div name."""
        info = self.placements.get(key)
        if info is None and key in self.by_div:
            info = self.placements.get(self.by_div[key])
        return info

    @property
    def ad_count(self) -> int:
        return len(self.ads)


EMPTY = Catalog(version="empty")
_EMPTY_SHELF = Shelf.of(())


def build(
    *,
    version: str,
    advertisers: Iterable[Advertiser],
    campaigns: Iterable[Campaign],
    flights: Iterable[Flight],
    creatives: Iterable[Creative],
    ads: Iterable[Ad],
    sites: Iterable[Site],
    zones: Iterable[Zone],
    placements: Iterable[Placement],
    templates: Iterable[Template] = (),
    variants: Iterable[Variant] = (),
    products: Iterable[Product] = (),
) -> Catalog:
    live_advertisers = {a.id: a for a in advertisers if a.status is Status.ACTIVE}
    live_campaigns = {
        c.id: c
        for c in campaigns
        if c.status is Status.ACTIVE and c.advertiser_id in live_advertisers
    }
    live_flights = {
        f.id: f for f in flights if f.status is Status.ACTIVE and f.campaign_id in live_campaigns
    }
    dynamic = _dynamic(live_advertisers, templates, variants, products)
    creative_by_id = {c.id: c for c in creatives}
    candidates: dict[str, Candidate] = {}
    for ad in ads:
        flight = live_flights.get(ad.flight_id)
        creative = creative_by_id.get(ad.creative_id)
        if ad.status is not Status.ACTIVE or flight is None or creative is None:
            continue
        campaign = live_campaigns[flight.campaign_id]
        advertiser = live_advertisers[campaign.advertiser_id]
        if creative.advertiser_id != advertiser.id:
            continue  # an ad may only show its own advertiser's creative
        if creative.template_id is not None and creative.template_id not in dynamic.templates:
            continue  # a dynamic creative whose template is not live
        candidates[ad.id] = Candidate(ad, creative, flight, campaign, advertiser)
    site_by_id = {s.id: s for s in sites if s.status is Status.ACTIVE}
    zone_by_id = {z.id: z for z in zones if z.site_id in site_by_id}
    infos: dict[str, PlacementInfo] = {}
    by_div: dict[str, str] = {}
    for placement in placements:
        zone = zone_by_id.get(placement.zone_id)
        if placement.status is not Status.ACTIVE or zone is None:
            continue
        fitting = tuple(c for c in candidates.values() if fits(c.creative, placement))
        site = site_by_id[zone.site_id]
        infos[placement.id] = PlacementInfo(placement, zone, site, fitting)
        if placement.div_name:
            by_div[placement.div_name] = placement.id
    return Catalog(version, infos, by_div, live_flights, candidates, dynamic)


def _dynamic(
    advertisers: dict[str, Advertiser],
    templates: Iterable[Template],
    variants: Iterable[Variant],
    products: Iterable[Product],
) -> Dynamic:
    live = {
        t.id: t for t in templates if t.status is Status.ACTIVE and t.advertiser_id in advertisers
    }
    by_slot: dict[str, dict[str, list[Variant]]] = {}
    for v in variants:
        if v.status is Status.ACTIVE and v.advertiser_id in advertisers:
            by_slot.setdefault(v.advertiser_id, {}).setdefault(v.slot, []).append(v)
    by_feed: dict[str, list[Product]] = {}
    for product in products:
        if product.available:
            by_feed.setdefault(product.feed_id, []).append(product)
    return Dynamic(
        live,
        {a: {slot: tuple(vs) for slot, vs in slots.items()} for a, slots in by_slot.items()},
        {feed: Shelf.of(ps) for feed, ps in by_feed.items()},
    )


def fits(creative: Creative, placement: Placement) -> bool:
    if creative.ad_type not in placement.ad_types:
        return False
    if not placement.sizes or creative.width is None or creative.height is None:
        return True  # a fluid placement, or a creative that adapts (native, video)
    return f"{creative.width}x{creative.height}" in placement.sizes
