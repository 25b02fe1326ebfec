"""Logistic regression trained online with FTRL-Proximal (McMahan et al., 2013, "Ad Click
Prediction: a View from the Trenches"), on hashed features.

Per coordinate i the model keeps z_i and n_i (the sum of squared gradients); its weight is
w_i = 0 when |z_i| <= l1, else -(z_i - sign(z_i) l1) / ((beta + sqrt(n_i)) / alpha + l2), so
L1 keeps most of the weight vector at exactly zero. `learn_many` updates a mini-batch at once
(numpy): gradients summed per coordinate over the batch, n grown by their squares; with a batch
of one it is exactly the per-example algorithm. A River-style contract: `learn_one`,
`learn_many`, `predict_proba_one`, `predict_proba_many`; `snapshot`/`restore` to bytes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kairos.learn.hashing import Example, Hasher

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class FtrlParams:
    alpha: float = 0.1  # learning rate scale
    beta: float = 1.0
    l1: float = 1.0
    l2: float = 1.0
    bits: int = 20
    crosses: tuple[tuple[str, str], ...] = ()


@dataclass
class Ftrl:
    params: FtrlParams = field(default_factory=FtrlParams)
    name: str = "ftrl"
    _z: Array = field(init=False, repr=False)
    _n: Array = field(init=False, repr=False)
    _hasher: Hasher = field(init=False, repr=False)
    seen: int = 0  # examples learned

    def __post_init__(self) -> None:
        self._hasher = Hasher(self.params.bits, self.params.crosses)
        self._z = np.zeros(self._hasher.size)
        self._n = np.zeros(self._hasher.size)

    # -- prediction -------------------------------------------------------------------------

    def predict_proba_one(self, x: Example) -> float:
        indices, values = self._hasher.features(x)
        idx = np.asarray(indices, dtype=np.intp)
        margin = float(self._weights(idx) @ np.asarray(values))
        return float(_sigmoid(np.asarray(margin)))

    def predict_proba_many(self, xs: Sequence[Example]) -> Array:
        if not xs:
            return np.zeros(0)
        rows, idx, values = self._hasher.batch(xs)
        margins = np.bincount(rows, weights=self._weights(idx) * values, minlength=len(xs))
        return _sigmoid(margins)

    # -- learning ---------------------------------------------------------------------------

    def learn_one(self, x: Example, y: float) -> None:
        self.learn_many([x], np.asarray([y], dtype=float))

    def learn_many(
        self,
        xs: Sequence[Example],
        ys: Sequence[float] | Array,
        trials: Sequence[float] | Array | None = None,
    ) -> None:
        """Learn labelled examples; with `trials`, row i is ys[i] positives out of trials[i]
        (a trial of 0 with a positive turns an earlier negative of that example positive)."""
        if not xs:
            return
        labels = np.asarray(ys, dtype=float)
        counts = np.ones(len(xs)) if trials is None else np.asarray(trials, dtype=float)
        rows, idx, values = self._hasher.batch(xs)
        weights = self._weights(idx)
        margins = np.bincount(rows, weights=weights * values, minlength=len(xs))
        errors = counts * _sigmoid(margins) - labels  # d(log loss)/d(margin)
        grads = errors[rows] * values
        coords, where = np.unique(idx, return_inverse=True)
        g = np.bincount(where, weights=grads, minlength=len(coords))
        g2 = np.bincount(where, weights=grads * grads, minlength=len(coords))
        n_old = self._n[coords]
        n_new = n_old + g2
        sigma = (np.sqrt(n_new) - np.sqrt(n_old)) / self.params.alpha
        self._z[coords] += g - sigma * self._weights(coords)
        self._n[coords] = n_new
        self.seen += int(counts.sum())

    def _weights(self, idx: Array) -> Array:
        p = self.params
        z, n = self._z[idx], self._n[idx]
        w = -(z - np.sign(z) * p.l1) / ((p.beta + np.sqrt(n)) / p.alpha + p.l2)
        return np.where(np.abs(z) <= p.l1, 0.0, w)

    @property
    def nonzero(self) -> int:
        """Coordinates with a weight (L1 keeps the others at zero)."""
        return int(np.count_nonzero(np.abs(self._z) > self.params.l1))

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state, compressed; `restore` gives a model that predicts the same."""
        buffer = io.BytesIO()
        meta = json.dumps({"name": self.name, "seen": self.seen, "params": asdict(self.params)})
        np.savez_compressed(buffer, z=self._z, n=self._n, meta=np.asarray(meta))
        return buffer.getvalue()

    @classmethod
    def restore(cls, data: bytes) -> Ftrl:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            params = meta["params"] | {"crosses": tuple(map(tuple, meta["params"]["crosses"]))}
            model = cls(FtrlParams(**params), name=meta["name"])
            model._z, model._n = stored["z"].copy(), stored["n"].copy()
        model.seen = meta["seen"]
        return model


def _sigmoid(margin: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(margin, -35.0, 35.0))))
