"""Labelled examples: a shown ad joined with what the visitor did next, for training.

One example per (decision, task) and label; a late click after a negative produces a
correction (`correction=True`, label 1) rather than a second independent positive, so a
learner can undo the negative it learnt. `example_id` is deterministic: a consumer that sees
the same example twice can tell.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from msgspec import Struct, field

EXAMPLE_SCHEMA_VERSION = 1


class Task(StrEnum):
    CLICK = "click"
    CONVERSION = "conversion"


class LabelledExample(Struct, frozen=True, kw_only=True, gc=False):
    example_id: str
    decision_id: str
    user_key: str
    task: Task
    label: int  # 1 clicked/converted, 0 not within the window
    correction: bool = False  # a late positive that overturns an emitted negative
    impression_ts: datetime
    label_ts: datetime  # when the label became known (the click, or the window's close)
    delay_s: float | None  # impression to click/conversion; None for negatives
    advertiser_id: str | None = None
    campaign_id: str | None = None
    flight_id: str | None = None
    ad_id: str | None = None
    creative_id: str | None = None
    placement_id: str | None = None
    elements: dict[str, str] = field(default_factory=dict)
    propensity: float | None = None
    model_version: str | None = None
    value: float = 0.0  # conversion value, for conversion examples
    features: dict[str, Any] = field(default_factory=dict)
    schema_version: int = EXAMPLE_SCHEMA_VERSION


def example_id(decision_id: str, task: Task, label: int, correction: bool) -> str:
    suffix = "c" if correction else ""
    return f"{decision_id}:{task.value}:{label}{suffix}"
