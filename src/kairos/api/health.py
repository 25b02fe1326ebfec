"""Liveness (`/healthz`), readiness (`/readyz`: Kafka and the database answer), `/metrics`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from kairos.api.responses import json_response
from kairos.api.state import Services, services
from kairos.db.engine import ping as db_ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Kafka and the database answer",
    responses={503: {"description": "A dependency does not answer"}},
)
async def readyz(svc: Services = Depends(services)) -> Response:
    kafka, database = await asyncio.gather(
        svc.sink.ping(timeout_s=2.0), asyncio.to_thread(db_ping, svc.engine)
    )
    ready = kafka and database
    body = {"status": "ready" if ready else "unavailable", "kafka": kafka, "database": database}
    headers = {} if ready else {"Retry-After": "5"}
    return json_response(body, status_code=200 if ready else 503, headers=headers)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of this process (each API worker has its own)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
