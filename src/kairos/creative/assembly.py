"""Assembly: the combinations of a dynamic creative that a request may see, and the choice
among them before the models choose.

Each slot's options are the advertiser's variants for it whose rule holds here, or the slot's
default when none does; a product slot gets the matching products, ranked. Combinations are
the cross product of the options, enumerated when small and sampled (distinct, seeded) when
larger than the template's `max_combinations`. Each one records its elements slot by slot
(variant id, "default", or product ids as `slot.1`, `slot.2`, …) so that decisions, impression
events and reports can say what was shown. Without a model the choice is rules first (the
combination with the most targeted variants), then a draw weighted by the variants' weights.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from kairos.adserver.targeting.filters import compiled
from kairos.creative import rules
from kairos.creative.model import Product, Slot, SlotKind, Template, Variant
from kairos.domain.decisions import combination_key

DEFAULT = "default"
REMEMBERED = 256  # combinations an assembly keeps built (requests that share it reuse them)


@dataclass(frozen=True)
class Option:
    """One way to fill one slot."""

    element: str  # variant id, or "default"
    value: Any
    weight: int = 100
    targeted: bool = False  # a variant whose rule held (rather than one shown anywhere)


@dataclass(frozen=True)
class Combination:
    elements: dict[str, str]  # slot (or `slot.N` for products) -> variant or product id
    values: dict[str, Any]  # slot -> value; product slots hold lists of products
    weight: float  # the product of its variants' weights
    targeted: int  # how many of its variants were chosen by a rule
    # made once each: an assembly's combinations are reused by the requests that share it
    # (by hand: compiled by mypyc, a `functools.cached_property` computes on every read;
    # init fields, since its `__init__` leaves any other field unset)
    _key: str | None = field(default=None, repr=False, compare=False)
    _identity: tuple[tuple[str, str], ...] | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Its elements as one string (`combination_key`, for logs)."""
        key = self._key
        if key is None:
            key = combination_key(self.elements)
            object.__setattr__(self, "_key", key)
        return key

    @property
    def identity(self) -> tuple[tuple[str, str], ...]:
        """Its elements, sorted: what tells combinations apart (ids may hold any character)."""
        identity = self._identity
        if identity is None:
            identity = tuple(sorted(self.elements.items()))
            object.__setattr__(self, "_identity", identity)
        return identity


def options(
    slot: Slot, variants: Sequence[Variant], variables: Mapping[str, object]
) -> list[Option]:
    """The slot's variants allowed here, or its default."""
    allowed = [v for v in rules.allowed(variants, variables) if v.weight > 0]
    if not allowed:
        return [Option(DEFAULT, slot.default)]
    return [Option(v.id, v.value, v.weight, v.rule is not None) for v in allowed]


def products_for(
    template: Template,
    slot: Slot,
    shelf: rules.Shelf,
    variables: Mapping[str, object],
    ranker: rules.Ranker | None = None,
) -> list[Product]:
    matching = shelf.matching(template.product_filter, variables)
    return rules.rank_products(matching, variables, ranker)[: slot.count]


@dataclass(frozen=True)
class _Draw:
    """One slot's draw without a model: the options allowed (the targeted ones if any), their
    cumulative weights, and each one's probability."""

    pool: tuple[int, ...]
    cumulative: tuple[float, ...]  # empty: weights sum to nothing, the first option is taken
    shares: tuple[float, ...]

    @classmethod
    def of(cls, options: Sequence[Option]) -> _Draw:
        targeted = tuple(n for n, o in enumerate(options) if o.targeted)
        pool = targeted or tuple(range(len(options)))
        weights = [options[n].weight for n in pool]
        total = sum(weights)
        if total <= 0:
            return cls(pool[:1], (), (1.0 / len(pool),))
        return cls(pool, tuple(accumulate(weights)), tuple(w / total for w in weights))

    def draw(self, rng: random.Random) -> tuple[int, float]:
        """As `rng.choices(pool, weights)` draws (the same numbers for the same state)."""
        if not self.cumulative:
            return self.pool[0], self.shares[0]
        at = bisect(self.cumulative, rng.random() * self.cumulative[-1], 0, len(self.pool) - 1)
        return self.pool[at], self.shares[at]


