"""Roll-ups: an interaction's counts spread over the rows they add to. Pure functions.

Each counted interaction adds to one total row per grain (minute, hour) for its ad and
element combination, and to one row per element variant it showed. Deltas of a batch are
summed in memory first, so the database sees one upsert per row per batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from kairos.stream.records import AdRef, Counts, Interaction

GRAINS = {"minute": 60, "hour": 3600}
MAX_COMBINATION = 512


class RollupKey(NamedTuple):
    grain: str
    bucket: datetime
    advertiser_id: str
    campaign_id: str
    flight_id: str
    ad_id: str
    creative_id: str
    placement_id: str
    combination: str
    slot: str
    variant: str


METRICS = ("impressions", "viewable", "clicks", "conversions", "spend", "revenue")


def combination_of(elements: dict[str, str]) -> str:
    """A stable name for a set of element variants: "cta=c2|headline=h1"."""
    name = "|".join(f"{slot}={variant}" for slot, variant in sorted(elements.items()))
    if len(name) <= MAX_COMBINATION:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return f"{name[: MAX_COMBINATION - 40]}…#{digest}"


def bucket_of(ts: datetime, seconds: int) -> datetime:
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def keys_for(interaction: Interaction) -> list[RollupKey]:
    ad = interaction.ad or AdRef()
    dims = (
        ad.advertiser_id or "",
        ad.campaign_id or "",
        ad.flight_id or "",
        ad.ad_id or "",
        ad.creative_id or "",
        ad.placement_id or "",
    )
    combination = combination_of(ad.elements)
    keys = []
    for grain, seconds in GRAINS.items():
        bucket = bucket_of(interaction.ts, seconds)
        keys.append(RollupKey(grain, bucket, *dims, combination, "", ""))
        for slot, variant in ad.elements.items():
            keys.append(RollupKey(grain, bucket, *dims, "", slot, variant))
    return keys


def aggregate(interactions: Iterable[Interaction]) -> dict[RollupKey, Counts]:
    """The summed deltas of a batch, one entry per roll-up row."""
    rows: dict[RollupKey, Counts] = {}
    for interaction in interactions:
        counts = interaction.counts
        if not counts:
            continue
        for key in keys_for(interaction):
            total = rows.get(key)
            if total is None:
                rows[key] = total = Counts()
            total.impressions += counts.impressions
            total.viewable += counts.viewable
            total.clicks += counts.clicks
            total.conversions += counts.conversions
            total.spend += counts.spend
            total.revenue += counts.revenue
    return rows
