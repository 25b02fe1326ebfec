"""`POST /v1/events` and `POST /v1/events/batch`: a 2xx only once Kafka has every event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from prometheus_client import Counter
from starlette.responses import Response

from kairos.api.body import read_limited
from kairos.api.ingest import IngestResult, RequestContext
from kairos.api.responses import json_response
from kairos.api.state import Services, services
from kairos.domain.events import Event, EventBatch

router = APIRouter(prefix="/v1", tags=["events"])
# Bodies are read raw (per-item errors, dead-lettering); their schemas are added by openapi.py.
BODY_SCHEMAS = {"Event": Event, "EventBatch": EventBatch}


def _request_body(schema_name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _context(request: Request) -> RequestContext:
    return RequestContext(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


INGESTED = Counter(
    "kairos_ingest_events_total", "Events received by the API, by outcome", ["outcome"]
)  # accepted | rejected


def _respond(result: IngestResult) -> Response:
    accepted = len(result.event_ids)
    INGESTED.labels("accepted").inc(accepted)
    INGESTED.labels("rejected").inc(len(result.rejected))
    body: dict[str, Any] = {"accepted": accepted, "event_ids": result.event_ids}
    if result.rejected:
        body["rejected"] = [{"index": r.index, "errors": r.errors} for r in result.rejected]
    if not accepted:
        body = {"error": "validation_failed", "message": "no event was valid", **body}
        return json_response(body, status_code=422)
    return json_response(body, status_code=207 if result.rejected else 202)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Every event is in Kafka"},
    207: {"description": "The valid events are in Kafka; `rejected` lists the others"},
    413: {"description": "Body or batch too large"},
    422: {"description": "No valid event; errors per item (they went to the dead-letter topic)"},
    503: {"description": "Kafka did not acknowledge; retry after `Retry-After` seconds"},
}


@router.post(
    "/events",
    status_code=202,
    responses=_RESPONSES,
    openapi_extra=_request_body("Event"),
    summary="Ingest one event",
)
async def ingest_event(request: Request, svc: Services = Depends(services)) -> Response:
    body = await read_limited(request, svc.settings.max_body_bytes)
    return _respond(await svc.ingestor.ingest_one(body, _context(request)))


@router.post(
    "/events/batch",
    status_code=202,
    responses=_RESPONSES,
    openapi_extra=_request_body("EventBatch"),
    summary="Ingest a batch of events",
)
async def ingest_batch(request: Request, svc: Services = Depends(services)) -> Response:
    body = await read_limited(request, svc.settings.max_body_bytes)
    return _respond(await svc.ingestor.ingest_batch(body, _context(request)))
