"""How good a click model is on labelled data: AUC (ranking), log loss, and calibration
(predicted against observed rates in bins of prediction, and the expected calibration error)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

EPSILON = 1e-12


Values = Sequence[float] | np.ndarray[Any, Any]


def auc(labels: Values, scores: Values) -> float:
    """Area under the ROC curve (ties count half); 0.5 when only one class is present."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    positives = float(y.sum())
    negatives = float(len(y) - positives)
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = _average_ranks(s)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _average_ranks(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return np.asarray(np.bincount(inverse, weights=ranks) / counts)[inverse]


def log_loss(labels: Values, probabilities: Values) -> float:
    y = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probabilities, dtype=float), EPSILON, 1 - EPSILON)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else 0.0


def calibration(labels: Values, probabilities: Values, bins: int = 10) -> dict[str, Any]:
    """Observed against predicted rate per bin of equal count, and the expected calibration
    error (the count-weighted mean gap); `ratio` is mean predicted over mean observed."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if len(y) == 0:
        return {"ece": 0.0, "ratio": None, "bins": []}
    order = np.argsort(p, kind="stable")
    table = []
    ece = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        if len(chunk) == 0:
            continue
        predicted, observed = float(p[chunk].mean()), float(y[chunk].mean())
        ece += len(chunk) / len(y) * abs(predicted - observed)
        table.append({"n": len(chunk), "predicted": predicted, "observed": observed})
    observed_rate = float(y.mean())
    ratio = float(p.mean()) / observed_rate if observed_rate > 0 else None
    return {"ece": ece, "ratio": ratio, "bins": table}
