"""A placement's candidates in auction order, as arrays: the auction becomes a scan.

Sorted by priority tier (1 first, house ads last), then eCPM (highest first), the first
biddable candidate that survives the request's masks is the winner and the next one of its
tier sets the price; the static-rules lottery draws within that same tier. With a scorer
whose answer does not depend on the request, the order is computed once per catalog and
scorer refresh; otherwise per request, over the candidates whose flights passed. A scorer
that refines its context-free answer with the user's features for a few candidates
(`auction.Personalizing`) keeps the order made once: per request those few are moved to
where their new predictions rank (`reranked`, a sort of the arrays, not of the candidates).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar, cast

import numpy as np

from kairos.adserver import auction, caps
from kairos.adserver.auction import Bid, Personalizing, Prediction, Won
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.adserver.index import FlightIndex, Mask

Positions = np.ndarray[Any, np.dtype[np.intp]]
MAX_CLEARED = 10_000  # remembered (winner, runner-up, floor) auctions per placement
_SPARE = 16  # survivors' ad ids kept beyond the logged ones
_SKIPPED = 64  # remembered ways a page skips some of a pool's first survivors
T = TypeVar("T")
V = TypeVar("V")


def _positions(mask: Mask) -> array[int]:
    """The true positions of a mask, compact (4 bytes each: pools are remembered)."""
    return array("I", mask.nonzero()[0].astype(np.uint32).tobytes())


@dataclass
class Pool:
    """The candidates whose flights passed and that are of a requested type: the same for
    every request with the same flights and types, so the engine remembers them. A request
    leaves out what its page already shows (a set of positions), not a new mask."""

    kept: Mask
    survivors: array[int]  # positions, in rank order
    _biddable: dict[float, array[int]] = field(default_factory=dict, repr=False)
    _house: array[int] | None = field(default=None, repr=False)
    # the first survivors' ad ids (a few more than are logged), each survivor's index among
    # them by position, and the logged ones
    _first: tuple[dict[int, int], tuple[str, ...], tuple[str, ...]] | None = field(
        default=None, repr=False
    )
    # the logged ids when a page skips some of the first survivors, by their indices among
    # them: pages skip the same few (what the page's other placements showed)
    _skipped: dict[tuple[int, ...], tuple[str, ...]] = field(default_factory=dict, repr=False)

    def biddable(self, ranked: Ranked, floor: float) -> array[int]:
        """The survivors that bid at or above the floor, in rank order."""
        found = self._biddable.get(floor)
        if found is None:
            found = self._biddable[floor] = _positions(self.kept & ranked.biddable(floor))
        return found

    def house(self, ranked: Ranked) -> array[int]:
        if self._house is None:
            self._house = _positions(self.kept & ranked.house)
        return self._house

    def eligible(self, ranked: Ranked, skip: set[int], limit: int) -> tuple[str, ...]:
        """The ad ids of the first `limit` survivors that are not skipped."""
        if self._first is None or len(self._first[2]) != min(limit, len(self.survivors)):
            positions = self.survivors[: limit + _SPARE]  # a page skips a few
            ids = tuple(ranked.candidates[p].ad.id for p in positions)
            self._first = ({p: n for n, p in enumerate(positions)}, ids, ids[:limit])
            self._skipped = {}
        index, ids, logged = self._first
        if index.keys().isdisjoint(skip):  # what the page skips is further down, if anywhere
            return logged
        removed = tuple(sorted((index[p] for p in skip if p in index), reverse=True))
        found = self._skipped.get(removed)
        if found is not None:  # the same tuple as before: the log encodes it once
            return found
        kept = list(ids)
        for n in removed:
            del kept[n]
        if len(kept) >= limit or len(ids) == len(self.survivors):
            found = tuple(kept[:limit])
            if len(self._skipped) >= _SKIPPED:
                self._skipped.clear()
            self._skipped[removed] = found
            return found
        left: list[str] = []  # (a loop: compiled, a generator would be made a whole list)
        for p in self.survivors:
            if p not in skip:
                left.append(ranked.candidates[p].ad.id)
                if len(left) == limit:
                    break
        return tuple(left)

    def reordered(self, order: Positions) -> Pool:
        """This pool in a ranking reordered by `order` (`reranked`)."""
        kept: Mask = self.kept[order]
        return Pool(kept, _positions(kept))

    def any_left(self, skip: set[int]) -> bool:
        if len(self.survivors) > len(skip):  # more than are skipped: one is left
            return True
        return any(p not in skip for p in self.survivors)


@dataclass(frozen=True)
class Ranked:
    candidates: tuple[Candidate, ...]
    predictions: tuple[Prediction, ...]
    ecpm: np.ndarray[Any, np.dtype[np.float64]]
    priority: np.ndarray[Any, np.dtype[np.int64]]
    flight: Positions  # each candidate's flight in the index
    house: Mask
    by_ad: Mapping[str, int]
    by_creative: Mapping[str, Sequence[int]]
    ad_capped: tuple[int, ...]  # candidates with ad-level caps: checked one by one
    priorities: tuple[int, ...]  # the arrays' values as Python numbers, for scalar reads
    ecpms: tuple[float, ...]
    # the frequency counters a serve counts in that some cap of the catalog reads
    served_keys: tuple[tuple[str, ...], ...]
    ctr: np.ndarray[Any, np.dtype[np.float64]]  # each candidate's pCTR
    origin: Positions  # each candidate's place among those ranked (ties go to the first)
    _biddable: dict[float, Mask] = field(default_factory=dict, repr=False)
    _types: dict[frozenset[str], Mask] = field(default_factory=dict, repr=False)
    _cleared: dict[tuple[int, int | None, float], Won | None] = field(
        default_factory=dict, repr=False
    )

    def __len__(self) -> int:
        return len(self.candidates)

    def bid(self, pos: int) -> Bid:
        return Bid(self.candidates[pos], self.predictions[pos], self.ecpms[pos])

    def biddable(self, floor: float) -> Mask:
        """Paid candidates at or above the floor (house ads never bid)."""
        mask = self._biddable.get(floor)
        if mask is None:
            mask = self._biddable[floor] = (self.ecpm >= floor) & ~self.house
        return mask

    def of_types(self, types: frozenset[str]) -> Mask:
        mask = self._types.get(types)
        if mask is None:
            mask = np.array([c.creative.ad_type in types for c in self.candidates], dtype=bool)
            self._types[types] = mask
        return mask

    def pool(self, flights: Mask, types: frozenset[str]) -> Pool:
        """The candidates whose flight is in `flights`, of one of `types` (any when empty)."""
        kept: Mask = flights[self.flight]
        if types:
            kept &= self.of_types(types)
        return Pool(kept, _positions(kept))

    def second_price(self, top: list[int], floor: float) -> Won | None:
        """The auction between the winner and runner-up (`top`): immutable, so remembered."""
        key = (top[0], top[1] if len(top) > 1 else None, floor) if top else (-1, None, floor)
        if key not in self._cleared:
            if len(self._cleared) >= MAX_CLEARED:
                self._cleared.clear()
            self._cleared[key] = auction.second_price([self.bid(p) for p in top], floor)
        return self._cleared[key]

    def tier(self, positions: list[int]) -> list[int]:
        """The leading run of `positions` (in rank order) that shares the first one's tier."""
        if len(positions) < 2:
            return positions
        priority = self.priorities
        first = priority[positions[0]]
        for n, pos in enumerate(positions):
            if priority[pos] != first:
                return positions[:n]
        return positions


