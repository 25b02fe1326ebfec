"""The product recommender learning from the stream, the pure part: cleaned interactions in
(page views of products, add-to-carts, purchases, each with its product ids), the hybrid
recommender's co-occurrence updated, user by user, in event time; the feed's products for the
content part. Published to the models topic like the click models (key `recs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kairos.creative.model import Product
from kairos.learn.recommend import HybridRecommender
from kairos.learn.recommend import Interaction as Kind
from kairos.stream.records import Interaction

KINDS = {"page_view": Kind.VIEW, "add_to_cart": Kind.CART, "conversion": Kind.PURCHASE}


class ProductLearner:
    def __init__(self, model: HybridRecommender | None = None) -> None:
        self.model = model or HybridRecommender()
        self.learnt = 0  # interactions with products learnt
        self.products = 0

    def observe(self, interactions: Sequence[Interaction]) -> int:
        """Learn the interactions that name products; how many."""
        learnt = 0
        for record in interactions:
            kind = KINDS.get(record.event_type)
            if kind is None or not record.product_ids:
                continue
            at = record.ts.timestamp()
            for product_id in record.product_ids:
                self.model.observe_event(record.user_key, product_id, kind, at)
            learnt += 1
        self.learnt += learnt
        return learnt

    def add_products(self, products: Iterable[Product]) -> None:
        """The feeds' products (new ones become findable by content at once)."""
        listed = list(products)
        self.model.add_products(listed)
        self.products = len(listed)
        self.learnt += 1  # the content part changed: worth publishing
