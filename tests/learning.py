"""What the learning tests share: a candidate described as the ad server describes one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.learn import features


def described(headline: str, user: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dynamic ad `ad` (advertiser adv, campaign c, flight f, creative cr) on placement p
    showing `headline`, to a user with this model-facing snapshot."""
    return features.user_part(user or {}) | features.ad_part(
        advertiser_id="adv",
        campaign_id="c",
        flight_id="f",
        ad_id="ad",
        creative_id="cr",
        placement_id="p",
        elements={"headline": headline},
    )