def rank(
    candidates: Sequence[Candidate], predictions: Sequence[Prediction], index: FlightIndex
) -> Ranked:
    ecpms = [auction.ecpm(c, p) for c, p in zip(candidates, predictions, strict=True)]
    order = sorted(range(len(candidates)), key=lambda i: (candidates[i].flight.priority, -ecpms[i]))
    ranked = [candidates[i] for i in order]
    by_creative: dict[str, list[int]] = {}
    for pos, c in enumerate(ranked):
        by_creative.setdefault(c.creative.id, []).append(pos)
    priority = np.array([c.flight.priority for c in ranked], dtype=np.int64)
    return Ranked(
        candidates=tuple(ranked),
        predictions=tuple(predictions[i] for i in order),
        ecpm=np.array([ecpms[i] for i in order], dtype=float),
        priority=priority,
        flight=np.array([index.position[c.flight.id] for c in ranked], dtype=np.intp),
        house=priority >= auction.HOUSE_PRIORITY,
        by_ad={c.ad.id: pos for pos, c in enumerate(ranked)},
        by_creative=by_creative,
        ad_capped=tuple(pos for pos, c in enumerate(ranked) if caps.ad_level(c)),
        served_keys=tuple(index.served_keys(c) for c in ranked),
        priorities=tuple(c.flight.priority for c in ranked),
        ecpms=tuple(ecpms[i] for i in order),
        ctr=np.array([predictions[i].ctr for i in order], dtype=float),
        origin=np.array(order, dtype=np.intp),
    )


