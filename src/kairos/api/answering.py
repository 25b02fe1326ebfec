"""A decoded decision request answered: the context enriched in memory (the visitor
pseudonymised as at ingestion, device, geo, page keywords, the user's features when they
consented), the engine's decision, the answer's body, and every decision (no-fill included)
logged to the decisions topic without holding the response. The route (`decisions`) and the
fast path ahead of the framework (`fastpath`) both answer through `answer`; compiled by mypyc
(`kairos.compiled`) with the decision path.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import Counter, Histogram

from kairos.adserver import render
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import DecisionRequest, PlacementRequest, PlacementResult
from kairos.api.decision_body import DecisionIn
from kairos.api.state import Services
from kairos.domain.identity import truncate_ip
from kairos.kafka.sink import Message
from kairos.memo import Memo
from kairos.stream.enrich import device_of, page_context
from kairos.stream.features import FeatureConfig, snapshot

DECISIONS = Counter("kairos_decisions_total", "Placements decided, by outcome", ["outcome"])
LATENCY = Histogram(
    "kairos_decision_seconds",
    "Time to decide one request",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
)
_FILLED, _NO_FILL = DECISIONS.labels("filled"), DECISIONS.labels("no_fill")
_FEATURES = FeatureConfig()


def answer(
    svc: Services, wanted: DecisionIn, explain: bool, user_agent: str | None, client: str | None
) -> bytes:
    """The response body for a decoded (and, to explain, authorised) request; its records
    go to the decisions topic."""
    started = time.perf_counter()
    ctx, features = context(svc, wanted, datetime.now(UTC), user_agent, client)
    results = svc.adserver.decide(decision_request(wanted, ctx, explain), features)
    links = svc.links
    placements = [render.placement_json(r, ctx, links, explain) for r in results]
    send_records(svc, results, ctx)
    filled = sum(1 for r in results if r.choices)
    if filled:
        _FILLED.inc(filled)
    if filled < len(results):
        _NO_FILL.inc(len(results) - filled)
    LATENCY.observe(time.perf_counter() - started)
    return orjson.dumps({"placements": placements})


def decision_request(wanted: DecisionIn, ctx: RequestContext, explain: bool) -> DecisionRequest:
    """What the engine is asked: the body's placements in this context."""
    placements = [
        PlacementRequest(
            p.placement, tuple(p.ad_types), p.count, p.properties, p.floor_cpm, p.zone_id
        )
        for p in wanted.placements
    ]
    return DecisionRequest(placements, ctx, explain)


def context(
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


def send_records(svc: Services, results: list[PlacementResult], ctx: RequestContext) -> None:
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
