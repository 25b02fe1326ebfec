"""Product slots ordered by the recommender: the product just viewed, then what the
recommender finds for the recent ones, then the rest in feed order; the stream's interactions
teach it (views, carts, purchases) and the feed's products give it content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kairos.creative import rules
from kairos.creative.assembly import Assemblies
from kairos.creative.model import Product, Slot, SlotKind, Template
from kairos.learn.products import ProductLearner
from kairos.learn.recommend import HybridRecommender
from kairos.stream.records import Interaction

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def product(pid: str, title: str, category: str) -> Product:
    return Product(
        id=pid,
        feed_id="f",
        title=title,
        category=category,
        price=10.0,
        image_url=f"https://img.example/{pid}.png",
        landing_url=f"https://shop.example/{pid}",
    )


PRODUCTS = [
    product("tent", "Trail tent two person", "camping"),
    product("stove", "Camping stove compact", "camping"),
    product("mat", "Sleeping mat foam", "camping"),
    product("kettle", "Electric kettle steel", "kitchen"),
    product("lamp", "Camping lamp lantern led", "camping"),
]


def learnt() -> ProductLearner:
    learner = ProductLearner()
    learner.add_products(PRODUCTS)
    records = []
    for n in range(30):  # people who look at the tent look at the mat next; some buy it
        user, at = f"{n:032x}", NOW + timedelta(minutes=n)
        records.append(_record(user, "page_view", ["tent"], at))
        records.append(_record(user, "page_view", ["mat"], at + timedelta(seconds=30)))
        if n % 3 == 0:
            records.append(_record(user, "add_to_cart", ["mat"], at + timedelta(seconds=60)))
    records.append(_record("x" * 32, "impression", [], NOW))  # no products: passes by
    assert learner.observe(records) == 70
    return learner


def _record(user: str, kind: str, products: list[str], at: datetime) -> Interaction:
    return Interaction(
        event_id=f"{user}-{kind}-{at.timestamp()}",
        event_type=kind,
        user_key=user,
        ts=at,
        product_ids=products,
    )


def test_the_slot_shows_the_viewed_product_then_its_recommendations() -> None:
    ranker = learnt().model
    viewed = {"viewed": ["tent"]}
    ranked = [p.id for p in rules.rank_products(PRODUCTS, viewed, ranker)]
    assert ranked[:2] == ["tent", "mat"]  # co-viewed comes right after
    assert ranked.index("lamp") < ranked.index("kettle")  # then by content: a camping lamp
    assert [p.id for p in rules.rank_products(PRODUCTS, viewed)][:1] == ["tent"]  # no ranker
    assert [p.id for p in rules.rank_products(PRODUCTS, {}, ranker)] == [
        p.id for p in PRODUCTS
    ]  # nothing viewed: feed order
    restored = HybridRecommender.restore(ranker.snapshot())
    assert [p.id for p in rules.rank_products(PRODUCTS, viewed, restored)] == ranked


def test_assemblies_are_remembered_per_ranker() -> None:
    template = Template(
        id="t",
        advertiser_id="a",
        name="T",
        slots=[Slot(name="items", kind=SlotKind.PRODUCTS, count=2)],
        html="{% for p in items %}{{ p.title }}{% endfor %}",
    )
    memo = Assemblies()
    variables = {"viewed": ["tent"]}
    plain = memo.get(template, {}, PRODUCTS, variables)
    ranker = learnt().model
    ranked = memo.get(template, {}, PRODUCTS, variables, ranker)
    assert plain is not None
    assert ranked is not None
    assert [p.id for p in plain.slots[0][1][0].value] == ["tent", "stove"]
    assert [p.id for p in ranked.slots[0][1][0].value] == ["tent", "mat"]
    assert memo.get(template, {}, PRODUCTS, variables, ranker) is ranked