def reranked(base: Ranked, changed: Mapping[int, Prediction]) -> tuple[Ranked, Positions]:
    """`base` with the predictions of a few of its candidates (by position) changed: what
    `rank` would make of them, by reordering `base`'s arrays (no candidate is looked at again
    but the changed ones), for a ranking refined per request; and the order (each new
    position's place in `base`), for `Pool.reordered`."""
    ecpm, ctr, predictions = base.ecpm.copy(), base.ctr.copy(), list(base.predictions)
    for pos, prediction in changed.items():
        predictions[pos] = prediction
        ecpm[pos] = auction.ecpm(base.candidates[pos], prediction)
        ctr[pos] = prediction.ctr
    order = np.lexsort((base.origin, -ecpm, base.priority))  # as `rank`: ties by origin
    moved = np.empty_like(order)  # each base position's new one
    moved[order] = np.arange(len(order))
    picked = order.tolist()
    ranked = Ranked(
        candidates=_taken(base.candidates, picked),
        predictions=_taken(predictions, picked),
        ecpm=ecpm[order],
        priority=base.priority[order],
        flight=base.flight[order],
        house=base.house[order],
        by_ad=_MovedPositions(base.by_ad, moved),
        by_creative=_MovedGroups(base.by_creative, moved),
        ad_capped=tuple(sorted(int(moved[pos]) for pos in base.ad_capped)),
        served_keys=_taken(base.served_keys, picked),
        priorities=_taken(base.priorities, picked),
        ecpms=tuple(ecpm[order].tolist()),
        ctr=ctr[order],
        origin=base.origin[order],
    )
    return ranked, order


def personalized(
    ranked: Ranked, pool: Pool, scorer: Personalizing, ctx: RequestContext, top: int
) -> tuple[Ranked, Pool]:
    """The ranking and pool with the `top` best of the pool's candidates by pCTR scored
    again with the user's features (`auction.Personalizing`)."""
    survivors = np.frombuffer(pool.survivors, dtype=np.uint32)
    best = survivors[np.argsort(-ranked.ctr[survivors], kind="stable")[:top]].tolist()
    predictions = scorer.personalize([ranked.candidates[p] for p in best], ctx)
    refined, order = reranked(ranked, dict(zip(best, predictions, strict=True)))
    return refined, pool.reordered(order)


def _taken(values: Sequence[T], positions: list[int]) -> tuple[T, ...]:
    """`values` at `positions`, in their order."""
    if len(positions) < 2:
        return tuple(values[p] for p in positions)
    return cast(tuple[T, ...], itemgetter(*positions)(values))


class _Moved(Mapping[str, V]):
    """A position map of a reordered ranking: the base's, its positions moved as they are
    looked up (a request looks up a few)."""

    def __init__(self, base: Mapping[str, Any], moved: Positions) -> None:
        self._base, self._moved = base, moved

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


class _MovedPositions(_Moved[int]):
    """`by_ad` of a reordered ranking."""

    def __getitem__(self, key: str) -> int:
        return int(self._moved[self._base[key]])


class _MovedGroups(_Moved[Sequence[int]]):
    """`by_creative` of a reordered ranking."""

    def __getitem__(self, key: str) -> list[int]:
        return sorted(int(self._moved[pos]) for pos in self._base[key])
