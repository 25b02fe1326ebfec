"""`POST /v1/decisions`: ads for several placements of a page in one request.

The body is decoded with msgspec (a 422 names the field), the visitor pseudonymised as at
ingestion, the context enriched in memory (device, geo, page keywords, the user's features
when they consented), then the engine decides. Every decision, no-fill included, is logged to
the decisions topic without holding the response. `?explain=true` (or `X-Kairos-Explain: 1`)
adds why each candidate was dropped; it needs an API key with the `read` scope.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import orjson
from fastapi import APIRouter, Request
from msgspec import Meta, Struct, field
from prometheus_client import Counter, Histogram
from starlette.responses import Response

from kairos.adserver import render
from kairos.adserver.context import RequestContext
from kairos.adserver.engine import DecisionRequest, PlacementRequest, PlacementResult
from kairos.api.auth import Scope, authorize, secret_of
from kairos.api.body import read_limited
from kairos.api.state import Services, services
from kairos.domain.codec import field_error
from kairos.domain.events import Consent
from kairos.domain.identity import truncate_ip
from kairos.errors import KairosError
from kairos.kafka.sink import Message
from kairos.memo import Memo
from kairos.stream.enrich import device_of, page_context
from kairos.stream.features import FeatureConfig, snapshot

router = APIRouter(prefix="/v1", tags=["decisions"])

DECISIONS = Counter("kairos_decisions_total", "Placements decided, by outcome", ["outcome"])
LATENCY = Histogram(
    "kairos_decision_seconds",
    "Time to decide one request",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
)
_FILLED, _NO_FILL = DECISIONS.labels("filled"), DECISIONS.labels("no_fill")
Scalar = str | int | float | bool | None
_FEATURES = FeatureConfig()


class PlacementIn(Struct, forbid_unknown_fields=True, gc=False):
    placement: Annotated[str, Meta(min_length=1, max_length=128)]  # id or div name
    ad_types: Annotated[list[str], Meta(max_length=10)] = field(default_factory=list)
    zone_id: str | None = None
    count: Annotated[int, Meta(ge=1, le=10)] = 1
    properties: Annotated[dict[str, Scalar], Meta(max_length=50)] = field(default_factory=dict)
    floor_cpm: Annotated[float, Meta(ge=0)] | None = None


class DecisionIn(Struct, forbid_unknown_fields=True, gc=False):
    placements: Annotated[list[PlacementIn], Meta(min_length=1, max_length=20)]
    user_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    page_url: Annotated[str, Meta(max_length=2048)] | None = None
    referrer: Annotated[str, Meta(max_length=2048)] | None = None
    keywords: Annotated[list[str], Meta(max_length=50)] = field(default_factory=list)
    ip: Annotated[str, Meta(max_length=45)] | None = None  # default: the caller's address
    user_agent: Annotated[str, Meta(max_length=1024)] | None = None
    consent: Consent = field(default_factory=Consent)
    properties: Annotated[dict[str, Scalar], Meta(max_length=50)] = field(default_factory=dict)


BODY_SCHEMAS = {"DecisionRequest": DecisionIn}
_DECODER = msgspec.json.Decoder(DecisionIn)


_TRUE = frozenset({"1", "true", "yes", "on"})  # as FastAPI reads a boolean query parameter


class InvalidDecisionRequest(KairosError):
    status = 422


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


def decode(body: bytes) -> DecisionIn:
    try:
        return _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = field_error(exc)
        raise InvalidDecisionRequest(str(exc), detail=[error.as_dict()]) from exc


def answer(
    svc: Services, wanted: DecisionIn, explain: bool, user_agent: str | None, client: str | None
) -> bytes:
    """The response body for a decoded (and, to explain, authorised) request; its records
    go to the decisions topic."""
    started = time.perf_counter()
    ctx, features = _context(svc, wanted, datetime.now(UTC), user_agent, client)
    decision = DecisionRequest(
        [
            PlacementRequest(
                p.placement,
                tuple(p.ad_types),
                p.count,
                p.properties,
                p.floor_cpm,
                p.zone_id,
            )
            for p in wanted.placements
        ],
        ctx,
        explain,
    )
    results = svc.adserver.decide(decision, features)
    links = svc.links
    placements = [render.placement_json(r, ctx, links, explain) for r in results]
    _log(svc, results, ctx)
    filled = sum(1 for r in results if r.choices)
    if filled:
        _FILLED.inc(filled)
    if filled < len(results):
        _NO_FILL.inc(len(results) - filled)
    LATENCY.observe(time.perf_counter() - started)
    return orjson.dumps({"placements": placements})


def _context(
    svc: Services, wanted: DecisionIn, now: datetime, user_agent: str | None, client: str | None
) -> tuple[RequestContext, Any]:
    user_key = svc.pseudonymize(wanted.user_id) if wanted.user_id else None
    consented = wanted.consent.personalization and user_key is not None
    features = svc.adserver.user_features(user_key) if consented else None
    device = device_of(wanted.user_agent or user_agent)
    ip = truncate_ip(wanted.ip or client)
    geo = svc.geo(ip)
    keywords = _PAGE_KEYWORDS[(wanted.page_url, tuple(wanted.keywords))]
    ctx = RequestContext(
        now=now,
        user_key=user_key,
        personalization=consented,
        country=geo.country,
        region=geo.region,
        device=device.type,
        os=device.os,
        browser=device.browser,
        page_url=wanted.page_url,
        keywords=keywords,
        properties=dict(wanted.properties),
        features=snapshot(features, now, _FEATURES) if features is not None else {},
    )
    return ctx, features


def _page_keywords(page: tuple[str | None, tuple[str, ...]]) -> frozenset[str]:
    """A page's keywords for targeting: those the request names and its URL's words."""
    url, named = page
    lowered = tuple(k.lower() for k in named)
    return frozenset({*page_context(url, None, (), lowered).keywords, *lowered})


# (page URL, keywords named) -> `_page_keywords`: a page is asked for by many visitors
_PAGE_KEYWORDS = Memo(_page_keywords, 16_384)


def _log(svc: Services, results: list[PlacementResult], ctx: RequestContext) -> None:
    """Produce the decision records without holding the response: enqueued at once; what
    Kafka cannot take, now (a full local queue) or later (a failed delivery), is spooled
    (`kafka.spool`) and sent again once it can."""
    topic, writer, shared = svc.topics.decisions, svc.links.signer.native, render.Shared.of(ctx)
    messages = [
        Message(topic, key, value)
        for result in results
        for key, value in render.logged(result, ctx, shared, writer)
    ]
    svc.logs.send_nowait(messages, svc.spool.failed)
