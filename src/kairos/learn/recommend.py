"""The hybrid product recommender that fills product slots: which products to show a user,
given the products they interacted with last.

Collaborative part (`CoOccurrence`): item-to-item counts learnt from the interaction stream. In a
session every interaction (view 1, add to cart 3, purchase 5 by default; a product counts once
per window, at its strongest kind) is paired with the last `window` products before it, the pair
weighing sqrt(w_i w_j). The similarity of i to j is the cosine-style c_ij / sqrt(n_i n_j) (n: an
item's interaction mass), shrunk by c_ij / (c_ij + shrinkage) so that one chance co-view of two
rare products does not outrank steady evidence. Memory is bounded: each item keeps its `top_m`
strongest neighbours (pruned once a row holds twice that), at most `max_items` items are tracked
(the lightest are dropped), and with a `half_life_s` all counts decay with time.

Content part (`kairos.learn.content.ContentIndex`): TF-IDF over product titles, attributes and
categories. It knows a product from the moment the feed has it, so a product nobody has seen
yet is still found.

`HybridRecommender.recommend` weighs the recent products by recency (the n-th last by
recency ** n), divides each part by its best score among the candidates, and gives a candidate
the collaborative weight alpha * conf(candidate) * conf(recent products), conf(n) = n / (n +
evidence), the rest going to its content score (discounted by `content_trust`). So a product
nobody has seen yet, or a user who only saw such products, falls back to content alone. The
popularity baseline and the offline metrics are in `kairos.learn.recsys_metrics`. No I/O here.
"""

from __future__ import annotations

import heapq
import json
import math
import zlib
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from operator import itemgetter
from typing import Any

from kairos.learn.content import ContentIndex, ProductLike, Scored, top

__all__ = [
    "CoOccurrence",
    "ContentIndex",
    "HybridRecommender",
    "Interaction",
    "ProductLike",
    "RecommenderParams",
    "Scored",
    "kind_weights",
    "recency_profile",
    "top",
]

RESCALE_AFTER = 40.0  # half-lives after which the stored (inflated) counts are scaled back
FORGOTTEN = 1e-9  # interaction mass under which a product is dropped when they are


class Interaction(StrEnum):
    VIEW = "view"
    CART = "cart"
    PURCHASE = "purchase"


@dataclass(frozen=True)
class RecommenderParams:
    window: int = 5  # an interaction pairs with this many products before it in its session
    top_m: int = 50  # neighbours kept per product (up to twice that between prunings)
    max_items: int = 200_000  # products tracked (up to a quarter more between prunings)
    max_users: int = 100_000  # open sessions kept by `observe_event`
    session_gap_s: float = 1800.0  # a user's silence that ends a session
    half_life_s: float | None = None  # counts halve every so many seconds (None: never)
    view: float = 1.0
    cart: float = 3.0
    purchase: float = 5.0
    shrinkage: float = 2.0  # pair evidence c counts c / (c + shrinkage) of its similarity
    alpha: float = 0.9  # the collaborative score's weight at full evidence; the rest: content
    evidence: float = 1.0  # interaction mass at which a product's collaborative weight is half
    content_trust: float = 0.6  # a best content match against a best collaborative one
    recency: float = 0.7  # the n-th most recent item weighs recency ** n
    pool: int = 200  # content candidates added to the collaborative ones when none are given
    category_weight: float = 1.0  # the category token's weight against title and attributes

    def __post_init__(self) -> None:
        if min(self.view, self.cart, self.purchase) <= 0 or self.window < 1 or self.top_m < 1:
            raise ValueError("interaction weights, window and top_m must be positive")


Kind = Interaction | str  # "view", "cart" or "purchase"
Interactions = Sequence[tuple[str, Kind]]  # (product id, kind), oldest first
Session = OrderedDict[str, float]  # product -> its strongest interaction weight, oldest first


