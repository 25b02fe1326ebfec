"""Dynamic creatives beyond plain CRUD: feed imports and their reports, a feed's products, the
preview of a template with any combination and sample context, and performance per element
variant and per combination.

- `POST /v1/feeds/{feed_id}/import`: the body (CSV, or JSON by content type), or, with an
  empty body, the feed's `source`; answers the import report (good rows in, bad rows listed).
- `GET /v1/feeds/{feed_id}/products`, `GET /v1/feeds/{feed_id}/imports`.
- `POST /v1/templates/{template_id}/preview`: `elements` (slot -> variant id) fixes slots; the
  others are assembled for `context` (the names rules read) as a decision would; answers the
  chosen elements and the HTML, native and (for video templates) VAST renderings.
- `GET /v1/reports/elements`: impressions, clicks, CTR, conversions and spend per element
  variant and per combination, from the stream's hourly roll-ups.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from kairos.api.auth import Scope, require
from kairos.api.body import read_limited
from kairos.api.responses import json_response
from kairos.api.sessions import db_session
from kairos.api.state import services
from kairos.creative import assembly, html, jobs, native, vast
from kairos.creative.feeds import FeedError
from kairos.creative.links import Links
from kairos.creative.model import Feed, Template, Variant
from kairos.db import catalog, feeds
from kairos.db.models import Performance
from kairos.errors import KairosError

router = APIRouter(prefix="/v1", tags=["dynamic creatives"])
_READ = [Depends(require(Scope.READ))]
_WRITE = [Depends(require(Scope.WRITE))]
MAX_FEED_BYTES = 50 * 1024 * 1024


class Unprocessable(KairosError):
    """A feed, preview or selection that cannot be used as sent (422, saying why)."""

    status = 422


@router.post("/feeds/{feed_id}/import", dependencies=_WRITE, status_code=201)
async def import_feed(request: Request, feed_id: str = Path()) -> Response:
    data = await read_limited(request, MAX_FEED_BYTES)
    kind = request.headers.get("content-type", "")
    fmt = "json" if "json" in kind else "csv" if "csv" in kind else None
    report = await _run(request, lambda s: import_into(s, feed_id, data or None, fmt))
    return json_response(report, status_code=201)


def import_into(
    session: Session, feed_id: str, data: bytes | None, fmt: str | None = None
) -> dict[str, Any]:
    try:
        return jobs.import_feed(session, feed_id, data, fmt)
    except FeedError as exc:
        raise Unprocessable(str(exc)) from exc


@router.get("/feeds/{feed_id}/products", dependencies=_READ)
def list_products(
    feed_id: str = Path(),
    limit: int = Query(100, ge=1, le=500),
    after: str | None = Query(None, description="The last product id of the previous page"),
    session: Session = Depends(db_session),
) -> Response:
    catalog.get(session, Feed, feed_id)
    found = feeds.products_page(session, feed_id, limit=limit, after=after)
    items = [
        {
            "id": p.id,
            "title": p.title,
            "price": p.price,
            "landing_url": p.landing_url,
            "image_url": p.image_url,
            "category": p.category,
            "available": p.available,
            "attributes": p.attributes,
        }
        for p in found
    ]
    return json_response({"items": items, "next": found[-1].id if len(found) == limit else None})


@router.get("/feeds/{feed_id}/imports", dependencies=_READ)
def list_imports(feed_id: str = Path(), session: Session = Depends(db_session)) -> Response:
    catalog.get(session, Feed, feed_id)
    return json_response({"items": feeds.imports(session, feed_id)})


class PreviewIn(BaseModel):
    elements: dict[str, str] = Field(default_factory=dict, description="slot -> variant id")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Names rules read: interest.eco, searches, segment, …"
    )
    seed: int = 0


@router.post("/templates/{template_id}/preview", dependencies=_READ)
def preview(
    body: PreviewIn, template_id: str = Path(), session: Session = Depends(db_session)
) -> Response:
    template = catalog.get(session, Template, template_id).item
    owner = {"advertiser_id": template.advertiser_id}
    stored = catalog.page(session, Variant, limit=10_000, where=owner)
    variants: dict[str, list[Variant]] = {}
    for record in stored:
        variant = record.item
        wanted = body.elements.get(variant.slot)
        if wanted is None or wanted == variant.id:
            variants.setdefault(variant.slot, []).append(variant)
    unknown = {
        slot: wanted
        for slot, wanted in body.elements.items()
        if wanted not in {v.id for v in variants.get(slot, [])}
    }
    if unknown:
        raise Unprocessable(f"no such variant for slot(s): {unknown}")
    products = feeds.available_products(session, [template.feed_id] if template.feed_id else [])
    rng = random.Random(body.seed)
    found = assembly.assemble(template, variants, products, body.context)
    if found is None:
        raise Unprocessable("no product matches the template's filter in this context")
    chosen, _ = assembly.choose(found, rng)
    links = Links(
        click="https://preview.invalid/click",
        impression="https://preview.invalid/impression",
        viewable="https://preview.invalid/viewable",
        event="https://preview.invalid/event?n={name}",
    )
    candidates = min(found.size, template.max_combinations)
    out: dict[str, Any] = {"elements": chosen.elements, "candidates": candidates}
    if template.html is not None:
        out["html"] = html.render(template, chosen, links)
    if template.native:
        out["native"] = native.render(template, chosen, links)
    if template.video is not None:
        info = vast.AdInfo("preview", "preview", "preview", template.name)
        out["vast"] = vast.render(template, chosen, links, info)
    return json_response(out)


@router.get("/reports/elements", dependencies=_READ, tags=["reports"])
def element_report(
    creative_id: str | None = Query(None),
    campaign_id: str | None = Query(None),
    advertiser_id: str | None = Query(None),
    hours: int = Query(24 * 7, ge=1, le=24 * 400, description="Over the last so many hours"),
    session: Session = Depends(db_session),
) -> Response:
    since = datetime.now(UTC) - timedelta(hours=hours)
    where = [Performance.grain == "hour", Performance.bucket >= since]
    for column, value in (
        (Performance.creative_id, creative_id),
        (Performance.campaign_id, campaign_id),
        (Performance.advertiser_id, advertiser_id),
    ):
        if value is not None:
            where.append(column == value)
    metrics = ("impressions", "clicks", "conversions", "spend")
    sums = [func.sum(getattr(Performance, m)) for m in metrics]
    per_variant = session.execute(
        select(Performance.slot, Performance.variant, *sums)
        .where(*where, Performance.slot != "")
        .group_by(Performance.slot, Performance.variant)
        .order_by(Performance.slot, Performance.variant)
    )
    per_combination = session.execute(
        select(Performance.combination, *sums)
        .where(*where, Performance.slot == "", Performance.combination != "")
        .group_by(Performance.combination)
        .order_by(Performance.combination)
    )
    return json_response(
        {
            "since": since.isoformat(),
            "elements": [
                {"slot": slot, "variant": variant, **_rates(*counts)}
                for slot, variant, *counts in per_variant
            ],
            "combinations": [
                {"combination": name, **_rates(*counts)} for name, *counts in per_combination
            ],
        }
    )


def _rates(impressions: Any, clicks: Any, conversions: Any, spend: Any) -> dict[str, Any]:
    shown, clicked = int(impressions or 0), int(clicks or 0)
    return {
        "impressions": shown,
        "clicks": clicked,
        "ctr": round(clicked / shown, 6) if shown else None,
        "conversions": int(conversions or 0),
        "spend": round(float(spend or 0.0), 6),
    }


async def _run(request: Request, work: Any) -> Any:
    """Blocking database work off the event loop, in its own session."""
    engine = services(request).engine

    def call() -> Any:
        with Session(engine) as session:
            return work(session)

    return await asyncio.to_thread(call)
