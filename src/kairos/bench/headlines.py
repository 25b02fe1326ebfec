"""The Upworthy replay's text model: does a model of headline words, trained on earlier weeks,
rank the packages of later tests before any traffic? Over pairs of packages with different
headlines whose CTRs differ significantly, how often is the better one ranked first (a coin:
50 %).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from kairos.learn.bayes import BayesianLogistic, BayesParams

if TYPE_CHECKING:
    from kairos.bench.upworthy import Package, Test

WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    tokens = WORD.findall(text.lower())
    return tokens + [f"{a}_{b}" for a, b in pairwise(tokens)]


def text_ranking(tests: Sequence[Test], cutoff: int, seed: int = 0) -> dict[str, float | int]:
    """Train on tests before week `cutoff`, judge pairs of packages in tests from it on."""
    train = [t for t in tests if t.week < cutoff]
    later = [t for t in tests if t.week >= cutoff]
    model = text_model(train, seed)
    right = pairs = 0
    for test in later:
        scores = model.predict_proba_many([_bag(p.headline) for p in test.packages])
        for first, second, a, b in _pairs(test):
            pairs += 1
            right += int((scores[a] > scores[b]) == (first.ctr > second.ctr))
    return {
        "pairs": pairs,
        "better_ranked_first": round(right / pairs, 4) if pairs else 0.0,
        "train_tests": len(train),
        "judged_tests": len(later),
        "cutoff_week": cutoff,
    }


def text_model(tests: Sequence[Test], seed: int = 0) -> BayesianLogistic:
    """A pairwise model: for two headlines of a test whose CTRs differ significantly, the
    probability the first is better from the difference of their words (each pair both ways,
    so no order is preferred); a headline's score is then its words' sum."""
    model = BayesianLogistic(BayesParams(bits=20, prior_precision=10.0, newton_steps=10), seed=seed)
    xs: list[dict[str, Any]] = []
    ys: list[float] = []
    for test in tests:
        for first, second, _, _ in _pairs(test):
            a, b = _bag(first.headline), _bag(second.headline)
            ahead = {w: a.get(w, 0) - b.get(w, 0) for w in a.keys() | b.keys()}
            ahead = {w: v for w, v in ahead.items() if v}
            better = 1.0 if first.ctr > second.ctr else 0.0
            xs += [ahead, {w: -v for w, v in ahead.items()}]
            ys += [better, 1.0 - better]
    for start in range(0, len(xs), 512):
        model.learn_many(xs[start : start + 512], ys[start : start + 512])
    return model


def _pairs(test: Test) -> Iterator[tuple[Package, Package, int, int]]:
    """Pairs of different headlines whose CTRs differ significantly."""
    for a, first in enumerate(test.packages):
        for b in range(a + 1, len(test.packages)):
            second = test.packages[b]
            if first.headline != second.headline and _differ(first, second):
                yield first, second, a, b


def _bag(headline: str) -> dict[str, int]:
    return {f"w:{w}": 1 for w in words(headline)}


def _differ(a: Package, b: Package, z: float = 1.96) -> bool:
    """Two-proportion z-test: do the two CTRs differ at the 5 % level?"""
    pooled = (a.clicks + b.clicks) / (a.impressions + b.impressions)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.impressions + 1 / b.impressions))
    return se > 0 and abs(a.ctr - b.ctr) / se > z
