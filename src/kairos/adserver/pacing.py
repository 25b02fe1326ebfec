"""Pacing: deliver each flight's goal and daily budget evenly over its remaining time.

Each flight has a serve probability, re-estimated at every update from its delivery: the rate
it must deliver from now on (what remains over the time that remains, today's budget over
what remains of the flight's day) divided by the rate it would deliver unthrottled (the rate
observed since the last update over the probability it ran at). Steps are bounded, so one
noisy interval cannot swing it. `asap` flights run unthrottled until the goal or budget is
reached. Pure: the caller supplies the delivery counts and the clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kairos.adserver.model import Flight, GoalType, PacingMode


@dataclass(frozen=True)
class Delivery:
    """What a flight has delivered: goal units (impressions, clicks or conversions) and spend."""

    units: float = 0.0
    spend: float = 0.0
    units_today: float = 0.0
    spend_today: float = 0.0


@dataclass
class _State:
    probability: float = 1.0
    at: float | None = None  # epoch seconds of the last update
    units: float = 0.0
    spend: float = 0.0
    # what the flight would deliver unthrottled (units/s, spend/s), smoothed over updates
    potential: dict[bool, float] = field(default_factory=dict)


@dataclass
class Pacer:
    min_probability: float = 0.0005
    max_step: float = 2.0  # the probability changes by at most x2 or /2 per update
    smoothing: float = 0.1  # weight of the newest interval in the potential-rate estimate
    _states: dict[str, _State] = field(default_factory=dict)
    version: int = 0  # bumped by every update: who caches probabilities knows when to redo

    def probability(self, flight_id: str) -> float:
        state = self._states.get(flight_id)
        return state.probability if state is not None else 1.0

    def allow(self, flight_id: str, rng: random.Random) -> bool:
        p = self.probability(flight_id)
        return p >= 1.0 or rng.random() < p

    def update(self, flight: Flight, delivery: Delivery, now: datetime) -> float:
        """Re-estimate the flight's probability from its delivery; returns it."""
        state = self._states.setdefault(flight.id, _State())
        self.version += 1
        t = now.timestamp()
        if flight.pacing is PacingMode.ASAP or exhausted(flight, delivery) is not None:
            state.probability = 1.0
        elif state.at is not None and t > state.at:
            needs = needed_rates(flight, delivery, now)
            if needs:
                state.probability = self._next(state, needs, delivery, t)
        state.at, state.units, state.spend = t, delivery.units, delivery.spend
        return state.probability

    def _next(self, state: _State, needs: list[Need], delivery: Delivery, t: float) -> float:
        assert state.at is not None
        elapsed, p = t - state.at, state.probability
        observed = {
            False: (delivery.units - state.units) / elapsed,
            True: (delivery.spend - state.spend) / elapsed,
        }
        proposals = []
        for need in needs:
            sample = observed[need.spend] / p  # what this interval shows unthrottled
            before = state.potential.get(need.spend)
            potential = sample if before is None else before + self.smoothing * (sample - before)
            state.potential[need.spend] = potential
            # no potential seen yet: open up; else aim at the needed share of the potential
            proposals.append(p * self.max_step if potential <= 0 else need.rate / potential)
        proposal = min(proposals)  # the tightest constraint wins
        proposal = min(max(proposal, p / self.max_step), p * self.max_step)
        return min(1.0, max(self.min_probability, proposal))


@dataclass(frozen=True)
class Need:
    """A delivery rate a flight must keep from now on: goal units/s, or spend/s."""

    rate: float
    spend: bool = False


def needed_rates(flight: Flight, delivery: Delivery, now: datetime) -> list[Need]:
    """What binds the flight's pace now: the rest of its goal, the rest of today's budget."""
    needs: list[Need] = []
    if flight.goal_amount is not None and flight.end is not None and now < flight.end:
        remaining = max(flight.goal_amount - delivery.units, 0.0)
        needs.append(Need(remaining / (flight.end - now).total_seconds()))
    if flight.daily_budget is not None:
        left_today = _seconds_left_today(flight, now)
        if left_today > 0:
            remaining_spend = max(flight.daily_budget - delivery.spend_today, 0.0)
            needs.append(Need(remaining_spend / left_today, spend=True))
    return needs


def exhausted(flight: Flight, delivery: Delivery) -> str | None:
    """Why the flight may not serve any more, if it may not."""
    if flight.goal_amount is not None and delivery.units >= flight.goal_amount:
        return f"goal reached: {delivery.units:g}/{flight.goal_amount} {flight.goal_type}"
    if flight.lifetime_budget is not None and delivery.spend >= flight.lifetime_budget:
        return f"lifetime budget spent: {delivery.spend:.2f}/{flight.lifetime_budget:.2f}"
    if flight.daily_budget is not None and delivery.spend_today >= flight.daily_budget:
        return f"daily budget spent: {delivery.spend_today:.2f}/{flight.daily_budget:.2f}"
    return None


def pacing_error(flight: Flight, delivery: Delivery, now: datetime) -> float | None:
    """(delivered - expected) / goal, where expected is the even share of the goal by now."""
    if flight.goal_amount is None or flight.end is None or flight.goal_amount <= 0:
        return None
    total = (flight.end - flight.start).total_seconds()
    elapsed = min(max((now - flight.start).total_seconds(), 0.0), total)
    expected = flight.goal_amount * elapsed / total if total > 0 else flight.goal_amount
    return (delivery.units - expected) / flight.goal_amount


def goal_units(goal: GoalType, impressions: float, clicks: float, conversions: float) -> float:
    return {
        GoalType.IMPRESSIONS: impressions,
        GoalType.CLICKS: clicks,
        GoalType.CONVERSIONS: conversions,
    }[goal]


def _seconds_left_today(flight: Flight, now: datetime) -> float:
    local = now.astimezone(_zone(flight.timezone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    end = midnight if flight.end is None else min(midnight, flight.end.astimezone(local.tzinfo))
    return max((end - local).total_seconds(), 0.0)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
