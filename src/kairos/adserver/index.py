"""Flight-level answers for all of a catalog's flights at once, as sets of flights.

A placement has hundreds of candidate ads over tens of flights, and most of a decision's
checks are about flights: running or not, spent or not, targeted, paced, capped. The index
answers each for every flight at once, as a set of flights in one Python int (bit n: the
flight at position n), so that a request combines its answers with a few integer ANDs (tens
of nanoseconds each, where a NumPy operation on a small array costs a microsecond) and a set
is a dictionary key as it is. What is computed when:

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
from kairos.memo import ByIdentity, Memo
from kairos.stream.features import UserFeatures

Mask = np.ndarray[Any, np.dtype[np.bool_]]
Flights = int  # a set of flights: bit n is the flight at position n of the index
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
    flights: Flights


class FlightIndex:
    """The flights that have candidates, by position, with per-flight arrays and caches."""

    def __init__(self, catalog: Catalog) -> None:
        first: dict[str, Candidate] = {}
        for c in catalog.ads.values():
            first.setdefault(c.flight.id, c)
        self.first: tuple[Candidate, ...] = tuple(first.values())
        self.position = {flight_id: n for n, flight_id in enumerate(first)}
        n = len(self.first)
        self.everything: Flights = (1 << n) - 1
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
            (filters.compiled(text), of_positions(p)) for text, p in by_text.items()
        )
        reads: set[str] = set()
        for parsed, _ in self.expressions:
            if not isinstance(parsed, str):
                reads |= parsed.names
        self._expression_reads = tuple(sorted(reads))  # the names any expression reads
        self._held: dict[tuple[object, ...], Flights | None] = {}
        self.rules, self.unconditional = _cap_rules(self.first)
        self.rules_by_key: dict[str, list[CapRule]] = {}
        for rule in self.rules:
            self.rules_by_key.setdefault(rule.key, []).append(rule)
        self._trait_masks = Memo(self._made_trait_mask, MAX_REMEMBERED)
        self._combined = Memo(self._made_combination, MAX_REMEMBERED)
        self._served = ByIdentity(self._made_served_keys, MAX_REMEMBERED)
        edges = np.concatenate([self.starts, self.ends])
        self._edges = np.sort(edges[np.isfinite(edges)])
        self._running: tuple[float, float, Flights] = (np.inf, -np.inf, self.everything)
        self._spent: tuple[Mapping[str, Delivery] | None, Flights] = (None, self.everything)
        self._throttled: tuple[int, list[tuple[int, float]]] = (-1, [])

    # -- per request --------------------------------------------------------------------------

    def mask(self, flights: Flights) -> Mask:
        """A set of flights as a boolean array by position (to index per-candidate arrays)."""
        return as_mask(flights, len(self.first))

    def running(self, now: float) -> Flights:
        """Flights between start and end; recomputed only when `now` crosses a start or end."""
        since, until, mask = self._running
        if not since <= now < until:
            mask = of_mask((self.starts <= now) & (now < self.ends))
            at = int(np.searchsorted(self._edges, now, side="right"))
            since = float(self._edges[at - 1]) if at > 0 else -np.inf
            until = float(self._edges[at]) if at < len(self._edges) else np.inf
            self._running = (since, until, mask)
        return mask

    def unspent(self, deliveries: Mapping[str, Delivery]) -> Flights:
        """Flights with goal and budgets left; recomputed when the deliveries are replaced."""
        held, mask = self._spent
        if held is not deliveries:
            mask = of_positions(
                [
                    pos
                    for pos, c in enumerate(self.first)
                    if pacing.exhausted(c.flight, deliveries.get(c.flight.id, _NOTHING)) is None
                ]
            )
            self._spent = (deliveries, mask)
        return mask

    def paced(self, pacer: Pacer, rng: random.Random) -> Flights | None:
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
        mask = self.everything
        for pos, p in throttled:
            if rng.random() >= p:
                mask &= ~(1 << pos)
        return mask

    def targeted(self, ctx: RequestContext) -> Flights:
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
        return self._combined[traits]

    def expressions_hold(self, ctx: RequestContext) -> Flights | None:
        """Flights whose expression (if any) is true here; None when nothing is dropped."""
        if not self.expressions:
            return None
        key = tuple([ctx.value(name) for name in self._expression_reads])
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
                return self._evaluated(ctx.variables())
        mask = self._evaluated(ctx.variables())
        if len(self._held) >= MAX_REMEMBERED:
            self._held.clear()
        self._held[key] = mask
        return mask

    def _evaluated(self, variables: Mapping[str, object]) -> Flights | None:
        mask = None
        for compiled, flights in self.expressions:  # an invalid one (a str) holds nothing
            if isinstance(compiled, str) or not compiled.evaluate(variables):
                mask = (self.everything if mask is None else mask) & ~flights
        return mask

    def capped(
        self,
        features: UserFeatures | None,
        recent: caps.RecentDecisions,
        user_key: str | None,
        now: float,
        keys: Iterable[str] | None = None,
    ) -> Flights | None:
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
                mask = rule.flights if mask is None else mask | rule.flights
        return mask

    def served_keys(self, c: Candidate) -> tuple[str, ...]:
        """The counters a serve of `c` counts in (ad, flight, campaign, advertiser) that a cap
        reads: the rules' flight, campaign and advertiser counters, and its own ad counter
        under an ad-level cap. Only these are recorded per user (once per candidate)."""
        return self._served(c)

    # -- caches -------------------------------------------------------------------------------

    def _made_served_keys(self, c: Candidate) -> tuple[str, ...]:
        read = self.rules_by_key
        ad_level = caps.ad_level(c)
        own = caps.scope_key(c, CapScope.AD)
        return tuple(k for k in caps.served_keys(c) if k in read or (ad_level and k == own))

    def _made_combination(self, traits: tuple[Any, ...]) -> Flights:
        """The flights a combination of trait values (`targeted`'s key) lets through."""
        mask = self.everything
        values = (*traits[:-1], datetime.fromtimestamp(traits[-1] * QUARTER_S, UTC))
        for trait, value in zip(filters.TRAITS, values, strict=True):
            mask &= self._trait_masks[(trait, value)]
        return mask

    def _made_trait_mask(self, key: tuple[str, object]) -> Flights:
        trait, value = key
        probe = replace(_PROBE, **{trait: value})  # type: ignore[arg-type]
        checks = filters.TRAITS[trait]
        return of_positions([pos for pos, c in enumerate(self.first) if _passes(checks, c, probe)])


def of_positions(positions: Iterable[int]) -> Flights:
    """The set of the flights at these positions."""
    at = list(positions)
    mask = np.zeros(max(at, default=-1) + 1, dtype=bool)
    mask[at] = True
    return of_mask(mask)  # in linear time: OR-ing one bit at a time would be quadratic


def of_mask(mask: Mask) -> Flights:
    """The set of the flights whose position is true in `mask`."""
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


def as_mask(flights: Flights, size: int) -> Mask:
    """`flights` as a boolean array of `size` positions."""
    packed = np.frombuffer(flights.to_bytes((size + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(packed, count=size, bitorder="little").astype(bool)


def has(flights: Flights, position: int) -> bool:
    """Whether the flight at `position` is in the set."""
    return (flights >> position) & 1 == 1


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
    rules = [CapRule(k, cap, of_positions(p)) for (k, cap), p in holds.items()]
    return rules, [r for r in rules if r.cap.impressions <= 0]


def _frozen(value: object) -> object:
    """A value as part of a key (lists as tuples)."""
    return tuple(value) if isinstance(value, list) else value
