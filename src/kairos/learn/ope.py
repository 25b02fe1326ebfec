"""Off-policy evaluation: what click rate would another policy have had on logged decisions?

Each logged decision has the reward it got (a click: 0/1), the propensity the logging policy
had of its action, and the probability the evaluated policy gives that same action (1 or 0 for
a deterministic policy). Estimators, each with a 95 % confidence interval (normal
approximation over the per-decision terms):

- IPS: mean of w r, with w = target / propensity (unbiased, high variance);
- self-normalised IPS: sum w r / sum w (a little biased, much steadier);
- doubly robust: mean of q(x, target) + w (r - q(x, a)), with a reward model q (unbiased when
  either the propensities or q are right, and tighter the better q is).

The effective sample size (sum w)^2 / sum w^2 says how much of the log the estimate rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int
    effective_n: float

    def as_dict(self) -> dict[str, float]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "effective_n": self.effective_n,
        }


@dataclass(frozen=True)
class Logged:
    rewards: Array  # (n,) what each logged decision got
    propensities: Array  # (n,) the logging policy's probability of its action
    target: Array  # (n,) the evaluated policy's probability of that same action
    q_logged: Array | None = None  # (n,) a reward model's estimate for the logged action
    q_target: Array | None = None  # (n,) its expected reward under the evaluated policy

    def weights(self, clip: float | None = None) -> Array:
        w = np.asarray(self.target, dtype=float) / np.asarray(self.propensities, dtype=float)
        return np.asarray(np.minimum(w, clip)) if clip is not None else w


def ips(logged: Logged, clip: float | None = None) -> Estimate:
    w = logged.weights(clip)
    return _mean_estimate(w * logged.rewards, w)


def snips(logged: Logged, clip: float | None = None) -> Estimate:
    w = logged.weights(clip)
    total = float(w.sum())
    if total <= 0:
        return Estimate(0.0, 0.0, 0.0, len(w), 0.0)
    value = float((w * logged.rewards).sum() / total)
    # delta method: the ratio's variance from the terms w (r - value) / mean(w)
    terms = w * (logged.rewards - value) / w.mean()
    half = Z95 * float(terms.std(ddof=1)) / np.sqrt(len(w)) if len(w) > 1 else 0.0
    return Estimate(value, value - half, value + half, len(w), _effective(w))


def doubly_robust(logged: Logged, clip: float | None = None) -> Estimate:
    if logged.q_logged is None or logged.q_target is None:
        raise ValueError("doubly robust needs a reward model: q_logged and q_target")
    w = logged.weights(clip)
    terms = logged.q_target + w * (logged.rewards - logged.q_logged)
    return _mean_estimate(terms, w)


def _mean_estimate(terms: Array, w: Array) -> Estimate:
    n = len(terms)
    value = float(terms.mean()) if n else 0.0
    half = Z95 * float(terms.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    return Estimate(value, value - half, value + half, n, _effective(w))


def _effective(w: Array) -> float:
    squares = float((w * w).sum())
    return float(w.sum()) ** 2 / squares if squares > 0 else 0.0
