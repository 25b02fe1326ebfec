"""Cleaning: normalise timestamps, cap absurd values. Pure functions.

(Duplicates are dropped against the user's state: `kairos.stream.state.first_time`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from kairos.domain.events import AddToCart, BaseEvent, Conversion, replace


@dataclass(frozen=True)
class CleaningRules:
    """Bounds outside which an event's values are not believed."""

    max_clock_skew: timedelta = timedelta(minutes=5)  # client clocks ahead of the server
    max_age: timedelta = timedelta(days=7)  # older events (offline apps) are refused
    max_price: float = 1_000_000.0
    max_order_value: float = 10_000_000.0
    max_quantity: int = 1_000


@dataclass(frozen=True)
class Refused:
    """Why an event was not let through (it goes to the dead-letter topic)."""

    reason: str


def clean(event: BaseEvent, rules: CleaningRules = CleaningRules()) -> BaseEvent | Refused:
    """The event with a trustworthy `ts` and capped values, or why it cannot be used."""
    received = event.received_at or event.ts
    if received is None or event.user_key is None:
        return Refused("event was not stamped at ingress")
    ts = event.ts or received
    if ts > received + rules.max_clock_skew:
        ts = received  # a clock in the future: the server's time is the better guess
    if ts < received - rules.max_age:
        return Refused(f"event is older than {rules.max_age.days} days")
    changes: dict[str, object] = {}
    if ts != event.ts:
        changes["ts"] = ts
    changes |= _capped_values(event, rules)
    return replace(event, **changes) if changes else event


def _capped_values(event: BaseEvent, rules: CleaningRules) -> dict[str, object]:
    changes: dict[str, object] = {}
    if isinstance(event, AddToCart | Conversion):
        if event.quantity > rules.max_quantity:
            changes["quantity"] = rules.max_quantity
        if isinstance(event, AddToCart) and (event.price or 0) > rules.max_price:
            changes["price"] = rules.max_price
    if isinstance(event, Conversion) and event.value > rules.max_order_value:
        changes["value"] = rules.max_order_value
    return changes
