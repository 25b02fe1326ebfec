"""A dynamic creative's contents in a decision's response: its chosen combination rendered as
HTML, native fields and (for video) VAST, pointing at the decision's signed tracking URLs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from kairos.creative import html, native, vast
from kairos.creative.links import Links
from kairos.creative.model import Product
from kairos.logs import kv

if TYPE_CHECKING:
    from kairos.adserver.decision import Choice

log = logging.getLogger(__name__)
SECONDS = Counter(
    "kairos_creative_seconds",
    "Time spent assembling and rendering dynamic creatives in decisions",
    ["step"],
)
ASSEMBLY, RENDERING = SECONDS.labels("assembly"), SECONDS.labels("rendering")


def contents(
    choice: Choice, decision_id: str, urls: dict[str, str], product_click: Callable[[str], str]
) -> dict[str, Any]:
    template, combination = choice.template, choice.combination
    if template is None or combination is None:
        return {}
    signed: dict[str, str] = {}  # each product's click URL signed once for every renderer

    def click_of(product: Product) -> str:
        url = signed.get(product.landing_url)
        if url is None:
            url = signed[product.landing_url] = product_click(product.landing_url)
        return url

    links = Links(
        click=urls["click"],
        impression=urls["impression"],
        viewable=urls["viewable"],
        event=urls["event"],
        product_click=click_of,
    )
    out: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        if template.html is not None:
            out["html"] = html.render_memo(template, combination, links)
        if template.native:
            out["native"] = native.render(template, combination, links)["fields"]
        if template.video is not None and choice.candidate.creative.ad_type == "video":
            ad = vast.AdInfo(
                decision_id=decision_id,
                ad_id=choice.candidate.ad.id,
                creative_id=choice.candidate.creative.id,
                title=choice.candidate.creative.name,
                advertiser=choice.candidate.advertiser.name,
            )
            out["vast"] = vast.render(template, combination, links, ad)
    except (html.RenderError, vast.VastError) as exc:  # checked on save; a feed may still break it
        log.warning("dynamic creative not rendered", extra=kv(template=template.id, error=str(exc)))
    RENDERING.inc(time.perf_counter() - started)
    return out
