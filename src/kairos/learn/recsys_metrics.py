"""How good a product recommender is offline: recall@k and NDCG@k of next-item predictions on
held-out sessions (leave-last-out: given a session's earlier products, is its last one among
the k recommended, and how high), and the baseline to compare with: popularity.

Recall@k is the share of the relevant products in the top k; NDCG@k discounts each hit by
log2(rank + 1) and divides by the best possible discounted gain, so with one relevant product
it is 1 / log2(rank + 1) when it is ranked within k, and 0 otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from kairos.creative.rules import Ranker
from kairos.learn.recommend import (
    Interaction,
    Interactions,
    Kind,
    RecommenderParams,
    Scored,
    kind_weights,
    top,
)

Recommender = Ranker  # what a product slot asks of a recommender, and what is measured


class Popularity:
    """The baseline: the most interacted-with products (by kind weight), whatever the user, or
    (given the products' categories) those of the recent products' categories first; products
    nobody interacted with are left out."""

    def __init__(
        self,
        params: RecommenderParams | None = None,
        categories: Mapping[str, str | None] | None = None,
    ) -> None:
        self.params = params or RecommenderParams()
        self._kinds = kind_weights(self.params)
        self._counts: dict[str, float] = {}
        # given (product -> category): the most popular of the recent products' categories first
        self._categories = categories

    def observe(self, session: Interactions, at: float | None = None) -> None:
        for item, kind in session:
            self._counts[item] = self._counts.get(item, 0.0) + self._kinds[Interaction(kind)]

    def observe_event(self, user: str, item: str, kind: Kind, at: float | None = None) -> None:
        self.observe([(item, kind)], at)

    def count(self, item: str) -> float:
        return self._counts.get(item, 0.0)

    def recommend(
        self,
        recent: Sequence[str],
        k: int,
        exclude: Collection[str] = (),
        candidates: Sequence[str] | None = None,
    ) -> Scored:
        dropped = {*recent, *exclude}
        pool = self._counts if candidates is None else dict.fromkeys(candidates)
        scored = [(c, self._counts.get(c, 0.0)) for c in pool if c not in dropped]
        if self._categories is not None:  # within the recent products' categories first
            wanted = {self._categories.get(item) for item in recent} - {None}
            inside = [(c, n) for c, n in scored if self._categories.get(c) in wanted]
            ranked = top(((c, n) for c, n in inside if n > 0), k)
            if len(ranked) < k:
                chosen = {c for c, _ in ranked}
                rest = ((c, n) for c, n in scored if n > 0 and c not in chosen)
                ranked += top(rest, k - len(ranked))
            return ranked
        return top(((c, n) for c, n in scored if n > 0), k)


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


@dataclass
class RankingScore:
    """Mean recall@k and NDCG@k over the rankings added so far."""

    k: int
    n: int = 0
    _recall: float = 0.0
    _ndcg: float = 0.0

    def add(self, ranked: Sequence[str], relevant: Collection[str]) -> None:
        self.n += 1
        self._recall += recall_at_k(ranked, relevant, self.k)
        self._ndcg += ndcg_at_k(ranked, relevant, self.k)

    @property
    def recall(self) -> float:
        return self._recall / self.n if self.n else 0.0

    @property
    def ndcg(self) -> float:
        return self._ndcg / self.n if self.n else 0.0


def leave_last_out(model: Recommender, sessions: Iterable[Sequence[str]], k: int) -> RankingScore:
    """Score the model on each session of two distinct products or more (taken in the order
    first seen): its earlier products are the recent ones, its last product is the one to find."""
    score = RankingScore(k)
    for session in sessions:
        items = list(dict.fromkeys(session))
        if len(items) >= 2:
            ranked = [item for item, _ in model.recommend(items[:-1], k)]
            score.add(ranked, {items[-1]})
    return score
