"""The dynamic part of the decisions benchmark's inventory: per advertiser a product feed, a
template (headline x image x call to action = 60 combinations, plus two products picked by a
request-dependent filter) and its element variants, some with rules."""

from __future__ import annotations

import random

from kairos.creative.feeds import Parsed
from kairos.creative.model import Feed, Product, Slot, SlotKind, Template, Variant

DYNAMIC_SHARE = 5  # one creative in this many is dynamic
HEADLINES, IMAGES, CTAS = 5, 4, 3  # variants per slot: 60 combinations
PRODUCTS_PER_FEED = 100
BODY = (
    '<div class="kairos" style="color:{{ color }}"><a href="{{ click_url }}">'
    '<img src="{{ image }}" alt="{{ headline }}"><h2>{{ headline }}</h2></a>'
    '{% for p in deals %}<a href="{{ p.click_url }}">{{ p.title }} '
    "{{ p.price | money(currency) }}</a>{% endfor %}"
    "<button>{{ cta }}</button></div>"
)


def templates(advertisers: int) -> list[object]:
    items: list[object] = []
    for a in range(advertisers):
        adv = f"adv{a}"
        items.append(Feed(id=f"feed{a}", advertiser_id=adv, name=f"Products {a}"))
        items.append(
            Template(
                id=f"tpl{a}",
                advertiser_id=adv,
                name=f"Offers {a}",
                slots=[
                    Slot(name="headline", kind=SlotKind.TEXT, default="Offers", max_length=80),
                    Slot(name="image", kind=SlotKind.IMAGE, default=f"https://cdn.example/{a}.png"),
                    Slot(name="cta", kind=SlotKind.TEXT, default="Shop now", max_length=30),
                    Slot(name="color", kind=SlotKind.COLOR, default="#123456"),
                    Slot(name="deals", kind=SlotKind.PRODUCTS, count=2),
                ],
                html=BODY,
                native={"title": "headline", "image": "image", "cta": "cta"},
                feed_id=f"feed{a}",
                product_filter="product.category in keywords or product.price < 50",
            )
        )
        for k in range(HEADLINES):
            rule = 'segment == "vip"' if k == 0 else None
            items.append(_variant(f"h{a}-{k}", adv, "headline", f"Offer {k} for you", rule))
        for k in range(IMAGES):
            items.append(_variant(f"i{a}-{k}", adv, "image", f"https://cdn.example/{a}-{k}.png"))
        for k in range(CTAS):
            items.append(_variant(f"c{a}-{k}", adv, "cta", ["Buy", "See more", "Get it"][k]))
    return items


def products(advertisers: int, keywords: list[str], seed: int = 3) -> dict[str, Parsed]:
    rng = random.Random(seed)
    feeds = {}
    for a in range(advertisers):
        feed = f"feed{a}"
        feeds[feed] = Parsed(
            [
                Product(
                    id=f"p{a}-{n}",
                    feed_id=feed,
                    title=f"Product {n} of {a}",
                    price=round(rng.uniform(5, 500), 2),
                    landing_url=f"https://shop.example/{a}/{n}",
                    image_url=f"https://cdn.example/p/{a}/{n}.png",
                    category=rng.choice(keywords),
                )
                for n in range(PRODUCTS_PER_FEED)
            ]
        )
    return feeds


def _variant(vid: str, adv: str, slot: str, value: str, rule: str | None = None) -> Variant:
    return Variant(id=vid, advertiser_id=adv, slot=slot, value=value, rule=rule)
