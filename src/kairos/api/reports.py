"""`GET /v1/reports/pacing`: how each live flight is delivering against an even pace.

Read from the ad server's memory (the roll-ups it refreshes every few seconds): delivered
goal units and spend, today's, the even share of the goal expected by now, the pacing error and
the serve probability pacing currently gives the flight. Needs a `read` API key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kairos.adserver.pacing import Delivery, pacing_error
from kairos.api.auth import Scope, require
from kairos.api.responses import json_response
from kairos.api.state import services

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/pacing", dependencies=[Depends(require(Scope.READ))])
def pacing(request: Request) -> Response:
    engine = services(request).adserver.engine
    now = datetime.now(UTC)
    flights: list[dict[str, Any]] = []
    for flight_id, flight in sorted(engine.catalog.flights.items()):
        delivered = engine.deliveries.get(flight_id, Delivery())
        error = pacing_error(flight, delivered, now)
        flights.append(
            {
                "flight_id": flight_id,
                "goal_type": flight.goal_type.value,
                "goal_amount": flight.goal_amount,
                "delivered": delivered.units,
                "delivered_today": delivered.units_today,
                "spend": round(delivered.spend, 6),
                "spend_today": round(delivered.spend_today, 6),
                "daily_budget": flight.daily_budget,
                "pacing": flight.pacing.value,
                "pacing_error": round(error, 6) if error is not None else None,
                "serve_probability": round(engine.pacer.probability(flight_id), 6),
            }
        )
    return json_response({"at": now.isoformat(), "flights": flights})
