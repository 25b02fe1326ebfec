"""Tracking endpoints: `/v1/t/i` impression pixel, `/v1/t/v` viewable beacon, `/v1/t/c` click
redirect, `/v1/t/e` custom event.

Each URL is signed (see `kairos.adserver.tracking`). A valid one becomes an event on its topic,
with an id derived from the decision, so it counts once however often it is fetched; a
replay within this process is not even produced again. The visitor never waits for Kafka: the
event is enqueued on the producer of logs and the answer goes at once; an event Kafka does
not take is spooled (`kafka.spool`) and sent again later. Forged or expired URLs count nothing
but never break the visitor's page or click: pixels still answer, clicks still redirect (to
the URL the signature vouches for, or for a forged one to the ad's landing page from the
catalog).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import Counter
from starlette.responses import RedirectResponse, Response

from kairos.adserver import tracking
from kairos.adserver.tracking import Kind, Verdict
from kairos.api.state import Services, services
from kairos.domain import codec
from kairos.domain.events import Click, Consent, Custom, Impression
from kairos.domain.identity import truncate_ip
from kairos.kafka.sink import Message
from kairos.logs import kv

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/t", tags=["tracking"])
TRACKED = Counter(
    "kairos_tracking_total", "Tracking hits, by kind and outcome", ["kind", "outcome"]
)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, max-age=0"}
_EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # a custom event name the page chose


class Replays:
    """Recently counted (kind, decision) pairs: a bounded LRU per process."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


@router.get("/i", include_in_schema=True, summary="Impression pixel")
async def impression(request: Request) -> Response:
    _track(request, Kind.IMPRESSION)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/v", summary="Viewable-impression beacon")
async def viewable(request: Request) -> Response:
    _track(request, Kind.VIEWABLE)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/e", summary="Custom event of a decision (`n` names it)")
async def custom(request: Request) -> Response:
    _track(request, Kind.EVENT)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/c", summary="Click: counts, then redirects to the landing page")
async def click(request: Request) -> Response:
    verdict, fields = _track(request, Kind.CLICK)
    if verdict is Verdict.FORGED:
        target = _landing(request, fields)
    else:  # the ad's landing page, or the product's the click names (expired ones still land)
        target = tracking.landing(services(request).links.signer, fields) or fields.get("u", "")
    if not target.startswith(("http://", "https://")):
        return Response("unknown ad", status_code=404, headers=_NO_STORE)
    return RedirectResponse(target, status_code=302, headers=_NO_STORE)


def _track(request: Request, kind: Kind) -> tuple[Verdict, dict[str, str]]:
    svc = services(request)
    fields = dict(request.query_params)
    now = time.time()
    signer = svc.links.signer
    verdict = signer.verify(fields, now)
    if kind is Kind.EVENT and not _EVENT_NAME.fullmatch(fields.get(tracking.NAME, "")):
        TRACKED.labels(kind.value, "bad_name").inc()  # e.g. "{name}" left unreplaced
        return Verdict.FORGED, fields
    if verdict is Verdict.OK and not tracking.of_kind(kind, fields):
        verdict = Verdict.FORGED  # a previous release's URL of another event
    if verdict is Verdict.OK and kind is Kind.CLICK and tracking.landing(signer, fields) is None:
        verdict = Verdict.FORGED  # the product's page was changed
    if verdict is not Verdict.OK:
        TRACKED.labels(kind.value, verdict.value).inc()
        log.info("tracking refused", extra=kv(kind=kind.value, verdict=verdict.value))
        return verdict, fields
    name = fields.get("n", "")
    if not svc.replays.first(f"{kind.value}:{fields['d']}:{name}"):
        TRACKED.labels(kind.value, "replayed").inc()
        return verdict, fields
    event = _event(svc, kind, fields, request)
    topic = svc.topics.events(event.event_type)
    message = Message(topic, codec.key_of(event), codec.encode(event))
    if svc.logs.send_nowait([message], svc.spool.failed) == 0:  # spooled: sent once it can
        TRACKED.labels(kind.value, "spooled").inc()
        return verdict, fields
    TRACKED.labels(kind.value, "counted").inc()
    return verdict, fields


def _event(
    svc: Services, kind: Kind, fields: dict[str, str], request: Request
) -> Impression | Click | Custom:
    now = datetime.now(UTC)
    decision_id, ad_id = fields["d"], fields.get("a", "")
    candidate = svc.adserver.engine.catalog.ads.get(ad_id)
    common: dict[str, Any] = {
        "event_id": tracking.event_id(kind, decision_id, fields.get("n", "")),
        # anonymous visitors are keyed by the decision: their events still count
        "user_key": fields.get("k") or decision_id,
        "ts": now,
        "received_at": now,
        "user_agent": request.headers.get("user-agent"),
        "ip": truncate_ip(request.client.host if request.client else None),
        "referrer": request.headers.get("referer"),
        "consent": Consent(personalization=fields.get("g") == "1"),
    }
    if kind is Kind.EVENT:
        return Custom(
            name=fields.get("n") or "event", properties={"decision_id": decision_id}, **common
        )
    ad: dict[str, Any] = {
        "decision_id": decision_id,
        "ad_id": ad_id or None,
        "placement_id": fields.get("p") or None,
        "advertiser_id": candidate.advertiser.id if candidate else None,
        "campaign_id": candidate.campaign.id if candidate else None,
        "flight_id": candidate.flight.id if candidate else None,
        "creative_id": candidate.creative.id if candidate else None,
        "elements": tracking.decode_elements(fields.get("el", "")),
        "cost": tracking.cost(kind, fields),
    }
    if kind is Kind.CLICK:
        return Click(**common, **ad)
    return Impression(viewable=kind is Kind.VIEWABLE, **common, **ad)


def _landing(request: Request, fields: dict[str, str]) -> str:
    candidate = services(request).adserver.engine.catalog.ads.get(fields.get("a", ""))
    return candidate.creative.click_url if candidate is not None else ""
