"""Flight-level answers for all of a catalog's flights at once, as boolean masks.

A placement has hundreds of candidate ads over tens of flights, and most of a decision's
checks are about flights: running or not, spent or not, targeted, paced, capped. The index
answers each for every flight with a few array operations instead of a loop per flight:

- targeting per value of each request trait (country, device, keywords, the quarter hour, …),
  remembered, and ANDed once per distinct combination of traits (remembered too);
  expressions once per distinct text and placement context;
- dates from start/end arrays; spent flights once per delivery refresh; pacing draws only
  for throttled flights;
- frequency caps only for the counters the user has: a cap binds only after impressions.

The reasons of the explain mode come from the scalar checks, for dropped flights only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kairos.adserver import caps, pacing
from kairos.adserver.catalog import Candidate, Catalog
from kairos.adserver.context import RequestContext
from kairos.adserver.model import CapScope, FrequencyCap
from kairos.adserver.pacing import Delivery, Pacer
from kairos.adserver.targeting import filters
from kairos.stream.features import UserFeatures

Mask = np.ndarray[Any, np.dtype[np.bool_]]
QUARTER_S = 900  # every time zone's hours start on a UTC quarter hour
MAX_REMEMBERED = 50_000  # trait values and trait combinations (cleared when full)
_PROBE = RequestContext(now=datetime(1970, 1, 1, tzinfo=UTC))
_NOTHING = Delivery()


@dataclass(frozen=True)
class CapRule:
    """One cap of one counter ("flight:ID", "campaign:ID", "advertiser:ID") and the flights
    it holds back once reached."""

    key: str
    cap: FrequencyCap
    flights: np.ndarray[Any, np.dtype[np.intp]]


class FlightIndex:
    """The flights that have candidates, by position, with per-flight arrays and caches."""

    def __init__(self, catalog: Catalog) -> None:
        first: dict[str, Candidate] = {}
        for c in catalog.ads.values():
            first.setdefault(c.flight.id, c)
        self.first: tuple[Candidate, ...] = tuple(first.values())
        self.position = {flight_id: n for n, flight_id in enumerate(first)}
        n = len(self.first)
        self.everything: Mask = np.ones(n, dtype=bool)
        self.starts = np.array([c.flight.start.timestamp() for c in self.first], dtype=float)
        self.ends = np.array(
            [c.flight.end.timestamp() if c.flight.end else np.inf for c in self.first],
            dtype=float,
        )
        by_text: dict[str, list[int]] = {}
        for pos, c in enumerate(self.first):
            if c.flight.targeting.expression:
                by_text.setdefault(c.flight.targeting.expression, []).append(pos)
        self.expressions = tuple(
            (filters.compiled(text), np.array(p, dtype=np.intp)) for text, p in by_text.items()
        )
        reads: set[str] = set()
        for parsed, _ in self.expressions:
            if not isinstance(parsed, str):
                reads |= parsed.names
        self._expression_reads = tuple(sorted(reads))  # the names any expression reads
        self._held: dict[tuple[object, ...], Mask | None] = {}
        self.rules, self.unconditional = _cap_rules(self.first)
        self.rules_by_key: dict[str, list[CapRule]] = {}
        for rule in self.rules:
            self.rules_by_key.setdefault(rule.key, []).append(rule)
        self._trait_masks: dict[tuple[str, object], Mask] = {}
        self._combined: dict[tuple[object, ...], Mask] = {}
        edges = np.concatenate([self.starts, self.ends])
        self._edges = np.sort(edges[np.isfinite(edges)])
        self._running: tuple[float, float, Mask] = (np.inf, -np.inf, self.everything)
        self._spent: tuple[Mapping[str, Delivery] | None, Mask] = (None, self.everything)
        self._throttled: tuple[int, list[tuple[int, float]]] = (-1, [])

    # -- per request --------------------------------------------------------------------------

    def running(self, now: float) -> Mask:
        """Flights between start and end; recomputed only when `now` crosses a start or end."""
        since, until, mask = self._running
        if not since <= now < until:
            mask = (self.starts <= now) & (now < self.ends)
            at = int(np.searchsorted(self._edges, now, side="right"))
            since = float(self._edges[at - 1]) if at > 0 else -np.inf
            until = float(self._edges[at]) if at < len(self._edges) else np.inf
            self._running = (since, until, mask)
        return mask

    def unspent(self, deliveries: Mapping[str, Delivery]) -> Mask:
        """Flights with goal and budgets left; recomputed when the deliveries are replaced."""
        held, mask = self._spent
        if held is not deliveries:
            mask = np.array(
                [
                    pacing.exhausted(c.flight, deliveries.get(c.flight.id, _NOTHING)) is None
                    for c in self.first
                ],
                dtype=bool,
            )
            self._spent = (deliveries, mask)
        return mask

    def paced(self, pacer: Pacer, rng: random.Random) -> Mask | None:
        """One draw per throttled flight (the others always pass); None when none is."""
        version, throttled = self._throttled
        if version != pacer.version:
            throttled = [
                (pos, p)
                for pos, c in enumerate(self.first)
                if (p := pacer.probability(c.flight.id)) < 1.0
            ]
            self._throttled = (pacer.version, throttled)
        if not throttled:
            return None
        mask = self.everything.copy()
        for pos, p in throttled:
            if rng.random() >= p:
                mask[pos] = False
        return mask

    def targeted(self, ctx: RequestContext) -> Mask:
        """Flights whose targeting, expressions aside, lets this context through."""
        quarter = int(ctx.timestamp()) // QUARTER_S
        traits = (
            ctx.site_id,
            ctx.zone_id,
            ctx.country,
            ctx.region,
            ctx.device,
            ctx.os,
            ctx.browser,
            ctx.keywords,
            quarter,
        )
        mask = self._combined.get(traits)
        if mask is None:
            mask = self.everything
            values = (*traits[:-1], datetime.fromtimestamp(quarter * QUARTER_S, UTC))
            for trait, value in zip(filters.TRAITS, values, strict=True):
                mask = mask & self._trait_mask(trait, value)
            if len(self._combined) >= MAX_REMEMBERED:
                self._combined.clear()
            self._combined[traits] = mask
        return mask

    def expressions_hold(self, ctx: RequestContext) -> Mask | None:
        """Flights whose expression (if any) is true here; None when nothing is dropped."""
        if not self.expressions:
            return None
        variables = ctx.variables()
        key = tuple(map(variables.get, self._expression_reads))
        try:
            return self._held[key]  # requests that agree on what expressions read
        except KeyError:
            pass
        except TypeError:  # a list (keywords, a feature) as a tuple, else evaluate every time
            key = tuple(_frozen(value) for value in key)
            try:
                return self._held[key]
            except KeyError:
                pass
            except TypeError:
                return self._evaluated(variables)
        mask = self._evaluated(variables)
        if len(self._held) >= MAX_REMEMBERED:
            self._held.clear()
        self._held[key] = mask
        return mask

    def _evaluated(self, variables: Mapping[str, object]) -> Mask | None:
        mask = None
        for compiled, positions in self.expressions:  # an invalid one (a str) holds nothing
            if isinstance(compiled, str) or not compiled.evaluate(variables):
                if mask is None:
                    mask = self.everything.copy()
                mask[positions] = False
        return mask

    def capped(
        self,
        features: UserFeatures | None,
        recent: caps.RecentDecisions,
        user_key: str | None,
        now: float,
        keys: Iterable[str] | None = None,
    ) -> Mask | None:
        """Flights whose flight, campaign or advertiser cap this user reached (None: none).
        Only counters the user has can bind; `keys` narrows it to those counters."""
        if user_key is None or not self.rules:
            return None
        if keys is None:
            ruled = self.rules_by_key.keys()
            keys = ruled & recent.keys(user_key).keys()
            if features is not None and features.frequency:
                keys |= ruled & features.frequency.keys()
        rules = [r for k in keys for r in self.rules_by_key.get(k, ())]
        mask = None
        for rule in (*self.unconditional, *rules):
            shown = caps.impressions(rule.key, rule.cap, features, recent, user_key, now)
            if shown >= rule.cap.impressions:
                if mask is None:
                    mask = np.zeros(len(self.first), dtype=bool)
                mask[rule.flights] = True
        return mask

    # -- caches -------------------------------------------------------------------------------

    def _trait_mask(self, trait: str, value: object) -> Mask:
        key = (trait, value)
        mask = self._trait_masks.get(key)
        if mask is None:
            probe = replace(_PROBE, **{trait: value})  # type: ignore[arg-type]
            checks = filters.TRAITS[trait]
            mask = np.array([_passes(checks, c, probe) for c in self.first], dtype=bool)
            if len(self._trait_masks) >= MAX_REMEMBERED:
                self._trait_masks.clear()
            self._trait_masks[key] = mask
        return mask


def _passes(checks: Sequence[filters.Check], c: Candidate, ctx: RequestContext) -> bool:
    flight = c.flight
    return all(check(flight.targeting, flight.timezone, ctx) is None for check in checks)


def _cap_rules(first: Sequence[Candidate]) -> tuple[list[CapRule], list[CapRule]]:
    """Distinct (counter, cap) pairs above ad level, with the flights each holds; and those
    that bind with no impressions at all (a limit of zero)."""
    holds: dict[tuple[str, FrequencyCap], list[int]] = {}
    for pos, c in enumerate(first):
        for cap in (*c.campaign.caps, *c.flight.caps):
            if cap.scope is not CapScope.AD:
                holds.setdefault((caps.scope_key(c, cap.scope), cap), []).append(pos)
    rules = [CapRule(k, cap, np.array(p, dtype=np.intp)) for (k, cap), p in holds.items()]
    return rules, [r for r in rules if r.cap.impressions <= 0]


def _frozen(value: object) -> object:
    """A value as part of a key (lists as tuples)."""
    return tuple(value) if isinstance(value, list) else value
