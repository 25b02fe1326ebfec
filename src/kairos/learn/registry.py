"""Model versions and the promotion rule: a new version replaces the one in use only when it
does better on the same validation data — the current version is scored again on the new
version's validation set, so the two numbers compare like with like.

"Better" is a lower log loss (a proper scoring rule: it rewards both ranking and calibration)
by at least `min_gain`, with an AUC not worse by more than `auc_slack`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from kairos.learn.bayes import BayesianLogistic
from kairos.learn.ftrl import Ftrl

CANDIDATE, PROMOTED, RETIRED, REJECTED = "candidate", "promoted", "retired", "rejected"


@dataclass(frozen=True)
class Version:
    id: str
    name: str  # what it predicts: "ctr", "cvr"
    kind: str  # "ftrl" or "bayes"
    created_at: datetime
    trained_on: str
    examples: int
    validation: str  # fingerprint of the validation data
    metrics: dict[str, Any]
    status: str
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str


def decide(
    new: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    *,
    min_gain: float = 0.0,
    auc_slack: float = 0.002,
) -> Verdict:
    """Whether a version with metrics `new` should replace one that scored `current` on the
    same validation data (None: nothing in use)."""
    if current is None:
        return Verdict(True, "no version in use")
    new_loss, old_loss = float(new["log_loss"]), float(current["log_loss"])
    new_auc, old_auc = float(new["auc"]), float(current["auc"])
    if new_loss >= old_loss - min_gain:
        return Verdict(False, f"log loss {new_loss:.6f} not below the current {old_loss:.6f}")
    if new_auc < old_auc - auc_slack:
        return Verdict(False, f"AUC {new_auc:.4f} below the current {old_auc:.4f}")
    return Verdict(True, f"log loss {new_loss:.6f} < {old_loss:.6f}, AUC {new_auc:.4f}")


def fingerprint(xs: Sequence[Mapping[str, Any]], ys: np.ndarray[Any, Any]) -> str:
    """A digest of validation examples and labels: equal data, equal fingerprint."""
    digest = hashlib.sha256()
    for x, y in zip(xs, ys, strict=True):
        digest.update(repr(sorted((k, repr(v)) for k, v in x.items())).encode())
        digest.update(b"1" if y else b"0")
    return digest.hexdigest()


def restore(data: bytes) -> Ftrl | BayesianLogistic:
    """Either kind of snapshot: the FTRL model keeps z and n, the Bayesian one m and q."""
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        bayesian = "m" in stored.files
    return BayesianLogistic.restore(data) if bayesian else Ftrl.restore(data)


def kind_of(model: Ftrl | BayesianLogistic) -> str:
    return "bayes" if isinstance(model, BayesianLogistic) else "ftrl"
