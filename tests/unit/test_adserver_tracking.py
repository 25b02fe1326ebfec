"""A choice's signed tracking URLs: one query signed for every kind of event, with the cost
its flight pays for, any value carried and verified, product pages signed for their ad only,
and expired or altered URLs refused."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlsplit

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver import render, tracking
from kairos.adserver.decision import Choice, DecisionRequest, PlacementRequest
from kairos.adserver.model import RateType
from kairos.creative.assembly import Combination
from tests.unit.test_adserver_engine import NOW, USER, build, context, engine, flight


def test_tracking_urls_are_signed_and_checked() -> None:
    signer = tracking.Signer(b"k" * 32)
    fields = {"d": "dec1", "a": "ad1", "p": "p1", "k": USER, "x": str(NOW.timestamp() + 60)}
    link = tracking.sign(signer, fields).url("http://127.0.0.1:8000", tracking.Kind.CLICK)
    assert link.startswith("http://127.0.0.1:8000/v1/t/c?")
    signed = signer.sign(fields)
    assert dict(parse_qsl(urlsplit(link).query)) == signed
    assert signer.verify(signed, NOW.timestamp()) is tracking.Verdict.OK
    assert signer.verify(signed | {"a": "ad2"}, NOW.timestamp()) is tracking.Verdict.FORGED
    assert signer.verify(signed, NOW.timestamp() + 61) is tracking.Verdict.EXPIRED
    assert tracking.decode_elements(tracking.encode_elements({"h": "h1", "c": "c2"})) == {
        "c": "c2",
        "h": "h1",
    }


def _query(link: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_tracking_urls_carry_any_value_and_verify(ad_id: str, landing: str, product: str) -> None:
    signer = tracking.Signer(b"k" * 32)
    fields = {"d": "dec-1.a_b~c", "a": ad_id, "k": USER, "u": landing, "mc": "0.5"}
    signed = tracking.sign(signer, fields | {"x": str(NOW.timestamp() + 60)})
    for kind in tracking.Kind:
        got = _query(signed.url("http://h", kind))
        assert (got["a"], got["u"], got["mc"]) == (ad_id, landing, "0.5")
        assert signer.verify(got, NOW.timestamp()) is tracking.Verdict.OK
        assert tracking.landing(signer, got) == landing
    assert signed.urls("http://h") == {k: signed.url("http://h", k) for k in tracking.Kind}
    click = signed.url("http://h", tracking.Kind.CLICK)
    to_product_url = signed.landing_url("http://h", signer, ad_id, product)
    assert tracking.landing_click(click, signer, ad_id, product) == to_product_url
    to_product = _query(to_product_url)
    assert signer.verify(to_product, NOW.timestamp()) is tracking.Verdict.OK
    assert tracking.landing(signer, to_product) == product
    other = to_product | {"l": product + "x"}  # a product's page cannot be changed
    assert signer.verify(other, NOW.timestamp()) is tracking.Verdict.OK
    assert tracking.landing(signer, other) is None


def test_a_product_page_is_signed_for_its_ad_only() -> None:
    signer = tracking.Signer(b"k" * 32)
    expires = str(NOW.timestamp() + 60)
    mine = tracking.sign(
        signer, {"d": "d1", "a": "ad-1", "k": USER, "u": "https://a", "x": expires}
    )
    theirs = tracking.sign(
        signer, {"d": "d2", "a": "ad-2", "k": USER, "u": "https://b", "x": expires}
    )
    page = "https://shop.example/p1"
    to_page = _query(mine.landing_url("http://h", signer, "ad-1", page))
    assert tracking.landing(signer, to_page) == page
    # the same page signed for another ad does not carry over, nor the other way round
    borrowed = _query(theirs.url("http://h", tracking.Kind.CLICK)) | {
        "l": page,
        "ls": to_page["ls"],
    }
    assert signer.verify(borrowed, NOW.timestamp()) is tracking.Verdict.OK
    assert tracking.landing(signer, borrowed) is None
    # ad ids and pages cannot be re-cut into one another ("ad-1" + "x/…" is not "ad-1x" + "/…")
    moved = _query(mine.landing_url("http://h", signer, "ad-1x", "/p"))
    assert tracking.landing(signer, to_page | {"l": "x/p", "ls": moved["ls"]}) is None
    # the previous release's product clicks (chained to the choice's signature) still land
    chained = signer.sign_canonical(f"{mine.signature}\n{page}")
    legacy = _query(mine.url("http://h", tracking.Kind.CLICK)) | {"l": page, "ls": chained}
    assert tracking.landing(signer, legacy) == page


def test_each_choice_signs_the_cost_of_the_event_its_flight_pays_for() -> None:
    signer = tracking.Signer(b"k" * 32)
    links = render.Links("http://h", signer)
    cat = build([flight("cpc", rate_type=RateType.CPC, price=0.5), flight("cpm", price=1.0)])
    results = engine(cat).decide(
        DecisionRequest([PlacementRequest("p1", count=2)], context()), None
    )
    (result,) = results
    costs = {}
    for choice in result.choices:
        signed = render.sign(choice, result, context(), links)
        urls = signed.tracking_urls(links.base_url)
        assert len({u.split("?", 1)[1] for u in urls.values()}) == 2  # one query (+ n= for events)
        query = _query(urls["impression"])
        assert signer.verify(query, NOW.timestamp()) is tracking.Verdict.OK
        fields = {k: v for k, v in query.items() if k != tracking.SIGNATURE}
        assert signed == tracking.sign(signer, fields)  # made in canonical order
        costs[choice.candidate.flight.id] = {k: v for k, v in query.items() if k in {"mi", "mc"}}
    assert set(costs["cpc"]) == {"mc"}  # clicks are charged
    assert set(costs["cpm"]) == {"mi"}  # impressions are charged


@settings(max_examples=80, deadline=None)
@given(
    st.text(max_size=20),  # ad id
    st.text(max_size=20),  # placement id
    st.text(max_size=30),  # the creative's landing page ("": none)
    st.one_of(st.none(), st.text(max_size=20)),  # the user's key
    st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)),
    st.sampled_from([0.0, 0.25, 1e-07, 1e20]),  # the charged cost (str: "1e+20")
    st.sampled_from([RateType.CPM, RateType.CPC, RateType.CPA]),
)
def test_a_choice_is_signed_as_tracking_signs_its_fields(
    ad_id: str,
    placement_id: str,
    landing: str,
    user: str | None,
    elements: dict[str, str] | None,
    cost: float,
    rate_type: RateType,
) -> None:
    signer = tracking.Signer(b"k" * 32)
    links = render.Links("http://h", signer)
    cat = build([flight("f", rate_type=rate_type)])
    (result,) = engine(cat).decide(DecisionRequest([PlacementRequest("p1")], context()), None)
    (choice,) = result.choices
    c = choice.candidate
    creative = msgspec.structs.replace(c.creative, click_url=landing)
    combination = None if elements is None else Combination(elements, {}, 1.0, 0)
    choice = Choice(
        choice.decision_id,
        dataclasses.replace(c, ad=msgspec.structs.replace(c.ad, id=ad_id), creative=creative),
        dataclasses.replace(choice.won, cost=cost),
        combination,
    )
    assert result.info is not None
    info = dataclasses.replace(
        result.info, placement=msgspec.structs.replace(result.info.placement, id=placement_id)
    )
    ctx = context(user_key=user, personalization=user is not None)
    fields = {
        "a": ad_id,
        "d": choice.decision_id,
        "g": "1" if user is not None else "0",
        "k": user or "",
        "p": placement_id,
        "u": landing or "",
        "x": str(int(NOW.timestamp() + links.ttl_s)),
    }
    if elements is not None:
        fields["el"] = tracking.encode_elements(elements)
    if cost and rate_type is not RateType.CPA:
        fields["mi" if rate_type is RateType.CPM else "mc"] = str(cost)
    result = dataclasses.replace(result, info=info)
    signed = render.sign(choice, result, ctx, links)
    assert signed == tracking.sign(signer, fields)
    query = _query(signed.tracking_urls("http://h")["click"])
    assert {k: v for k, v in query.items() if k != tracking.SIGNATURE} == fields
    assert signer.verify(query, NOW.timestamp()) is tracking.Verdict.OK


def test_expired_tracking_urls_do_not_count() -> None:
    signer = tracking.Signer(b"k" * 32)
    fields = {"d": "dec1", "a": "ad1", "x": str(NOW.timestamp() - 1)}
    assert signer.verify(signer.sign(fields), NOW.timestamp()) is tracking.Verdict.EXPIRED
    assert signer.verify(fields | {"s": "garbage"}, NOW.timestamp()) is tracking.Verdict.FORGED