class CoOccurrence:
    """Incremental item-to-item co-occurrence counts with bounded memory."""

    def __init__(self, params: RecommenderParams | None = None) -> None:
        self.params = params or RecommenderParams()
        self._kinds = kind_weights(self.params)
        self._n: dict[str, float] = {}  # product -> interaction mass, times the decay scale
        self._pairs: dict[str, dict[str, float]] = {}  # product -> neighbour -> pair mass
        self._open: OrderedDict[str, tuple[float | None, Session]] = OrderedDict()
        self._origin = 0.0  # the time at which the decay scale is 1
        self._clock: float | None = None  # the latest time seen

    def observe(self, session: Interactions, at: float | None = None) -> None:
        """Learn one whole session of (product id, kind) interactions, oldest first."""
        window: Session = OrderedDict()
        for item, kind in session:
            self._add(window, item, self._kinds[Interaction(kind)], at)

    def observe_event(self, user: str, item: str, kind: Kind, at: float | None = None) -> None:
        """Learn one interaction of the stream, paired with the user's open session."""
        last, window = self._open.pop(user, (None, OrderedDict()))
        if at is not None and last is not None and at - last > self.params.session_gap_s:
            window = OrderedDict()
        self._open[user] = (at if at is not None else last, window)
        if len(self._open) > self.params.max_users:
            self._open.popitem(last=False)
        self._add(window, item, self._kinds[Interaction(kind)], at)

    def _add(self, window: Session, item: str, weight: float, at: float | None) -> None:
        scale = self._scale(at)
        before = window.pop(item, 0.0)
        if weight > before:
            self._n[item] = self._n.get(item, 0.0) + (weight - before) * scale
            for other, w in window.items():
                if other not in self._n:  # dropped since: pairs with it are not kept
                    continue
                gain = (math.sqrt(weight * w) - math.sqrt(before * w)) * scale
                self._bump(item, other, gain)
                self._bump(other, item, gain)
        window[item] = max(weight, before)
        if len(window) > self.params.window:
            window.popitem(last=False)
        if len(self._n) > self.params.max_items * 1.25:  # drop the lightest products
            self._keep(1.0, heapq.nlargest(self.params.max_items, self._n.items(), itemgetter(1)))

    def _bump(self, item: str, other: str, gain: float) -> None:
        row = self._pairs.setdefault(item, {})
        row[other] = row.get(other, 0.0) + gain
        if len(row) > 2 * self.params.top_m:
            self._pairs[item] = dict(heapq.nlargest(self.params.top_m, row.items(), itemgetter(1)))

    def _scale(self, at: float | None) -> float:
        """The factor new counts are multiplied by: decay is applied lazily, by inflating what
        is added rather than deflating what is stored (scaled back now and then)."""
        if self.params.half_life_s is None or at is None:
            return self._now()
        self._clock = at if self._clock is None else max(self._clock, at)
        half_lives = (at - self._origin) / self.params.half_life_s
        if half_lives > RESCALE_AFTER:
            self._keep(2.0**-half_lives)
            self._origin, half_lives = at, 0.0
        return float(2.0**half_lives)

    def _keep(self, factor: float, items: Iterable[tuple[str, float]] | None = None) -> None:
        """Scale all counts, keep `items` only (default: those not forgotten), and their pairs."""
        kept = self._n.items() if items is None else items
        self._n = {i: n * factor for i, n in kept if n * factor > FORGOTTEN}
        self._pairs = {
            i: {j: c * factor for j, c in row.items() if j in self._n}
            for i, row in self._pairs.items()
            if i in self._n
        }

    def _now(self) -> float:
        """The decay scale at the latest time seen: stored counts over it are today's."""
        if self.params.half_life_s is None or self._clock is None:
            return 1.0
        return float(2.0 ** ((self._clock - self._origin) / self.params.half_life_s))

    def count(self, item: str) -> float:
        """The product's interaction mass, decayed to the latest time seen."""
        return self._n.get(item, 0.0) / self._now()

    def neighbours(self, item: str) -> dict[str, float]:
        """The kept neighbours of a product with their similarity to it."""
        row, shrinkage = self._pairs.get(item, {}), self.params.shrinkage * self._now()
        n_i = self._n.get(item, 0.0)
        return {
            j: c * c / (math.sqrt(n_i * self._n[j]) * (c + shrinkage))
            for j, c in row.items()
            if c > 0
        }

    def similar(self, item: str, k: int) -> Scored:
        return top(self.neighbours(item).items(), k)

    def scores(self, profile: Mapping[str, float]) -> dict[str, float]:
        """Weighted mean similarity of each neighbour to the profile's items."""
        total = sum(profile.values()) or 1.0
        scores: dict[str, float] = {}
        for item, weight in profile.items():
            for j, sim in self.neighbours(item).items():
                scores[j] = scores.get(j, 0.0) + weight * sim / total
        return scores

    @property
    def size(self) -> tuple[int, int]:
        """(products tracked, neighbour entries stored): what the memory bound is about."""
        return len(self._n), sum(len(row) for row in self._pairs.values())

    def state(self) -> dict[str, Any]:
        opened = [[u, last, list(w.items())] for u, (last, w) in self._open.items()]
        clock = {"origin": self._origin, "clock": self._clock}
        return {"n": self._n, "pairs": self._pairs, "open": opened} | clock

    def load(self, state: Mapping[str, Any]) -> None:
        self._n, self._pairs = dict(state["n"]), {i: dict(r) for i, r in state["pairs"].items()}
        self._open = OrderedDict(
            (u, (last, OrderedDict((i, w) for i, w in items))) for u, last, items in state["open"]
        )
        self._origin, self._clock = state["origin"], state["clock"]


