"""The known-CTR reference: exact posterior over which package holds which CTR value."""

from __future__ import annotations

import numpy as np
import pytest

from kairos.bench.known_ctrs import MAX_PACKAGES, KnownCtrs


def test_before_any_traffic_it_cannot_tell_the_packages_apart() -> None:
    known = KnownCtrs(seed=0, sharpen=1.0)
    draws = sum(known.allocate("t", np.array([0.01, 0.02, 0.04]), 3_000) for _ in range(20))
    assert np.allclose(draws / draws.sum(), 1 / 3, atol=0.02)


def test_feedback_moves_the_impressions_to_the_best_package() -> None:
    ctrs = np.array([0.01, 0.03, 0.015, 0.02])
    known, rng = KnownCtrs(seed=1), np.random.default_rng(1)
    served = np.zeros(4)
    for _ in range(20):
        counts = known.allocate("t", ctrs, 1_000)
        known.learn("t", counts, rng.binomial(counts, ctrs))
        served = counts
    assert served[1] >= 990  # the last batch: nearly all to the 3 % package


def test_sharper_powers_explore_less_after_the_same_feedback() -> None:
    ctrs = np.array([0.02, 0.025])
    shares = []
    for sharpen in (1.0, 8.0):
        known = KnownCtrs(seed=2, sharpen=sharpen)
        known.allocate("t", ctrs, 1)
        known.learn("t", np.array([2_000, 2_000]), np.array([40, 50]))
        shares.append(known.allocate("t", ctrs, 100_000)[1] / 100_000)
    assert 0.5 < shares[0] < shares[1]


def test_covers_two_to_seven_packages_and_forgets() -> None:
    known = KnownCtrs()
    assert not known.covers(1)
    assert not known.covers(MAX_PACKAGES + 1)
    assert known.covers(2)
    assert known.covers(MAX_PACKAGES)
    with pytest.raises(ValueError, match="8 packages"):
        known.allocate("t", np.full(8, 0.01), 10)
    known.allocate("t", np.array([0.01, 0.02]), 10)
    known.forget("t")
    with pytest.raises(KeyError):
        known.learn("t", np.array([1, 1]), np.array([0, 0]))
