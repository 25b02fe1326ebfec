"""Recording a trained version in the registry, promoted only when it beats the version in use
on the same validation data (the current one is scored again on the new one's validation set).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from kairos.db import registry as stored
from kairos.db.timestamps import utcnow
from kairos.learn import registry
from kairos.learn.bayes import BayesianLogistic
from kairos.learn.ftrl import Ftrl
from kairos.learn.train import Split, evaluate


def register(
    engine: Engine,
    name: str,
    model: Ftrl | BayesianLogistic,
    data: Split,
    trained_on: str,
) -> tuple[registry.Version, registry.Verdict]:
    base_rate = float(data.train_y.mean())
    metrics: dict[str, Any] = evaluate(model, data.valid_x, data.valid_y, base_rate)
    current = stored.promoted(engine, name)
    current_metrics = None
    if current is not None:
        current_model = registry.restore(current[1])
        current_metrics = evaluate(current_model, data.valid_x, data.valid_y, base_rate)
        metrics["current"] = {"version": current[0].id} | current_metrics
    verdict = registry.decide(metrics, current_metrics)
    version = registry.Version(
        id=stored.next_id(engine, name),
        name=name,
        kind=registry.kind_of(model),
        created_at=utcnow(),
        trained_on=trained_on,
        examples=len(data.train_x),
        validation=registry.fingerprint(data.valid_x, data.valid_y),
        metrics=metrics,
        status=registry.PROMOTED if verdict.promote else registry.REJECTED,
        note=verdict.reason,
    )
    stored.add(engine, version, model.snapshot())
    return version, verdict