class HybridRecommender:
    """Collaborative and content similarity blended into one ranking of products."""

    def __init__(self, params: RecommenderParams | None = None) -> None:
        self.params = params or RecommenderParams()
        self.cooccurrence = CoOccurrence(self.params)
        self.content = ContentIndex(self.params.category_weight)

    def add_products(self, products: Iterable[ProductLike]) -> None:
        self.content.add(products)

    def observe(self, session: Interactions, at: float | None = None) -> None:
        self.cooccurrence.observe(session, at)

    def observe_event(self, user: str, item: str, kind: Kind, at: float | None = None) -> None:
        self.cooccurrence.observe_event(user, item, kind, at)

    def recommend(
        self,
        recent: Sequence[str],
        k: int,
        exclude: Collection[str] = (),
        candidates: Sequence[str] | None = None,
    ) -> Scored:
        """The k best products for someone whose recent products are `recent` (oldest first),
        best first; the recent products and `exclude` are never recommended. `candidates`
        (e.g. a feed's available products) limits the choice; by default the collaborative
        neighbours and the `pool` best content matches compete. Products without any
        evidence are left out (the caller fills with its own default)."""
        alpha, profile = self.params.alpha, recency_profile(recent, self.params.recency)
        collab = self.cooccurrence.scores(profile) if alpha > 0 else {}
        content = self.content.match(profile, candidates, self.params.pool) if profile else {}
        dropped = {*recent, *exclude}
        pool = candidates if candidates is not None else [*collab, *content]
        pool = [c for c in dict.fromkeys(pool) if c not in dropped]
        collab = _scaled(collab, pool, 1.0)
        content = _scaled(content, pool, self.params.content_trust)
        known = sum(w * self._confidence(item) for item, w in profile.items())
        alpha *= known / (sum(profile.values()) or 1.0)
        scored = []
        for c in pool:
            a = alpha * self._confidence(c)
            score = a * collab.get(c, 0.0) + (1 - a) * content.get(c, 0.0)
            if score > 0:
                scored.append((c, score))
        return top(scored, k)

    def _confidence(self, item: str) -> float:
        """How far the collaborative score of a product can be trusted: n / (n + evidence)."""
        n, evidence = self.cooccurrence.count(item), self.params.evidence
        return n / (n + evidence) if evidence > 0 else 1.0

    def snapshot(self) -> bytes:
        """The whole state as compressed JSON; `restore` gives one that recommends the same."""
        state = {
            "params": asdict(self.params),
            "cooccurrence": self.cooccurrence.state(),
            "content": self.content.state(),
        }
        return zlib.compress(json.dumps(state, separators=(",", ":")).encode())

    @classmethod
    def restore(cls, data: bytes) -> HybridRecommender:
        state = json.loads(zlib.decompress(data))
        model = cls(RecommenderParams(**state["params"]))
        model.cooccurrence.load(state["cooccurrence"])
        model.content.load(state["content"])
        return model


def kind_weights(params: RecommenderParams) -> dict[Interaction, float]:
    return {kind: float(getattr(params, kind.value)) for kind in Interaction}


def recency_profile(recent: Sequence[str], recency: float) -> dict[str, float]:
    """Recent products (oldest first) -> weight: the n-th most recent distinct one weighs
    recency ** n."""
    profile: dict[str, float] = {}
    for item in reversed(recent):
        profile.setdefault(item, recency ** len(profile))
    return profile


def _scaled(scores: Mapping[str, float], pool: list[str], best: float) -> dict[str, float]:
    """The pool's scores, scaled so that the best one is `best`."""
    factor = best / (max((scores.get(c, 0.0) for c in pool), default=0.0) or 1.0)
    return {c: scores[c] * factor for c in pool if c in scores}
