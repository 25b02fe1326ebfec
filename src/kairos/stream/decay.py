"""Exponentially decayed scores: interest that fades with a configurable half-life.

A score is kept as (value, reference time); adding is order-independent, so late events
add exactly what they would have added on time.
"""

from __future__ import annotations

import math
from datetime import datetime

from msgspec import Struct


class Decayed(Struct, array_like=True, gc=False):
    value: float
    at: float  # epoch seconds the value refers to

    def value_at(self, now: float, half_life_s: float) -> float:
        if now <= self.at:
            return self.value
        return self.value * math.pow(0.5, (now - self.at) / half_life_s)


def add(score: Decayed | None, ts: datetime, weight: float, half_life_s: float) -> Decayed:
    t = ts.timestamp()
    if score is None:
        return Decayed(weight, t)
    if t >= score.at:
        return Decayed(score.value_at(t, half_life_s) + weight, t)
    return Decayed(score.value + weight * math.pow(0.5, (score.at - t) / half_life_s), score.at)


def top(scores: dict[str, Decayed], now: float, half_life_s: float, keep: int) -> None:
    """Keep the `keep` strongest scores (in place)."""
    if len(scores) <= keep:
        return
    ranked = sorted(scores, key=lambda k: scores[k].value_at(now, half_life_s), reverse=True)
    for weakest in ranked[keep:]:
        del scores[weakest]
