"""Realistic interaction events, as a web tag would send them, from a seeded generator."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

KEYWORDS = ["travel", "outdoor", "eco", "fashion", "news", "sports", "tech", "food"]  # of pages
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
]
CATEGORIES = ["travel", "outdoor", "fashion", "electronics", "home", "eco", "sports", "books"]
QUERIES = [
    "lisbon flights",
    "hiking boots",
    "rain jacket",
    "solar charger",
    "linen shirt",
    "running shoes",
    "city break",
    "bamboo toothbrush",
]
TYPES = (
    ["page_view"] * 50
    + ["impression"] * 25
    + ["search"] * 8
    + ["click"] * 6
    + ["add_to_cart"] * 6
    + ["conversion"] * 2
    + ["custom"] * 3
)


class Workload:
    """Generates event dicts in the inbound form (raw first-party `user_id`)."""

    def __init__(self, *, users: int = 5000, seed: int = 7, start: datetime | None = None) -> None:
        self._rng = random.Random(seed)
        self._users = [f"fp-{uuid.UUID(int=self._rng.getrandbits(128)).hex}" for _ in range(users)]
        self._now = start or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def event(self) -> dict[str, Any]:
        rng = self._rng
        kind = rng.choice(TYPES)
        category = rng.choice(CATEGORIES)
        self._now += timedelta(milliseconds=rng.randint(1, 50))
        user = rng.choice(self._users)
        event: dict[str, Any] = {
            "type": kind,
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "ts": self._now.isoformat(),
            "user_id": user,
            "session_id": f"s-{user[-8:]}-{self._now.hour}",
            "page_url": f"https://shop.example/{category}/item-{rng.randint(1, 400)}",
            "referrer": "https://search.example/?q=" + rng.choice(QUERIES).replace(" ", "+"),
            "user_agent": rng.choice(USER_AGENTS),
            "ip": f"198.51.100.{rng.randint(1, 254)}",
            "language": "en-GB",
            "timezone": "Europe/Lisbon",
            "consent": {"personalization": rng.random() < 0.8, "measurement": True},
        }
        event.update(self._specific(kind, category))
        return event

    def _specific(self, kind: str, category: str) -> dict[str, Any]:
        rng = self._rng
        product = f"p-{rng.randint(1, 2000)}"
        ad = {
            "decision_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "ad_id": f"ad-{rng.randint(1, 40)}",
            "creative_id": f"cr-{rng.randint(1, 120)}",
            "placement_id": rng.choice(["home-top", "article-side", "cart-bottom"]),
        }
        match kind:
            case "page_view":
                return {"title": f"{category.title()} deals", "categories": [category]}
            case "search":
                return {"query": rng.choice(QUERIES), "results_count": rng.randint(0, 80)}
            case "add_to_cart":
                return {
                    "product_ids": [product],
                    "price": round(rng.uniform(5, 300), 2),
                    "currency": "EUR",
                    "quantity": rng.randint(1, 3),
                }
            case "conversion":
                return {
                    "product_ids": [product],
                    "value": round(rng.uniform(10, 900), 2),
                    "currency": "EUR",
                    "order_id": f"o-{rng.getrandbits(40)}",
                }
            case "impression":
                return ad | {
                    "viewable": rng.random() < 0.6,
                    "elements": {"headline": f"h-{rng.randint(1, 8)}"},
                }
            case "click":
                return ad
            case _:
                return {"name": "newsletter_signup", "properties": {"list": "weekly"}}

    def batch(self, size: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(size)]
