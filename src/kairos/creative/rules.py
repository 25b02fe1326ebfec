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

from collections.abc import Iterable, Mapping, Sequence

from kairos.adserver.targeting.expression import Expression
from kairos.adserver.targeting.filters import compiled
from kairos.creative.model import Product, Variant

PRODUCT = "product."
MAX_SCANNED = 2000  # products a request-dependent filter is evaluated on, at most


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


def matching_products(
    products: Sequence[Product], rule: str | None, variables: Mapping[str, object]
) -> list[Product]:
    """Available products for which the filter holds here, in feed order."""
    available = [p for p in products if p.available]
    if rule is None:
        return available
    parsed = compiled(rule)
    if isinstance(parsed, str):
        return []
    if request_independent(rule):  # the product's own fields are enough
        return [p for p in available if parsed.evaluate(product_variables(p))]
    return [
        p for p in available[:MAX_SCANNED] if parsed.evaluate({**variables, **product_variables(p)})
    ]


def rank_products(products: Sequence[Product], variables: Mapping[str, object]) -> list[Product]:
    """The visitor's recently viewed products first (most recent first), then the others in
    feed order (the recommender of the learning issue replaces this order)."""
    viewed = variables.get("viewed")
    if not isinstance(viewed, list) or not viewed:
        return list(products)
    recency = {pid: n for n, pid in enumerate(viewed) if isinstance(pid, str)}
    return sorted(products, key=lambda p: recency.get(p.id, len(recency)))
