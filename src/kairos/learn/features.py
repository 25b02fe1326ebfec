"""What a click model sees: one mapping built the same way when it learns from a labelled
example and when it scores a candidate for a request, so that training and serving agree.

From the user (the model-facing snapshot the stream computes, the same one decisions log):
interests, keywords, device, country, local hour and weekday, session depth, window counts.
From the ad: advertiser, campaign, flight, ad, creative, placement, each element of a
dynamic creative (`elements`: `slot=variant`) and the combination as one value. Crosses
(chosen in the model's parameters) pair them, e.g. the user's top interests with the
elements, and elements with each other for combination effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kairos.domain.decisions import combination_key

__all__ = ["DEFAULT_CROSSES", "ad_part", "combination_key", "of_example", "user_part"]
from kairos.domain.examples import LabelledExample

USER_FIELDS = (
    "device",
    "os",
    "browser",
    "country",
    "local_hour",
    "weekday",
    "session_depth",
)
PREFIXES = ("interest.", "keyword.", "count.")
TOP_INTERESTS = 5  # the strongest interests also appear as one categorical, for crosses
DEFAULT_CROSSES: tuple[tuple[str, str], ...] = (
    ("top_interest", "creative"),
    ("top_interest", "elements"),
    ("elements", "elements"),
    ("device", "placement"),
    ("local_hour", "creative"),
)


def user_part(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    x: dict[str, Any] = {name: snapshot.get(name) for name in USER_FIELDS}
    if isinstance(x["local_hour"], int):
        x["local_hour"] = str(x["local_hour"])  # an hour is a category, not a magnitude
    if isinstance(x["weekday"], int):
        x["weekday"] = str(x["weekday"])
    interests: list[tuple[float, str]] = []
    for name, value in snapshot.items():
        if name.startswith(PREFIXES) and isinstance(value, int | float):
            x[name] = value
            if name.startswith("interest.") and value > 0:
                interests.append((value, name.removeprefix("interest.")))
    x["top_interest"] = [name for _, name in sorted(interests, reverse=True)[:TOP_INTERESTS]]
    return x


def ad_part(
    *,
    advertiser_id: str | None,
    campaign_id: str | None,
    flight_id: str | None,
    ad_id: str | None,
    creative_id: str | None,
    placement_id: str | None,
    elements: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "advertiser": advertiser_id,
        "campaign": campaign_id,
        "flight": flight_id,
        "ad": ad_id,
        "creative": creative_id,
        "placement": placement_id,
        **elements_part(elements),
    }


def elements_part(elements: Mapping[str, str]) -> dict[str, Any]:
    """A dynamic creative's combination as the model sees it (part of `ad_part`)."""
    return {
        "elements": [f"{slot}={variant}" for slot, variant in sorted(elements.items())],
        # the combination as a whole, what additive element weights cannot say (of two
        # elements or more: one element is its own combination, and counted twice it would
        # double its prior spread)
        "combination": combination_key(elements) if len(elements) > 1 else None,
    }


def of_example(example: LabelledExample) -> dict[str, Any]:
    return user_part(example.features) | ad_part(
        advertiser_id=example.advertiser_id,
        campaign_id=example.campaign_id,
        flight_id=example.flight_id,
        ad_id=example.ad_id,
        creative_id=example.creative_id,
        placement_id=example.placement_id,
        elements=example.elements,
    )
