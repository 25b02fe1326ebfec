"""Off-policy estimators recover known values on synthetic logs, within their intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kairos.learn.ope import Logged, doubly_robust, ips, snips

CONTEXTS, ACTIONS = 5, 4


def world(seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(0.01, 0.15, (CONTEXTS, ACTIONS))  # the truth nobody sees
    logging = rng.dirichlet(np.ones(ACTIONS) * 2, CONTEXTS)  # a stochastic logging policy
    return ctr, logging


def log(n: int, seed: int, noisy_model: float = 0.0) -> tuple[Logged, float]:
    """n decisions logged under the logging policy, evaluated for the policy that takes the
    best action of each context; returns the log and that policy's true click rate."""
    ctr, logging = world(0)
    rng = np.random.default_rng(seed)
    target_action = ctr.argmax(axis=1)
    x = rng.integers(0, CONTEXTS, n)
    a = np.array([rng.choice(ACTIONS, p=logging[c]) for c in x])
    r = (rng.uniform(size=n) < ctr[x, a]).astype(float)
    model = ctr + rng.normal(0, noisy_model, ctr.shape)  # a reward model, more or less right
    logged = Logged(
        rewards=r,
        propensities=logging[x, a],
        target=(a == target_action[x]).astype(float),
        q_logged=model[x, a],
        q_target=model[x, target_action[x]],
    )
    return logged, float(ctr[np.arange(CONTEXTS), target_action].mean())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_estimator_recovers_the_true_value_within_its_interval(seed: int) -> None:
    logged, truth = log(30_000, seed, noisy_model=0.02)
    for estimate in (ips(logged), snips(logged), doubly_robust(logged)):
        assert estimate.low <= truth <= estimate.high, (estimate, truth)
        assert estimate.high - estimate.low < 0.05
        assert 0 < estimate.effective_n < estimate.n


def test_a_good_reward_model_narrows_the_interval() -> None:
    logged, truth = log(30_000, 4, noisy_model=0.0)
    dr, plain = doubly_robust(logged), ips(logged)
    assert dr.high - dr.low <= plain.high - plain.low  # clicks are rare: the gain is modest
    assert abs(dr.value - truth) < 0.01


def test_the_logging_policy_evaluates_to_its_own_click_rate() -> None:
    logged, _ = log(20_000, 5)
    itself = Logged(logged.rewards, logged.propensities, logged.propensities)
    assert ips(itself).value == pytest.approx(float(logged.rewards.mean()))
    assert snips(itself).value == pytest.approx(float(logged.rewards.mean()))
    with pytest.raises(ValueError, match="reward model"):
        doubly_robust(itself)
