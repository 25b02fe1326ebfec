"""`kairos bench recommend`: the hybrid product recommender against a popularity baseline, on
next-item prediction in a seeded synthetic shop whose structure the models have to find.

The shop: products in categories, each category with its own nouns and brands and a few styles
(a style shows in the title and the `style` attribute only now and then); categories come in
complementary pairs (a phone, its case) and many products have companions (the case made for
that phone) — links that only co-occurrence reveals. Users like a few categories, each in one
preferred style. A session starts in a liked category and browses: a companion of the last
product, the same style, another style, the complementary category or another liked category,
each product drawn by its popularity; some are added to the cart, some carts bought.

Time split: the models learn the earlier sessions, then the later ones are replayed in order;
each is scored before it is learnt (leave-last-out: rank given its earlier products, find the
last one), then learnt, as the stream would. Some products are launched only in the later period
and nobody has seen them before their first session: there only the content part can help
(`cold_*` figures: sessions whose product to find had no interaction yet).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from kairos.creative.model import Product
from kairos.learn.recommend import HybridRecommender, Interactions, RecommenderParams
from kairos.learn.recsys_metrics import Popularity, RankingScore, Recommender

SYLLABLES = ("ka", "lo", "mi", "ru", "te", "zan", "vo", "shi", "pe", "dor", "la", "nu", "bri")
COLOURS = ("black", "white", "red", "blue", "green", "grey", "beige", "navy", "pink", "brown")
MATERIALS = ("cotton", "wool", "leather", "steel", "oak", "glass", "plastic", "linen")
NOUNS, BRANDS, STYLE_WORDS = 8, 6, 3  # per category; style words per style
GROUPS = ("", "cold_", "new_")  # all sessions; the product to find unseen so far; launched later


@dataclass(frozen=True)
class RecommendPlan:
    products: int = 2000
    categories: int = 40  # an even number: they come in complementary pairs
    styles: int = 5  # per category
    users: int = 3000
    train_sessions: int = 20_000
    test_sessions: int = 3_000
    new_share: float = 0.1  # products launched in the test period only
    k: int = 10
    seed: int = 0
    params: RecommenderParams = field(default_factory=RecommenderParams)


@dataclass(frozen=True)
class Shop:
    products: list[Product]
    companions: dict[str, list[str]]  # product id -> products often looked at next
    new: frozenset[str]  # launched in the test period
    # (category, style, whether launched products are in) -> ids, cumulative popularity
    pools: dict[tuple[int, int, bool], tuple[list[str], list[float]]]


class Model(Recommender, Protocol):
    def observe(self, session: Interactions, at: float | None = None) -> None: ...


@dataclass(frozen=True)
class User:
    categories: list[int]
    weights: list[float]
    style: dict[int, int]


def shop(plan: RecommendPlan, rng: random.Random) -> Shop:
    words = _words(rng, plan.categories * (NOUNS + 1 + plan.styles * STYLE_WORDS) + 60)
    brands, words = words[:60], words[60:]
    products, style, launched = [], {}, {}
    for i in range(plan.products):
        category, s = i % plan.categories, rng.randrange(plan.styles)
        vocab = words[category * (NOUNS + 1 + plan.styles * STYLE_WORDS) :]
        styled = vocab[NOUNS + 1 + s * STYLE_WORDS : NOUNS + 1 + (s + 1) * STYLE_WORDS]
        brand = brands[(category * BRANDS + rng.randrange(BRANDS)) % len(brands)]
        title = [brand, *(w for w in styled if rng.random() < 0.4), rng.choice(vocab[:NOUNS])]
        look = s if rng.random() < 0.5 else rng.randrange(plan.styles)
        attributes = {"brand": brand, "colour": rng.choice(COLOURS), "style": f"s{look}"}
        pid = f"p{i}"
        products.append(
            Product(
                id=pid,
                feed_id="shop",
                title=" ".join(title).title(),
                price=round(rng.uniform(5, 300), 2),
                landing_url=f"https://shop.example/{pid}",
                category=vocab[NOUNS],
                attributes=attributes | {"material": rng.choice(MATERIALS)},
            )
        )
        style[pid] = s
        launched[pid] = rng.random() < plan.new_share
    return _stock(plan, rng, products, style, launched)


def _stock(
    plan: RecommendPlan,
    rng: random.Random,
    products: list[Product],
    style: dict[str, int],
    launched: dict[str, bool],
) -> Shop:
    pools: dict[tuple[int, int, bool], tuple[list[str], list[float]]] = {}
    for i, product in enumerate(products):
        weight = rng.lognormvariate(0, 1.2) * (3 if launched[product.id] else 1)
        for with_new in (False, True):
            if with_new or not launched[product.id]:
                ids, cum = pools.setdefault(
                    (i % plan.categories, style[product.id], with_new), ([], [])
                )
                ids.append(product.id)
                cum.append((cum[-1] if cum else 0.0) + weight)
    companions = {}
    for i, product in enumerate(products):
        twin = (i % plan.categories + plan.categories // 2) % plan.categories
        near = pools[(i % plan.categories, style[product.id], True)][0]
        far = pools.get((twin, style[product.id], True), ([], []))[0] or near
        companions[product.id] = [rng.choice(near), rng.choice(far)]
    new = frozenset(pid for pid, is_new in launched.items() if is_new)
    return Shop(products, companions, new, pools)


def users(plan: RecommendPlan, rng: random.Random) -> list[User]:
    made = []
    for _ in range(plan.users):
        categories = rng.sample(range(plan.categories), 3)
        weights = [rng.gammavariate(1.0, 1.0) for _ in categories]
        made.append(User(categories, weights, {c: rng.randrange(plan.styles) for c in categories}))
    return made


def session(
    plan: RecommendPlan, rng: random.Random, world: Shop, user: User, later: bool
) -> Interactions:
    """One browsing session: (product id, kind) in order."""
    category = rng.choices(user.categories, user.weights)[0]
    s = user.style[category] if rng.random() < 0.7 else rng.randrange(plan.styles)
    item = _draw(rng, world, category, s, later)
    seen: set[str] = set()
    interactions: list[tuple[str, str]] = []
    for _ in range(min(2 + int(rng.expovariate(1 / 3)), 12)):
        if item is not None and item not in seen:
            seen.add(item)
            interactions.append((item, "view"))
            if rng.random() < 0.15:
                interactions.append((item, "cart"))
        category, s, item = _step(plan, rng, world, user, category, s, item, later)
    carted = [i for i, kind in interactions if kind == "cart"]
    interactions += [(i, "purchase") for i in carted if rng.random() < 0.4]
    return interactions


def _step(
    plan: RecommendPlan,
    rng: random.Random,
    world: Shop,
    user: User,
    category: int,
    s: int,
    item: str | None,
    later: bool,
) -> tuple[int, int, str | None]:
    """Where the session goes next: (category, style, product)."""
    r = rng.random()
    if r < 0.3 and item is not None:
        companion = rng.choice(world.companions[item])
        if later or companion not in world.new:
            return category, s, companion
    if r < 0.75:
        s = s if r < 0.6 else rng.randrange(plan.styles)
    elif r < 0.87:
        category = (category + plan.categories // 2) % plan.categories
    else:
        category = rng.choices(user.categories, user.weights)[0]
        s = user.style[category]
    return category, s, _draw(rng, world, category, s, later)


def _draw(rng: random.Random, world: Shop, category: int, s: int, later: bool) -> str | None:
    pool = world.pools.get((category, s, later))
    return rng.choices(pool[0], cum_weights=pool[1])[0] if pool else None


def _words(rng: random.Random, count: int) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < count:
        words["".join(rng.choices(SYLLABLES, k=rng.randint(2, 3)))] = None
    return list(words)


def run(plan: RecommendPlan, progress: Callable[[str], None]) -> dict[str, object]:
    started = time.perf_counter()
    rng = random.Random(plan.seed)
    world, people = shop(plan, rng), users(plan, rng)
    train = [
        session(plan, rng, world, rng.choice(people), False) for _ in range(plan.train_sessions)
    ]
    test = [session(plan, rng, world, rng.choice(people), True) for _ in range(plan.test_sessions)]
    progress(f"{plan.products} products, {len(world.new)} launched later; {len(train)} sessions")
    popularity = Popularity(plan.params)
    models: dict[str, Model] = {
        "hybrid": HybridRecommender(plan.params),
        "collaborative_only": HybridRecommender(replace(plan.params, alpha=1.0, evidence=0.0)),
        "content_only": HybridRecommender(replace(plan.params, alpha=0.0)),
        "popularity": popularity,
        "category_popularity": Popularity(plan.params, {p.id: p.category for p in world.products}),
    }
    for model in models.values():
        if isinstance(model, HybridRecommender):
            model.add_products(world.products)
    clock = time.perf_counter()
    for interactions in train:
        for model in models.values():
            model.observe(interactions)
    train_s = time.perf_counter() - clock
    progress(f"learnt in {train_s:.1f} s; replaying")
    groups = {(name, group): RankingScore(plan.k) for name in models for group in GROUPS}
    latencies: list[float] = []
    for interactions in test:
        items = list(dict.fromkeys(item for item, _ in interactions))
        if len(items) >= 2:
            target = items[-1]
            member = {"": True, "cold_": popularity.count(target) == 0, "new_": target in world.new}
            for name, model in models.items():
                clock = time.perf_counter()
                ranked = [item for item, _ in model.recommend(items[:-1], plan.k)]
                if name == "hybrid":
                    latencies.append(time.perf_counter() - clock)
                for group in GROUPS:
                    if member[group]:
                        groups[name, group].add(ranked, {target})
        for model in models.values():
            model.observe(interactions)
    report = _report(plan, world, groups, latencies)
    report |= {
        "sessions": len(train) + len(test),
        "train_sessions": len(train),
        "train_s": round(train_s, 2),
    }
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _report(
    plan: RecommendPlan,
    world: Shop,
    groups: dict[tuple[str, str], RankingScore],
    latencies: list[float],
) -> dict[str, object]:
    k = plan.k
    report: dict[str, object] = {"products": plan.products, "new_products": len(world.new)}
    for group in GROUPS:
        report[f"{group}evaluated_sessions"] = groups["hybrid", group].n
    for (name, group), score in groups.items():
        prefix = "" if name == "hybrid" else f"{name}_"
        report[f"{prefix}{group}recall_at_{k}"] = round(score.recall, 4)
        report[f"{prefix}{group}ndcg_at_{k}"] = round(score.ndcg, 4)
    hybrid, base = groups["hybrid", ""], groups["popularity", ""]
    report["ratio_recall_vs_popularity"] = (
        round(hybrid.recall / base.recall, 2) if base.recall else None
    )
    report["ratio_ndcg_vs_popularity"] = round(hybrid.ndcg / base.ndcg, 2) if base.ndcg else None
    near = groups["category_popularity", ""]  # the stronger baseline: popular in the category
    report["ratio_recall_vs_category_popularity"] = (
        round(hybrid.recall / near.recall, 2) if near.recall else None
    )
    if latencies:
        latencies.sort()
        report["recommend_ms_p50"] = round(1000 * statistics.median(latencies), 3)
        report["recommend_ms_p99"] = round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 3)
    return report
