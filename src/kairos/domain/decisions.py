"""The decision log record: what the ad server chose for one placement, and why.

Produced by the ad server to the decisions topic (keyed by pseudonymous user key) for every
decision, no-fill included. The stream joins it with the impression and the click or
conversion that followed, so that every labelled example carries the features, propensity
and model version the decision used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from msgspec import Raw, Struct, field

DECISION_SCHEMA_VERSION = 1
NO_IDS = Raw(b"[]")


class _Record(Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A decision record's fields but its eligible ads (`Decision`, `DecisionRecord`)."""

    decision_id: str
    ts: datetime
    user_key: str | None = None
    placement_id: str | None = None
    advertiser_id: str | None = None
    campaign_id: str | None = None
    flight_id: str | None = None
    ad_id: str | None = None
    creative_id: str | None = None
    elements: dict[str, str] = field(default_factory=dict)  # slot -> variant
    score: float | None = None
    propensity: float | None = None  # probability the policy had of choosing this
    # of which the combination's own (given the ad), and the combinations (`features.ad_part`'s
    # `combination` keys) a model chose it among — for off-policy evaluation
    combination_propensity: float | None = None
    options: list[str] = field(default_factory=list)
    model_version: str | None = None
    features: dict[str, Any] = field(default_factory=dict)  # what the model saw
    candidates: int = 0  # ads that fit the placement
    no_fill: bool = False
    schema_version: int = DECISION_SCHEMA_VERSION


class Decision(_Record, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """The record as the topic's readers decode it."""

    eligible: list[str] = field(default_factory=list)  # those that reached the auction (≤ 50)


class DecisionRecord(_Record, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """The record as the ad server writes it: its eligible ads already JSON, encoded once for
    every decision that logs the same ones. Its JSON decodes as a `Decision`."""

    eligible: Raw = NO_IDS


def combination_key(elements: Mapping[str, str]) -> str:
    """A combination as one string: `slot=variant|slot=variant`, slots in order."""
    return "|".join(f"{slot}={variant}" for slot, variant in sorted(elements.items()))


def elements_of(key: str) -> dict[str, str]:
    """The elements of a `combination_key`."""
    return dict(part.split("=", 1) for part in key.split("|") if "=" in part)
