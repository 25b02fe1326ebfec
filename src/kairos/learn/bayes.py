"""Bayesian logistic regression with a Gaussian posterior per weight, for Thompson sampling
(Chapelle & Li, 2011, "An Empirical Evaluation of Thompson Sampling", algorithm 3).

Each hashed weight i has a mean m_i and a precision q_i (prior: mean 0, precision
`prior_precision`; a new variant starts there: the cold-start prior). A mini-batch updates
the weights it touches: w = argmin sum_i q_i (w_i - m_i)^2 / 2 + sum_j log(1 + exp(-y_j w.x_j)),
found by a few Newton steps — with the full Hessian when the batch touches few weights (so
features that always occur together share their evidence as they should), else diagonal ones —
each halved until the objective decreases, then m = w and q_i += sum_j p_j (1 - p_j) x_ij^2.
`sample_many` draws one weight vector (over the coordinates the candidates use) and scores
every candidate with it — Thompson sampling's step; `choose` also estimates the propensity of
the chosen candidate by drawing again.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kairos.learn import draws as draws_
from kairos.learn.hashing import Block, Example, Hasher, Part
from kairos.memo import ByIdentity

Array = np.ndarray[Any, Any]
TUPLES = ("crosses", "scales")  # parameters that JSON turns into lists
DENSE_NEWTON = 300  # batches touching at most this many weights take full Newton steps
OWNS = 4096  # blocks' parts of the draws kept per model (then forgotten at once)


@dataclass(frozen=True)
class BayesParams:
    prior_precision: float = 1.0
    # the bias's: nearly flat, so the average rate is the bias's and every other weight is a
    # deviation from it (else a new ad, whose own weights are still 0, would be predicted at
    # the share of the average its shared features happened to take: far too high)
    bias_precision: float = 0.01
    bits: int = 20
    crosses: tuple[tuple[str, str], ...] = ()
    scales: tuple[tuple[str, float], ...] = ()  # per-field prior spread (see Hasher)
    newton_steps: int = 4
    exploration: float = 1.0  # posterior spread at sampling time (1: plain Thompson sampling)


@dataclass
class BayesianLogistic:
    params: BayesParams = field(default_factory=BayesParams)
    seed: int = 0
    name: str = "bayes"
    seen: int = 0
    _m: Array = field(init=False, repr=False)
    _q: Array = field(init=False, repr=False)
    _hasher: Hasher = field(init=False, repr=False)
    _rng: np.random.Generator = field(init=False, repr=False)
    # what draws need of a block (`draws.Own`) by its identity, while the weights last
    _owns: ByIdentity[Block, draws_.Own] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._hasher = Hasher(self.params.bits, self.params.crosses, scales=self.params.scales)
        self._m = np.zeros(self._hasher.size)
        self._q = np.full(self._hasher.size, float(self.params.prior_precision))
        self._q[0] = self.params.bias_precision
        self._rng = np.random.default_rng(self.seed)
        self._owns = ByIdentity(lambda block: draws_.Own.of(block, self._m, self._q), OWNS)

    # -- prediction -------------------------------------------------------------------------

    def predict_proba_one(self, x: Example) -> float:
        return float(self.predict_proba_many([x])[0])

    def predict_proba_many(self, xs: Sequence[Example]) -> Array:
        if not xs:
            return np.zeros(0)
        rows, idx, values = self._hasher.batch(xs)
        return _sigmoid(np.bincount(rows, weights=self._m[idx] * values, minlength=len(xs)))

    def part(self, example: Example) -> Part:
        """Some fields of an example, hashed once for `predict_proba_parts`."""
        return self._hasher.part(example)

    def predict_proba_parts(self, shared: Part, parts: Sequence[Part]) -> Array:
        """`predict_proba_many` of `shared`'s fields together with each part's (their fields
        disjoint), the shared part's margin reckoned once."""
        if not parts:
            return np.zeros(0)
        m = self._m
        base = float(m[0] + np.dot(m[shared.indices], shared.values))
        rows: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        for row, (idx, val) in enumerate(self._hasher.rows(shared, parts)):
            rows.extend([row] * len(idx))
            indices.extend(idx)
            values.extend(val)
        weights = m[np.asarray(indices, dtype=np.intp)] * np.asarray(values)
        return _sigmoid(base + np.bincount(rows, weights=weights, minlength=len(parts)))

    def sample_many(
        self, xs: Sequence[Example], draws: int = 1, exploration: float | None = None
    ) -> Array:
        """Click probabilities under `draws` weight vectors drawn from the posterior: an array
        of shape (draws, len(xs))."""
        return _sigmoid(self.sample_margins(xs, draws, exploration))

    def sample_margins(
        self, xs: Sequence[Example], draws: int = 1, exploration: float | None = None
    ) -> Array:
        """Margins (log-odds) of the candidates under `draws` posterior weight vectors, shape
        (draws, len(xs)). The weights are independent Gaussians, so a draw is the candidates'
        mean margins plus their features times the weights' deviations, drawn only over the
        coordinates they use (candidates sharing elements stay correlated exactly as under
        whole drawn weights); the coordinates every candidate has alike (a shared user and ad)
        move every margin together, so they are drawn as one. `exploration` scales the spread
        (default: the parameters')."""
        if not xs:
            return np.zeros((draws, 0))
        scale = self.params.exploration if exploration is None else exploration
        joined = self._hasher.shared_and_block(xs)
        if joined is None:
            dense, coords = self._dense(xs)
        elif not joined[2]:  # no cross of the shared part with the rows: no matrix of them
            return self._joined_margins(joined[0], joined[1], draws, scale)
        else:  # (the parts and crosses already made)
            dense, coords = self._hasher.joined_dense(*joined)
        mean = dense @ self._m[coords]
        spread = scale**2 / self._q[coords]
        alike = (dense == dense[0]).all(axis=0)
        loads = dense[:, ~alike] * np.sqrt(spread[~alike])
        common = math.sqrt(float(np.dot(dense[0, alike] ** 2, spread[alike])))
        normal = self._rng.standard_normal((draws, loads.shape[1] + 1))
        return np.asarray(mean + normal[:, 1:] @ loads.T + normal[:, :1] * common)

    def choose(
        self,
        xs: Sequence[Example],
        values: Sequence[float] | None = None,
        draws: int = 200,
        exploration: float | None = None,
    ) -> tuple[int, float]:
        """Thompson sampling: the candidate with the best sampled value (probability x value),
        and the probability that policy had of choosing it (estimated from `draws` more)."""
        # the choice's draw and the propensity's, from one posterior (the candidates hashed
        # once): the same numbers, in the same order, as two calls would draw
        if values is None:  # by probability alone: the best margin is the best probability
            sampled = np.clip(self.sample_margins(xs, 1 + draws, exploration), -35.0, 35.0)
        else:
            sampled = self.sample_many(xs, 1 + draws, exploration) * np.asarray(values, float)
        chosen = int(np.argmax(sampled[0]))
        wins = np.argmax(sampled[1:], axis=1)
        propensity = max(int(np.count_nonzero(wins == chosen)) / len(wins), 1.0 / (draws + 1))
        return chosen, propensity

    def _joined_margins(self, shared: Part, block: Block, draws: int, scale: float) -> Array:
        """`sample_margins` of a shared part joined with each row of a block, no feature
        crossing the two (`learn.draws`): the same draws, the block's part made once per
        block while the weights last."""
        head: dict[int, float] = {0: 1.0}  # the bias and the shared part, by coordinate
        for index, value in zip(shared.indices, shared.values, strict=True):
            head[index] = head.get(index, 0.0) + value
        mean, loads, common = draws_.spread(self._owns(block), head, self._m, self._q, scale)
        normal = self._rng.standard_normal((draws, loads.shape[1] + 1))
        return np.asarray(mean + normal[:, 1:] @ loads.T + normal[:, :1] * common)

    def allocate(
        self,
        xs: Sequence[Example],
        n: int,
        values: Sequence[float] | None = None,
        exploration: float | None = None,
    ) -> Array:
        """How many of `n` requests, each choosing by its own posterior draw (Thompson sampling
        with feedback held until all n are served), choose each candidate."""
        worth = np.asarray(values if values is not None else np.ones(len(xs)), dtype=float)
        wins = np.argmax(self.sample_many(xs, n, exploration) * worth, axis=1)
        return np.bincount(wins, minlength=len(xs))

    def _dense(self, xs: Sequence[Example]) -> tuple[Array, Array]:
        """The candidates as a dense (len(xs), coordinates) matrix over the coordinates used."""
        return self._hasher.dense(xs)

    # -- learning ---------------------------------------------------------------------------

    def learn_one(self, x: Example, y: float) -> None:
        self.learn_many([x], np.asarray([y], dtype=float))

    def learn_many(
        self,
        xs: Sequence[Example],
        ys: Sequence[float] | Array,
        trials: Sequence[float] | Array | None = None,
    ) -> None:
        """Learn labelled examples; with `trials`, each row is an aggregate: `ys` successes
        (clicks) out of `trials` (impressions) of the same example — the same update as that
        many single examples learnt in one batch."""
        if not xs:
            return
        labels = np.asarray(ys, dtype=float)
        counts = np.ones(len(xs)) if trials is None else np.asarray(trials, dtype=float)
        rows, idx, values = self._hasher.batch(xs)
        coords, where = np.unique(idx, return_inverse=True)
        m, q = self._m[coords], self._q[coords]
        w = m.copy()

        def margins_of(weights: Array) -> Array:
            return np.bincount(rows, weights=weights[where] * values, minlength=len(xs))

        def objective(weights: Array, margins: Array) -> float:
            prior = 0.5 * float(np.sum(q * (weights - m) ** 2))
            return prior + float(np.sum(counts * np.logaddexp(0.0, margins) - labels * margins))

        margins = margins_of(w)
        for _ in range(self.params.newton_steps):
            p = _sigmoid(margins)
            grad = q * (w - m) + np.bincount(
                where, weights=(counts * p - labels)[rows] * values, minlength=len(coords)
            )
            if len(coords) <= DENSE_NEWTON:  # few weights: the full Hessian, exact steps
                dense = np.zeros((len(xs), len(coords)))
                np.add.at(dense, (rows, where), values)
                hessian = (dense.T * (counts * p * (1 - p))) @ dense
                hessian[np.diag_indices_from(hessian)] += q
                step = np.linalg.solve(hessian, grad)
            else:  # diagonal Newton: too long where features move together, so damped below
                curvature = q + np.bincount(
                    where, weights=(counts * p * (1 - p))[rows] * values**2, minlength=len(coords)
                )
                step = grad / curvature
            current = objective(w, margins)
            for _ in range(30):  # so halve it until the objective goes down
                trial = w - step
                trial_margins = margins_of(trial)
                if objective(trial, trial_margins) <= current:
                    w, margins = trial, trial_margins
                    break
                step = step / 2
        p = _sigmoid(np.bincount(rows, weights=w[where] * values, minlength=len(xs)))
        self._m[coords] = w
        self._q[coords] = q + np.bincount(
            where, weights=(counts * p * (1 - p))[rows] * values**2, minlength=len(coords)
        )
        self.seen += int(counts.sum())
        self._owns.clear()  # made with the weights of before

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        buffer = io.BytesIO()
        meta = {"name": self.name, "seen": self.seen, "seed": self.seed}
        meta["params"] = asdict(self.params)
        np.savez_compressed(buffer, m=self._m, q=self._q, meta=np.asarray(json.dumps(meta)))
        return buffer.getvalue()

    @classmethod
    def restore(cls, data: bytes) -> BayesianLogistic:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            params = meta["params"] | {
                name: tuple(map(tuple, meta["params"].get(name, ()))) for name in TUPLES
            }
            model = cls(BayesParams(**params), seed=meta["seed"], name=meta["name"])
            model._m, model._q = stored["m"].copy(), stored["q"].copy()
        model.seen = meta["seen"]
        return model


def _sigmoid(margin: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(margin, -35.0, 35.0))))