@dataclass(frozen=True)
class Assembly:
    """What one request may see of one template: each slot's options, in template order.
    Assemblies are shared by the requests that agree on what the rules read: what is derived
    from one is kept on it."""

    template: Template
    slots: tuple[tuple[Slot, tuple[Option, ...]], ...]
    _built: dict[tuple[int, ...], Combination] = field(
        default_factory=dict, repr=False, compare=False
    )
    _draws: tuple[_Draw, ...] | None = field(default=None, repr=False, compare=False)
    _everything: tuple[Combination, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def draws(self) -> tuple[_Draw, ...]:
        """Each slot's draw without a model (made once)."""
        draws = self._draws
        if draws is None:
            draws = tuple(_Draw.of(options) for _, options in self.slots)
            object.__setattr__(self, "_draws", draws)
        return draws

    @property
    def size(self) -> int:
        """How many combinations there are (before the template's bound)."""
        return math.prod([len(options) for _, options in self.slots])

    def candidates(self, rng: random.Random) -> Sequence[Combination]:
        """The combinations a model scores: all (`everything`, the same tuple each time), or
        `max_combinations` distinct ones drawn uniformly when there are more."""
        if self.size <= self.template.max_combinations:
            return self.everything
        sizes = [len(options) for _, options in self.slots]
        picks = _picks(sizes, self.template.max_combinations, rng)
        return [self.combination(digits) for digits in picks]

    @property
    def everything(self) -> tuple[Combination, ...]:
        """Every combination, in the order of their option indices (built once: the requests
        that share the assembly score the same tuple, so what is derived from it can be
        remembered by its identity)."""
        everything = self._everything
        if everything is None:
            sizes = [len(options) for _, options in self.slots]
            count = math.prod(sizes)
            everything = tuple(self.combination(_digits(n, sizes)) for n in range(count))
            object.__setattr__(self, "_everything", everything)
        return everything

    def combination(self, digits: Sequence[int]) -> Combination:
        """The combination taking option `digits[i]` of slot i (built once per assembly for
        the first `REMEMBERED` of them: treat it as read-only)."""
        key = tuple(digits)
        built = self._built.get(key)
        if built is None:
            built = self._build(key)
            if len(self._built) < REMEMBERED:
                self._built[key] = built
        return built

    def _build(self, digits: Sequence[int]) -> Combination:
        elements: dict[str, str] = {}
        values: dict[str, Any] = {}
        weight, targeted = 1.0, 0
        for (slot, options), digit in zip(self.slots, digits, strict=True):
            option = options[digit]
            values[slot.name] = option.value
            if slot.kind is SlotKind.PRODUCTS:
                for n, product in enumerate(option.value, start=1):
                    elements[f"{slot.name}.{n}"] = product.id
            else:
                elements[slot.name] = option.element
                weight *= option.weight / 100
                targeted += option.targeted
        return Combination(elements, values, weight, targeted)


def assemble(
    template: Template,
    variants: Mapping[str, Sequence[Variant]],
    products: Sequence[Product] | rules.Shelf,
    variables: Mapping[str, object],
    ranker: rules.Ranker | None = None,
) -> Assembly | None:
    """The options of every slot here; None when a product slot has no product to show."""
    shelf = products if isinstance(products, rules.Shelf) else rules.Shelf.of(products)
    slots: list[tuple[Slot, tuple[Option, ...]]] = []
    for slot in template.slots:
        if slot.kind is SlotKind.PRODUCTS:
            chosen = products_for(template, slot, shelf, variables, ranker)
            if not chosen:
                return None
            slots.append((slot, (Option(DEFAULT, chosen),)))
        else:
            slots.append((slot, tuple(options(slot, variants.get(slot.name, ()), variables))))
    return Assembly(template, tuple(slots))


def combinations(
    template: Template,
    variants: Mapping[str, Sequence[Variant]],
    products: Sequence[Product] | rules.Shelf,
    variables: Mapping[str, object],
    rng: random.Random,
) -> list[Combination]:
    """The candidate combinations (at most `template.max_combinations`); empty when a product
    slot has no product to show."""
    found = assemble(template, variants, products, variables)
    return list(found.candidates(rng)) if found is not None else []


def choose(assembly: Assembly, rng: random.Random) -> tuple[Combination, float]:
    """Rules first, then by weight, over every combination: in each slot the options whose
    rule held if any did, drawn by weight (the combination's weight is the product of its
    options', so slot by slot is the same draw). The combination and its probability."""
    digits, probability = [], 1.0
    for slot_draw in assembly.draws:
        digit, share = slot_draw.draw(rng)
        digits.append(digit)
        probability *= share
    return assembly.combination(digits), probability


def choose_among(
    candidates: Sequence[Combination], rng: random.Random
) -> tuple[Combination, float]:
    """The same rule over an explicit list of combinations (a sample, or a model's short
    list): the most targeted, then by weight."""
    most = max(c.targeted for c in candidates)
    best = [c for c in candidates if c.targeted == most]
    total = sum(c.weight for c in best)
    if total <= 0:
        return best[0], 1.0 / len(best)
    combination = rng.choices(best, [c.weight for c in best])[0]
    return combination, combination.weight / total


def _picks(sizes: Sequence[int], limit: int, rng: random.Random) -> list[list[int]]:
    """Every combination (one option index per slot) when there are at most `limit`, else
    `limit` distinct ones drawn uniformly."""
    total = math.prod(sizes)
    if total <= limit:
        return [_digits(index, sizes) for index in range(total)]
    if total <= 4 * limit:  # dense: draw indices without replacement
        return [_digits(index, sizes) for index in rng.sample(range(total), limit)]
    seen: set[tuple[int, ...]] = set()  # sparse (and possibly astronomically many): draw digits
    while len(seen) < limit:
        seen.add(tuple(rng.randrange(size) for size in sizes))
    return [list(digits) for digits in sorted(seen)]


def _digits(index: int, sizes: Sequence[int]) -> list[int]:
    """`index` in the mixed radix of the slots' option counts: one option per slot."""
    digits = []
    for size in reversed(sizes):
        index, digit = divmod(index, size)
        digits.append(digit)
    return digits[::-1]


class Assemblies:
    """Assemblies remembered per template, product ranker and value of every name its rules
    read (the variants' rules, the product filter, and `viewed`, which orders products):
    requests that agree on those get the same options, so assembly runs once for them. One per
    catalog."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._reads: dict[str, tuple[str, ...]] = {}
        self._found: dict[tuple[object, ...], Assembly | None] = {}

    def get(
        self,
        template: Template,
        variants: Mapping[str, Sequence[Variant]],
        products: Sequence[Product] | rules.Shelf,
        variables: Mapping[str, object],
        ranker: rules.Ranker | None = None,
    ) -> Assembly | None:
        reads = self._reads.get(template.id)
        if reads is None:
            reads = self._reads[template.id] = _reads(template, variants)
        key = (template.id, ranker, *[_frozen(variables.get(name)) for name in reads])
        try:
            return self._found[key]
        except KeyError:
            pass
        except TypeError:  # a value that cannot be a key (a mapping): assemble every time
            return assemble(template, variants, products, variables, ranker)
        found = assemble(template, variants, products, variables, ranker)
        if len(self._found) >= self.limit:
            self._found.clear()
        self._found[key] = found
        return found


def _reads(template: Template, variants: Mapping[str, Sequence[Variant]]) -> tuple[str, ...]:
    names: set[str] = set()
    texts = [v.rule for slot in template.slots for v in variants.get(slot.name, ())]
    for text in [*texts, template.product_filter]:
        if text is not None:
            parsed = compiled(text)
            if not isinstance(parsed, str):
                names |= {n for n in parsed.names if not n.startswith(rules.PRODUCT)}
    if any(slot.kind is SlotKind.PRODUCTS for slot in template.slots):
        names.add("viewed")
    return tuple(sorted(names))


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value
