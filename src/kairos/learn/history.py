"""Training examples from the database's interaction history: each logged impression is an
example described as the ad server describes a candidate (context and ad, `learn.features`),
labelled 1 when a click of the same decision was recorded (or, for the conversion model, a
conversion). Ordered by time, so the time split validates on the latest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kairos.db.models import InteractionRecord
from kairos.domain.events import EventType
from kairos.learn import features
from kairos.learn.train import Rows, TrainingError

LABELS = {"ctr": EventType.CLICK, "cvr": EventType.CONVERSION}


def read_history(
    engine: Engine, model: str = "ctr", since: datetime | None = None, limit: int = 5_000_000
) -> tuple[Rows, np.ndarray[Any, Any], list[str]]:
    """(features, labels, times) of the logged impressions, oldest first."""
    label = LABELS[model]
    with Session(engine) as session:
        positive = set(
            session.scalars(
                select(InteractionRecord.decision_id).where(
                    InteractionRecord.event_type == label.value,
                    InteractionRecord.decision_id.is_not(None),
                )
            )
        )
        query = (
            select(InteractionRecord)
            .where(
                InteractionRecord.event_type == EventType.IMPRESSION.value,
                InteractionRecord.decision_id.is_not(None),
            )
            .order_by(InteractionRecord.ts)
            .limit(limit)
        )
        if since is not None:
            query = query.where(InteractionRecord.ts >= since)
        xs, ys, times = [], [], []
        for row in session.scalars(query):
            xs.append(_example(row))
            ys.append(1.0 if row.decision_id in positive else 0.0)
            times.append(row.ts.isoformat())
    if not xs:
        raise TrainingError("no logged impressions in the database's history")
    return xs, np.asarray(ys), times


def _example(row: InteractionRecord) -> dict[str, Any]:
    snapshot = {
        "device": row.device,
        "os": row.os,
        "browser": row.browser,
        "country": row.country,
        "local_hour": row.local_hour,
        "weekday": row.weekday,
    }
    return features.user_part(snapshot) | features.ad_part(
        advertiser_id=None,
        campaign_id=row.campaign_id,
        flight_id=None,
        ad_id=row.ad_id,
        creative_id=row.creative_id,
        placement_id=row.placement_id,
        elements={str(k): str(v) for k, v in (row.elements or {}).items()},
    )
