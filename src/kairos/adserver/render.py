"""From a decision to what the page gets (the ad, its contents, signed tracking URLs) and to
what is logged (one `Decision` record per choice and per no-fill). Pure."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from kairos.adserver import dynamic, prerender, tracking
from kairos.adserver.catalog import Candidate
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import Choice, PlacementResult
from kairos.adserver.model import RateType
from kairos.adserver.tracking import Kind, Signer
from kairos.creative.html import escaped_url
from kairos.domain.decisions import NO_IDS, DecisionRecord
from kairos.memo import ByIdentity, Memo

if TYPE_CHECKING:
    from kairos_native import Writer


@dataclass(frozen=True)
class Links:
    base_url: str  # the server's public URL, e.g. "https://ads.example"
    signer: Signer
    ttl_s: float = 7 * 24 * 3600  # how long tracking URLs count


def placement_json(
    result: PlacementResult, ctx: RequestContext, links: Links, explain: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "placement": result.request.key,
        "placement_id": result.info.placement.id if result.info else None,
        "ads": [ad_answer(choice, result, ctx, links) for choice in result.choices],
        "no_fill": result.no_fill,
    }
    if explain:
        body["explain"] = {
            "considered": result.considered,
            "dropped": [
                {"ad_id": d.ad_id, "step": d.step, "reason": d.reason} for d in result.dropped
            ],
        }
    return body


def ad_answer(
    choice: Choice, result: PlacementResult, ctx: RequestContext, links: Links
) -> orjson.Fragment | dict[str, Any]:
    """The ad's part of the answer (`ad_json`): its page for this candidate and combination,
    written once as JSON, with this decision's values put in (`prerender`); made in full when
    its contents do more with a URL than write it out, or when the decision id is not letters
    and digits (as `decision.DecisionIds` makes them), which every format writes as they are."""
    page = prerender.page(choice, links, _body) if choice.decision_id.isalnum() else None
    if page is None:
        return ad_json(choice, result, ctx, links)
    fields = tail_fields(choice, result, ctx, links)
    ecpm = round(choice.won.bid.ecpm, 6)
    writer = links.signer.native
    if writer is not None:  # compiled: the same bytes
        page_json = writer.page(page.pieces, page.slots, *fields, ecpm, choice.propensity)
        return orjson.Fragment(page_json)
    tail = links.signer.signed(*fields).tail
    return orjson.Fragment(page.filled(tail, choice.decision_id, ecpm, choice.propensity))


def ad_json(
    choice: Choice, result: PlacementResult, ctx: RequestContext, links: Links
) -> dict[str, Any]:
    """The chosen ad as the answer shows it: ids, contents, signed tracking URLs, eCPM and
    propensity (and a dynamic creative's elements)."""
    tail = sign(choice, result, ctx, links).tail
    ecpm = round(choice.won.bid.ecpm, 6)
    return _body(choice, links, tail, choice.decision_id, ecpm, choice.propensity)


def _body(
    choice: Choice, links: Links, tail: str, decision_id: str, ecpm: Any, propensity: Any
) -> dict[str, Any]:
    """`ad_json` of a choice whose URLs end with `tail` (one query and signature for all)."""
    c = choice.candidate
    ids, fixed = _fixed(c)
    urls = tracking.urls_of(links.base_url, tail)
    contents = dict(fixed)
    if choice.combination is None:
        if html := creative_html(choice, urls["click"]):
            contents["html"] = html
    else:
        click = urls["click"]
        made = dynamic.contents(
            choice,
            decision_id,
            urls,
            lambda landing: tracking.landing_click(click, links.signer, c.ad.id, landing),
        )
        contents |= {k: v for k, v in made.items() if v}
    body = {
        "decision_id": decision_id,
        **ids,
        "contents": contents,
        "tracking": urls,
        "ecpm": ecpm,
        "propensity": propensity,
    }
    if choice.combination is not None:
        body["elements"] = choice.combination.elements
    return body


def _made_fixed(c: Candidate) -> tuple[dict[str, Any], dict[str, Any]]:
    creative = c.creative
    ids = {
        "ad_id": c.ad.id,
        "creative_id": creative.id,
        "flight_id": c.flight.id,
        "campaign_id": c.campaign.id,
        "advertiser_id": c.advertiser.id,
        "ad_type": creative.ad_type,
        "width": creative.width,
        "height": creative.height,
    }
    given = {
        "title": creative.title,
        "body": creative.body,
        "cta": creative.cta,
        "image_url": creative.image_url,
        "fields": creative.fields,
    }
    return ids, {k: v for k, v in given.items() if v}


# a candidate's ids and its creative's own contents (those given) as an answer shows them:
# the same in every decision, so made once per candidate (catalog object)
_fixed = ByIdentity(_made_fixed, 65_536)


def forget_catalog() -> None:
    """Forget what is remembered per candidate (its ids, contents and pages): called when a
    server replaces its catalog, so that the old one's candidates go at once rather than when
    the memories fill up."""
    _fixed.clear()
    prerender.forget()


def sign(
    choice: Choice, result: PlacementResult, ctx: RequestContext, links: Links
) -> tracking.Signed:
    """The fields every tracking URL of a choice carries, signed once for all of them."""
    return links.signer.signed(*tail_fields(choice, result, ctx, links))


def tail_fields(
    choice: Choice, result: PlacementResult, ctx: RequestContext, links: Links
) -> tracking.TailFields:
    """A choice's tracking fields: the decision (d), ad (a), elements (el), consent (g), user
    (k), the cost of the event the flight pays for (mc or mi), the placement (p), the landing
    page (u) and the expiry (x)."""
    c = choice.candidate
    combination = choice.combination  # impressions and clicks say what was shown
    elements = _ELEMENTS[combination.identity] if combination is not None else None
    charged = _CHARGED.get(c.flight.rate_type, "")  # mc or mi: the event the flight pays for
    cost = str(choice.won.cost) if charged and choice.won.cost else ""
    return (
        c.ad.id,
        choice.decision_id,
        elements,
        ctx.personalization,
        ctx.user_key or "",
        charged if cost else "",
        cost,
        result.info.placement.id if result.info else "",
        c.creative.click_url,
        int(ctx.timestamp() + links.ttl_s),
    )


_CHARGED = {RateType.CPM: tracking.COST[Kind.IMPRESSION], RateType.CPC: tracking.COST[Kind.CLICK]}


# a combination's elements (`Combination.identity`) as tracking URLs carry them
_ELEMENTS: Memo[tuple[tuple[str, str], ...], str] = Memo(
    lambda identity: tracking.encode_elements(dict(identity)), 16_384
)


def creative_html(choice: Choice, click_url: str) -> str | None:
    """Advertiser HTML as given (the tag renders it in a sandboxed frame); an image creative
    as an escaped link to the signed click URL."""
    creative = choice.candidate.creative
    link = escaped_url(click_url)
    if creative.html:
        return creative.html.replace("{{click_url}}", link)
    if creative.image_url:
        title = creative.title or creative.name
        before, after = _image_link(creative.image_url, creative.width, creative.height, title)
        return f"{before}{link}{after}"
    return None


@lru_cache(maxsize=16_384)  # per creative: only the click URL changes between decisions
def _image_link(image_url: str, width: int | None, height: int | None, alt: str) -> tuple[str, str]:
    size = f' width="{width}" height="{height}"' if width and height else ""
    image = html.escape(image_url, quote=True)
    return '<a href="', (
        f'" rel="nofollow noopener" target="_blank"><img src="{image}"{size} '
        f'alt="{html.escape(alt, quote=True)}"></a>'
    )


def decision_records(result: PlacementResult, ctx: RequestContext) -> list[DecisionRecord]:
    """What the decisions topic gets: each choice, or the no-fill (for fill rate)."""
    placement_id = result.info.placement.id if result.info else result.request.key
    if not result.choices:
        return [
            DecisionRecord(
                decision_id=f"nofill-{ctx.timestamp():.6f}-{placement_id}",
                ts=ctx.now,
                user_key=ctx.user_key,
                placement_id=placement_id,
                candidates=result.considered,
                eligible=_ids_json(result.eligible),
                no_fill=True,
            )
        ]
    return [
        DecisionRecord(
            decision_id=choice.decision_id,
            ts=ctx.now,
            user_key=ctx.user_key,
            placement_id=placement_id,
            advertiser_id=choice.candidate.advertiser.id,
            campaign_id=choice.candidate.campaign.id,
            flight_id=choice.candidate.flight.id,
            ad_id=choice.candidate.ad.id,
            creative_id=choice.candidate.creative.id,
            score=choice.won.bid.ecpm,
            propensity=choice.propensity,
            combination_propensity=choice.combination_share if choice.combination else None,
            options=[o.key for o in choice.options],
            elements=dict(choice.combination.elements) if choice.combination else {},
            model_version=choice.won.bid.prediction.model_version,
            features=dict(ctx.features) if ctx.personalization else {},
            candidates=result.considered,
            eligible=_ids_json(result.eligible),
        )
        for choice in result.choices
    ]


@dataclass(slots=True, init=False)  # made per request: see `context.RequestContext`
class Shared:
    """What every decision record of a request holds alike, as JSON: its time, and the
    features the decision used (b"": none)."""

    ts: bytes
    features: bytes

    def __init__(self, ts: bytes, features: bytes) -> None:
        self.ts = ts
        self.features = features

    @classmethod
    def of(cls, ctx: RequestContext) -> Shared:
        used = ctx.features if ctx.personalization else None
        return cls(_JSON.encode(ctx.now), _JSON.encode(used) if used else b"")


def logged(
    result: PlacementResult, ctx: RequestContext, shared: Shared, writer: Writer | None
) -> list[tuple[bytes, bytes]]:
    """The placement's decision records as the decisions topic gets them: key (the user's,
    else the decision's) and JSON. The compiled writer writes a choice's as msgspec writes
    its `DecisionRecord` (the same fields, left out at their defaults)."""
    if writer is None or not result.choices:
        return [
            ((r.user_key or r.decision_id).encode(), _JSON.encode(r))
            for r in decision_records(result, ctx)
        ]
    placement_id = result.info.placement.id if result.info else result.request.key
    user, considered, eligible = ctx.user_key, result.considered, _ids_bytes(result.eligible)
    made = []
    for choice in result.choices:
        c, bid, combination = choice.candidate, choice.won.bid, choice.combination
        value = writer.record(
            choice.decision_id,
            shared.ts,
            user,
            placement_id,
            c.advertiser.id,
            c.campaign.id,
            c.flight.id,
            c.ad.id,
            c.creative.id,
            b"" if combination is None else _ELEMENTS_JSON[combination.identity],
            bid.ecpm,
            choice.propensity,
            None if combination is None else choice.combination_share,
            _JSON.encode([o.key for o in choice.options]) if choice.options else b"",
            bid.prediction.model_version,
            shared.features,
            considered,
            eligible,
        )
        made.append(((user or choice.decision_id).encode(), value))
    return made


def _encoded_ids(ids: tuple[str, ...]) -> msgspec.Raw:
    return msgspec.Raw(_ids_bytes(ids)) if ids else NO_IDS


_JSON = msgspec.json.Encoder()
# the ids a pool logs are one tuple for all of its decisions: encoded once
_ids_bytes: ByIdentity[tuple[str, ...], bytes] = ByIdentity(
    lambda ids: _JSON.encode(ids) if ids else b"[]", 4096
)
_ids_json = ByIdentity(_encoded_ids, 4096)  # the same, as a record's `Raw`
# a combination's elements (`Combination.identity`) as its records hold them (b"": none)
_ELEMENTS_JSON: Memo[tuple[tuple[str, str], ...], bytes] = Memo(
    lambda identity: _JSON.encode(dict(identity)) if identity else b"", 16_384
)
