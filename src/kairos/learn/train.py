"""Offline training from a file: a generic CSV of a label column and feature columns.

Each row is an example; its columns other than the label (and the time column) are features
(numbers and `true`/`false` typed, the rest categories; a `|` separates the items of a list).
Validation is the latest fifth by the time column when there is one, else the last fifth of
the rows, or a given file. Metrics: AUC, log loss, calibration, against a constant predictor
of the training click rate.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kairos.creative.feeds import typed_value
from kairos.learn.ftrl import Ftrl
from kairos.learn.metrics import auc, calibration, log_loss

Rows = list[dict[str, Any]]
_TRUE = frozenset({"1", "true", "yes", "1.0"})
_FALSE = frozenset({"0", "false", "no", "0.0"})


class TrainingError(ValueError):
    """The data cannot be used; the message says why."""


@dataclass(frozen=True)
class Split:
    train_x: Rows
    train_y: np.ndarray[Any, Any]
    valid_x: Rows
    valid_y: np.ndarray[Any, Any]


def read_csv(
    path: Path, label: str, time_column: str | None
) -> tuple[Rows, np.ndarray[Any, Any], list[str]]:
    """Features, labels and the time column's values (empty strings when there is none)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if label not in (reader.fieldnames or []):
            raise TrainingError(f"{path}: no {label!r} column (columns: {reader.fieldnames})")
        xs, ys, times = [], [], []
        for number, row in enumerate(reader, start=2):
            y = (row.pop(label) or "").strip().lower()
            if y not in _TRUE and y not in _FALSE:
                raise TrainingError(f"{path} line {number}: label {y!r} is not 0/1")
            times.append(row.pop(time_column, "") or "" if time_column else "")
            xs.append({k: _value(v) for k, v in row.items() if k and v not in (None, "")})
            ys.append(1.0 if y in _TRUE else 0.0)
    if not xs:
        raise TrainingError(f"{path}: no rows")
    return xs, np.asarray(ys), times


def split(
    xs: Rows, ys: np.ndarray[Any, Any], times: Sequence[str], validation: float = 0.2
) -> Split:
    """The latest `validation` share of the rows (by time when given) for validation."""
    order = sorted(range(len(xs)), key=lambda i: times[i]) if any(times) else list(range(len(xs)))
    cut = max(1, int(len(order) * (1 - validation)))
    head, tail = order[:cut], order[cut:]
    if not tail:
        raise TrainingError("too few rows to keep some for validation")
    return Split([xs[i] for i in head], ys[head], [xs[i] for i in tail], ys[tail])


def fit(
    model: Ftrl,
    xs: Rows,
    ys: np.ndarray[Any, Any],
    *,
    epochs: int = 1,
    batch: int = 256,
    progress: Callable[[int], None] = lambda _: None,
) -> Ftrl:
    for _ in range(epochs):
        for start, end in _batches(len(xs), batch):
            model.learn_many(xs[start:end], ys[start:end])
            progress(end - start)
    return model


def evaluate(model: Ftrl, xs: Rows, ys: np.ndarray[Any, Any], base_rate: float) -> dict[str, Any]:
    p = model.predict_proba_many(xs)
    constant = np.full(len(ys), min(max(base_rate, 1e-6), 1 - 1e-6))
    return {
        "examples": len(ys),
        "positives": int(ys.sum()),
        "auc": round(auc(ys, p), 6),
        "log_loss": round(log_loss(ys, p), 6),
        "log_loss_constant": round(log_loss(ys, constant), 6),
        "calibration": calibration(ys, p),
    }


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _value(text: str) -> Any:
    if "|" in text:
        return [item for item in text.split("|") if item]
    return typed_value(text)
