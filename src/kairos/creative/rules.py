"""Rules of dynamic creatives, in the targeting language: which variants a request may see
(`Variant.rule`) and which products fill product slots (`Template.product_filter`).

Names a rule can use: everything a targeting expression can (the user's features such as
`interest.eco`, `searches`, `viewed`; the request's key-values; country, device, …) and, in a
product filter, the product's fields as `product.id`, `product.title`, `product.category`,
`product.price`, `product.available` and its attributes as `product.<name>`; e.g.
`product.eco == true and interest.eco > 0.3`, or `product.destination in searches`.
A rule that does not parse holds nowhere (and is refused when saved).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kairos.adserver.targeting.expression import Expression
from kairos.adserver.targeting.filters import compiled
from kairos.creative.model import Product, Variant

PRODUCT = "product."
MAX_SCANNED = 2000  # products a request-dependent filter is evaluated on, at most
MAX_REMEMBERED = 4096  # request-dependent filter answers kept per feed (cleared when full)


def holds(rule: str | None, variables: Mapping[str, object]) -> bool:
    if rule is None:
        return True
    parsed = compiled(rule)
    return not isinstance(parsed, str) and parsed.evaluate(variables)


def allowed(variants: Iterable[Variant], variables: Mapping[str, object]) -> list[Variant]:
    return [v for v in variants if holds(v.rule, variables)]


def product_variables(product: Product) -> dict[str, object]:
    fields: dict[str, object] = {f"{PRODUCT}{k}": v for k, v in product.attributes.items()}
    fields |= {
        "product.id": product.id,
        "product.title": product.title,
        "product.category": product.category,
        "product.price": product.price,
        "product.available": product.available,
    }
    return fields


def request_independent(rule: str | None) -> bool:
    """True when a product filter reads only the product: its answer per product can be
    computed once per feed instead of per request."""
    if rule is None:
        return True
    parsed = compiled(rule)
    return isinstance(parsed, Expression) and all(n.startswith(PRODUCT) for n in parsed.names)


@dataclass(frozen=True)
class Shelf:
    """A feed's available products with their rule variables, prepared once per catalog:
    each product's variables name every `product.*` of the feed (null where it has none), so
    one request's variables can be updated product by product without copying them."""

    products: tuple[Product, ...]
    variables: tuple[dict[str, object], ...]
    _static: dict[str, tuple[Product, ...]] = field(default_factory=dict, repr=False)
    _answers: dict[tuple[object, ...], tuple[Product, ...]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def of(cls, products: Iterable[Product]) -> Shelf:
        available = tuple(p for p in products if p.available)
        own = [product_variables(p) for p in available]
        names = {name for fields in own for name in fields}
        blank = dict.fromkeys(names)
        return cls(available, tuple(blank | fields for fields in own))

    def matching(self, rule: str | None, variables: Mapping[str, object]) -> list[Product]:
        """The products for which the filter holds here, in feed order."""
        if rule is None:
            return list(self.products)
        parsed = compiled(rule)
        if isinstance(parsed, str):
            return []
        if request_independent(rule):  # the same answer for every request: computed once
            if rule not in self._static:
                self._static[rule] = tuple(
                    p
                    for p, v in zip(self.products, self.variables, strict=True)
                    if parsed.evaluate(v)
                )
            return list(self._static[rule])
        # the answer depends on the request only through the names the rule reads: remembered
        # per value of those (page keywords, a segment, a search …)
        asked = tuple(
            _frozen(variables.get(n)) for n in sorted(parsed.names) if not n.startswith(PRODUCT)
        )
        key = (rule, *asked)
        remembered = self._answers.get(key) if _hashable(asked) else None
        if remembered is not None:
            return list(remembered)
        merged = dict(variables)
        found = []
        for product, fields in zip(self.products[:MAX_SCANNED], self.variables, strict=False):
            merged.update(fields)
            if parsed.evaluate(merged):
                found.append(product)
        if _hashable(asked):
            if len(self._answers) >= MAX_REMEMBERED:
                self._answers.clear()
            self._answers[key] = tuple(found)
        return found


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _hashable(values: tuple[object, ...]) -> bool:
    try:
        hash(values)
    except TypeError:
        return False
    return True


class Ranker(Protocol):
    """Ranks candidate products for a visitor's recent products (the hybrid recommender)."""

    def recommend(
        self,
        recent: Sequence[str],
        k: int,
        exclude: Collection[str] = (),
        candidates: Sequence[str] | None = None,
    ) -> list[tuple[str, float]]: ...


RECENT = 10  # the recent products a recommender is asked about


def rank_products(
    products: Sequence[Product], variables: Mapping[str, object], ranker: Ranker | None = None
) -> list[Product]:
    """The visitor's recently viewed products first (most recent first), then the others in
    feed order. With a recommender: the most recently viewed product first, then what the
    recommender ranks for the recent products, then the rest in feed order."""
    viewed = variables.get("viewed")
    if not isinstance(viewed, list) or not viewed:
        return list(products)
    recent = [pid for pid in viewed if isinstance(pid, str)]
    recency = {pid: n for n, pid in enumerate(recent)}
    if ranker is None or not recent:
        return sorted(products, key=lambda p: recency.get(p.id, len(recency)))
    ids = [p.id for p in products]
    ranked = ranker.recommend(recent[:RECENT], k=len(ids), exclude=(recent[0],), candidates=ids)
    order = {recent[0]: -1} | {pid: n for n, (pid, _) in enumerate(ranked)}
    return sorted(products, key=lambda p: order.get(p.id, len(order)))
