"""Where a rendered creative points: the decision's signed tracking URLs, shared by the
HTML, native and VAST renderers, and how a product is shown to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kairos.creative.model import Product


@dataclass(slots=True)  # made per request: see `context.RequestContext`
class Links:
    click: str
    impression: str = ""
    viewable: str = ""
    event: str = ""  # ends in n={name}: the player or page fills the event's name
    product_click: Callable[[Product], str] | None = None  # signed click to a product's page

    def for_product(self, product: Product) -> str:
        return self.product_click(product) if self.product_click else product.landing_url

    def event_named(self, name: str) -> str:
        return self.event.replace("{name}", name)


def product_fields(product: Product, links: Links) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "price": product.price,
        "category": product.category,
        "image_url": product.image_url,
        "attributes": dict(product.attributes),
        "click_url": links.for_product(product),
    }
