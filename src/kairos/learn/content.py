"""Content similarity of products: TF-IDF over title words, `key=value` attribute tokens and
the category, L2-normalised, searched through an inverted index (numpy arrays per term). The
content half of `kairos.learn.recommend.HybridRecommender`. No I/O here.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

Array = np.ndarray[Any, Any]
Scored = list[tuple[str, float]]
WORD = re.compile(r"[a-z0-9]+")


class ProductLike(Protocol):
    """What the recommender reads of a product (`kairos.creative.model.Product` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def attributes(self) -> Mapping[str, Any]: ...


class ContentIndex:
    """TF-IDF vectors of products (title words, attribute `key=value`, category), searched by
    an inverted index; rebuilt lazily after products are added."""

    def __init__(self, category_weight: float = 1.0) -> None:
        self.category_weight = category_weight  # the category token against title words
        self._terms: dict[str, dict[str, float]] = {}  # product -> term -> weighted tf
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._vectors: list[dict[str, float]] = []
        self._postings: dict[str, tuple[Array, Array]] = {}
        self._stale = False

    def add(self, products: Iterable[ProductLike]) -> None:
        """Index products (a product already known is replaced)."""
        for product in products:
            self._terms[product.id] = self._tokens(product)
            self._stale = True

    def _tokens(self, product: ProductLike) -> dict[str, float]:
        words = Counter(WORD.findall(product.title.lower()))
        terms = {word: 1.0 + math.log(count) for word, count in words.items()}
        for key, value in product.attributes.items():
            values = value if isinstance(value, list | tuple | set | frozenset) else [value]
            terms |= {f"{key}={v}".lower(): 1.0 for v in values if v is not None}
        if product.category:
            terms[f"category={product.category}".lower()] = self.category_weight
        return terms

    def _build(self) -> None:
        self._ids = list(self._terms)
        self._rows = {pid: row for row, pid in enumerate(self._ids)}
        df = Counter(term for terms in self._terms.values() for term in terms)
        idf = {t: math.log((1 + len(self._ids)) / (1 + d)) + 1.0 for t, d in df.items()}
        postings: dict[str, tuple[list[int], list[float]]] = {t: ([], []) for t in df}
        self._vectors = []
        for row, terms in enumerate(self._terms.values()):
            vector = {t: tf * idf[t] for t, tf in terms.items()}
            norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
            self._vectors.append({t: v / norm for t, v in vector.items()})
            for t, v in vector.items():
                postings[t][0].append(row)
                postings[t][1].append(v / norm)
        self._postings = {t: (np.asarray(r), np.asarray(w)) for t, (r, w) in postings.items()}
        self._stale = False

    @property
    def ids(self) -> list[str]:
        """The indexed products, in the order of `scores`."""
        if self._stale:
            self._build()
        return self._ids

    def vector(self, product_id: str) -> dict[str, float]:
        if self._stale:
            self._build()
        row = self._rows.get(product_id)
        return self._vectors[row] if row is not None else {}

    def scores(self, profile: Mapping[str, float]) -> Array:
        """Cosine of every indexed product (in `ids` order) with the profile's weighted mean
        vector; products outside the index add nothing."""
        scores, total = np.zeros(len(self.ids)), sum(profile.values()) or 1.0
        query: dict[str, float] = {}
        for item, weight in profile.items():
            for term, value in self.vector(item).items():
                query[term] = query.get(term, 0.0) + weight * value / total
        for term, value in query.items():
            rows, weights = self._postings[term]
            scores[rows] += value * weights
        return scores

    def match(
        self, profile: Mapping[str, float], candidates: Sequence[str] | None = None, limit: int = 0
    ) -> dict[str, float]:
        """Content scores of the indexed candidates, or of the `limit` best matches (score
        above zero) when no candidates are given."""
        scores = self.scores(profile)
        if candidates is not None:
            return {c: float(scores[self._rows[c]]) for c in candidates if c in self._rows}
        best = np.argsort(-scores, kind="stable")[:limit]
        return {self._ids[row]: float(scores[row]) for row in best if scores[row] > 0}

    def similar(self, product_id: str, k: int) -> Scored:
        matches = self.match({product_id: 1.0}, limit=k + 1)
        return top(((p, s) for p, s in matches.items() if p != product_id), k)

    def state(self) -> dict[str, Any]:
        return {"terms": self._terms}

    def load(self, state: Mapping[str, Any]) -> None:
        self._terms = {pid: dict(terms) for pid, terms in state["terms"].items()}
        self._stale = True


def top(scored: Iterable[tuple[str, float]], k: int) -> Scored:
    """The k highest scores, ties broken by id so that rankings are reproducible."""
    return heapq.nsmallest(k, scored, key=lambda pair: (-pair[1], pair[0]))
