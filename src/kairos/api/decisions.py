"""`POST /v1/decisions`: ads for several placements of a page in one request.

The body is decoded with msgspec (`decision_body`: a 422 names the field), then answered
(`answering`: context, decision, answer, records logged). `?explain=true` (or
`X-Kairos-Explain: 1`) adds why each candidate was dropped; it needs an API key with the `read`
scope. Requests without it are answered ahead of the framework (`fastpath`), alike.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from kairos.api.answering import answer
from kairos.api.auth import Scope, authorize, secret_of
from kairos.api.body import read_limited
from kairos.api.decision_body import decode
from kairos.api.state import services

router = APIRouter(prefix="/v1", tags=["decisions"])

_TRUE = frozenset({"1", "true", "yes", "on"})  # as FastAPI reads a boolean query parameter


@router.post(
    "/decisions",
    openapi_extra={
        "parameters": [
            {
                "name": "explain",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False},
                "description": "Say why each candidate was dropped (needs a read key)",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/DecisionRequest"}}
            },
        },
    },
    responses={200: {"description": "Per placement: the chosen ads, or why there is none"}},
)
async def decide(request: Request) -> Response:
    # `explain` is read here rather than declared: parameter validation cost a tenth of the
    # hot path; it is documented in the OpenAPI schema above. Requests without it are
    # answered before the framework's routing (`api.fastpath`), by the same `answer`.
    svc = services(request)
    wanted = decode(await read_limited(request, svc.settings.max_body_bytes))
    explain = (
        request.query_params.get("explain", "").lower() in _TRUE
        or request.headers.get("x-kairos-explain") == "1"
    )
    if explain:
        await asyncio.to_thread(authorize, request, secret_of(request), Scope.READ)
    client = request.client.host if request.client else None
    body = answer(svc, wanted, explain, request.headers.get("user-agent"), client)
    return Response(body, media_type="application/json")
