"""The ad server's object model as plain typed data: who advertises what, where, to whom.

advertisers → campaigns → flights (dates, priority, goal, budget, pacing, caps, targeting,
price) → ads (a creative on a flight, with a weight); sites → zones → placements (ad types,
sizes, floor, static or learned selection). The database stores them (`kairos.db`), the
management API edits them, and the decision engine reads an in-memory `Catalog` built from
them. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from msgspec import Struct, field


class Status(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class GoalType(StrEnum):
    IMPRESSIONS = "impressions"
    CLICKS = "clicks"
    CONVERSIONS = "conversions"


class RateType(StrEnum):
    """How the advertiser pays: per thousand impressions, per click, per conversion."""

    CPM = "cpm"
    CPC = "cpc"
    CPA = "cpa"


class PacingMode(StrEnum):
    EVEN = "even"  # spread the goal and the daily budget over the remaining time
    ASAP = "asap"  # deliver as fast as demand allows


class CapScope(StrEnum):
    AD = "ad"
    FLIGHT = "flight"
    CAMPAIGN = "campaign"
    ADVERTISER = "advertiser"


class CapUnit(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class SelectionMode(StrEnum):
    LEARNED = "learned"  # eCPM auction with pCTR from the models
    STATIC = "static"  # weighted lottery on fixed weights: the traditional baseline


class FrequencyCap(Struct, frozen=True, kw_only=True, gc=False):
    """At most `impressions` per user per `period` `unit`s, counted at `scope`."""

    scope: CapScope
    impressions: int
    period: int = 1
    unit: CapUnit = CapUnit.DAY

    @property
    def window_s(self) -> int:
        return self.period * {CapUnit.MINUTE: 60, CapUnit.HOUR: 3600, CapUnit.DAY: 86400}[self.unit]


class Targeting(Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Who and where a flight may be shown. Empty lists mean "any"."""

    countries: list[str] = field(default_factory=list)  # ISO 3166-1 alpha-2
    exclude_countries: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)  # ISO 3166-2 subdivision codes, e.g. "PT-11"
    devices: list[str] = field(default_factory=list)  # desktop | mobile | tablet
    os: list[str] = field(default_factory=list)
    browsers: list[str] = field(default_factory=list)
    site_ids: list[str] = field(default_factory=list)
    zone_ids: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)  # at least one must be on the page
    exclude_keywords: list[str] = field(default_factory=list)  # none may be
    days: list[int] = field(default_factory=list)  # 0 = Monday … 6, in the flight's time zone
    hours: list[int] = field(default_factory=list)  # 0 … 23, in the flight's time zone
    expression: str | None = None  # e.g. 'interest.eco > 0.3 and not segment in ["churned"]'


class Advertiser(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    name: str
    status: Status = Status.ACTIVE


class Campaign(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    advertiser_id: str
    name: str
    status: Status = Status.ACTIVE
    caps: list[FrequencyCap] = field(default_factory=list)
    # share of its dynamic ads' choices the learner may spend off its current best (None: any)
    exploration: float | None = None


class Flight(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    campaign_id: str
    name: str
    start: datetime
    end: datetime | None = None
    timezone: str = "UTC"
    status: Status = Status.ACTIVE
    priority: int = 5  # 1 is served first; lower tiers only get what higher ones leave
    rate_type: RateType = RateType.CPM
    price: float = 0.0  # in the advertiser's currency per rate unit (per mille for CPM)
    goal_type: GoalType = GoalType.IMPRESSIONS
    goal_amount: int | None = None  # lifetime goal in goal_type units; None = unlimited
    daily_budget: float | None = None
    lifetime_budget: float | None = None
    pacing: PacingMode = PacingMode.EVEN
    caps: list[FrequencyCap] = field(default_factory=list)
    targeting: Targeting = field(default_factory=Targeting)


class Creative(Struct, frozen=True, kw_only=True, gc=False):
    """What is shown. A static creative has its contents; a dynamic one names a template
    whose slots are filled per decision (the dynamic creatives issue)."""

    id: str
    advertiser_id: str
    name: str
    ad_type: str = "display"  # display | native | video
    width: int | None = None
    height: int | None = None
    click_url: str = ""  # the advertiser's landing page
    html: str | None = None
    image_url: str | None = None
    title: str | None = None
    body: str | None = None
    cta: str | None = None
    template_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # structured fields for native


class Ad(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    flight_id: str
    creative_id: str
    weight: int = 100  # share in the static lottery
    status: Status = Status.ACTIVE


class Site(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    name: str
    domain: str
    status: Status = Status.ACTIVE


class Zone(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    site_id: str
    name: str


class Placement(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    zone_id: str
    name: str
    div_name: str | None = None  # the page's `data-kairos-placement` value
    ad_types: list[str] = field(default_factory=lambda: ["display"])
    sizes: list[str] = field(default_factory=list)  # "300x250"; empty = any size
    floor_cpm: float = 0.0
    selection: SelectionMode = SelectionMode.LEARNED
    status: Status = Status.ACTIVE
