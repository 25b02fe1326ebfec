"""What the stream hands to the database writer: one record per first-time interaction.

An `Interaction` is the cleaned, enriched event (history for training and audits) with the
ad it is attributed to and `Counts`, its contribution to the performance roll-ups. The
stream decides the counts (an impression counts once per decision, a viewable beacon once,
a click once), so the writer only adds them up.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct, field


class Counts(Struct, kw_only=True, omit_defaults=True, gc=False):
    impressions: int = 0
    viewable: int = 0
    clicks: int = 0
    conversions: int = 0
    spend: float = 0.0
    revenue: float = 0.0

    def __bool__(self) -> bool:
        return bool(
            self.impressions
            or self.viewable
            or self.clicks
            or self.conversions
            or self.spend
            or self.revenue
        )


NO_COUNTS = Counts()


class AdRef(Struct, kw_only=True, omit_defaults=True, gc=False):
    """The ad an interaction belongs to (as much of it as is known)."""

    decision_id: str | None = None
    advertiser_id: str | None = None
    campaign_id: str | None = None
    flight_id: str | None = None
    ad_id: str | None = None
    creative_id: str | None = None
    placement_id: str | None = None
    elements: dict[str, str] = field(default_factory=dict)


class Interaction(Struct, kw_only=True, omit_defaults=True, gc=False):
    event_id: str
    event_type: str
    user_key: str
    ts: datetime
    session_id: str | None = None
    page_url: str | None = None
    category: str | None = None
    device: str | None = None
    os: str | None = None
    browser: str | None = None
    country: str | None = None
    region: str | None = None
    local_hour: int | None = None
    weekday: int | None = None
    value: float | None = None
    ad: AdRef | None = None
    attribution: str | None = None  # "click" | "view" for attributed conversions
    counts: Counts = field(default_factory=Counts)
    # products viewed, added to the cart or bought (for the product recommender)
    product_ids: list[str] = field(default_factory=list)
