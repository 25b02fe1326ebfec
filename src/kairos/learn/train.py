"""Offline training from a file or from the database's history.

A file is a generic table — CSV or Parquet — of a label column (0/1) and feature columns.
Each row is an example; its columns other than the label (and the time column) are features
(in CSV: numbers and `true`/`false` typed, the rest categories, a `|` separating the items of
a list; in Parquet: the column's own type, lists as lists). The history is the `interactions`
table: each logged impression is an example (its context and ad, as the ad server describes a
candidate), labelled 1 when a click with the same decision id was recorded.
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
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.ftrl import Ftrl
from kairos.learn.metrics import auc, calibration, log_loss

Rows = list[dict[str, Any]]
Model = Ftrl | BayesianLogistic
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


def read_table(
    path: Path, label: str, time_column: str | None
) -> tuple[Rows, np.ndarray[Any, Any], list[str]]:
    """CSV or Parquet, by the file's suffix."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return read_parquet(path, label, time_column)
    return read_csv(path, label, time_column)


def read_parquet(
    path: Path, label: str, time_column: str | None
) -> tuple[Rows, np.ndarray[Any, Any], list[str]]:
    import pyarrow.parquet as pq  # only Parquet files need it

    try:
        columns = pq.read_table(path).to_pydict()
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path}: not a readable Parquet file ({exc})") from exc
    if label not in columns:
        raise TrainingError(f"{path}: no {label!r} column (columns: {list(columns)})")
    labels = columns.pop(label)
    times = [str(v) if v is not None else "" for v in columns.pop(time_column, [])] or [""] * len(
        labels
    )
    xs, ys = [], []
    for number, y in enumerate(labels):
        if y not in (0, 1, True, False):
            raise TrainingError(f"{path} row {number}: label {y!r} is not 0/1")
        xs.append({k: v[number] for k, v in columns.items() if v[number] not in (None, "")})
        ys.append(float(y))
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
    model: Model,
    xs: Rows,
    ys: np.ndarray[Any, Any],
    *,
    epochs: int = 1,
    batch: int = 256,
    progress: Callable[[int], None] = lambda _: None,
) -> Model:
    for _ in range(epochs):
        for start, end in _batches(len(xs), batch):
            model.learn_many(xs[start:end], ys[start:end])
            progress(end - start)
    return model


def evaluate(model: Model, xs: Rows, ys: np.ndarray[Any, Any], base_rate: float) -> dict[str, Any]:
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
