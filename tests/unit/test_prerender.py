"""An ad's answer written once per candidate and combination (`adserver.prerender`): the same
JSON as written in full, for any decision's values, and written in full when contents do more
with a URL than write it out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver import catalog as catalogs
from kairos.adserver import prerender, render, tracking
from kairos.adserver.auction import Bid, Won
from kairos.adserver.catalog import Catalog
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import Choice, DecisionRequest, PlacementRequest, PlacementResult
from kairos.adserver.engine import Engine
from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    Creative,
    Flight,
    Placement,
    RateType,
    Site,
    Zone,
)
from kairos.adserver.scoring import HistoricalCtrScorer
from kairos.creative.model import Product, Slot, SlotKind, Template, Video

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
LINKS = render.Links("https://ads.example", tracking.Signer(b"k" * 32))
# the same answers written without the compiled path (`adserver.native`)
PYTHON_LINKS = render.Links("https://ads.example", tracking.Signer(b"k" * 32, compiled=False))

# a body that writes its URLs out (one escaped in an attribute, one in text), and products
WHOLE = (
    '<a href="{{ click_url }}">{{ headline }}</a><p>{{ click_url }}</p>'
    '{% for p in deals %}<a href="{{ p.click_url }}">{{ p.title }}</a>{% endfor %}'
)
# bodies that do more with a URL than write it: its length, a change of case, a cut of
# long ones only (as long as the real ones, longer than the marks of `prerender`)
LENGTH = '<a href="{{ click_url }}">{{ click_url | length }}</a>'
UPPER = '<a href="{{ click_url | upper }}">{{ headline }}</a>'
CUT = '<a href="{{ click_url[:-1] if click_url | length > 120 else click_url }}">Go</a>'


def template(tid: str, body: str | None, video: bool = False) -> Template:
    slots = [
        Slot(name="headline", kind=SlotKind.TEXT, default="Go <now> & save"),
        Slot(name="deals", kind=SlotKind.PRODUCTS, count=2),
    ]
    if video:
        slots.append(Slot(name="clip", kind=SlotKind.URL, default="https://cdn.example/v.mp4"))
    return Template(
        id=tid,
        advertiser_id="adv",
        name=tid,
        slots=slots,
        html=body,
        native={"title": "headline", "deals": "deals"},
        video=Video(duration_s=15, media_url_slot="clip") if video else None,
        feed_id="fd",
    )


def catalog() -> Catalog:
    flights, creatives, ads = [], [], []
    kinds: dict[str, dict[str, Any]] = {
        "image": {"image_url": "https://cdn.example/a.png", "title": 'A "title"'},
        "html": {"html": '<a href="{{click_url}}">Go</a> {{click_url}}'},
        "whole": {"template_id": "t-whole"},
        "length": {"template_id": "t-length"},
        "upper": {"template_id": "t-upper"},
        "cut": {"template_id": "t-cut"},
        "video": {"template_id": "t-video", "ad_type": "video"},
    }
    for n, (name, creative) in enumerate(kinds.items()):
        rate = RateType.CPC if n % 2 else RateType.CPM
        flights.append(
            Flight(
                id=f"f-{name}",
                campaign_id="c1",
                name=name,
                start=NOW - timedelta(days=1),
                price=1.0 + n,
                rate_type=rate,
            )
        )
        creatives.append(
            Creative(
                id=f"cr-{name}",
                advertiser_id="adv",
                name=name,
                click_url=f"https://shop.example/{name}?a=1&b=<2>",
                **creative,
            )
        )
        ads.append(Ad(id=f"ad-{name} é", flight_id=f"f-{name}", creative_id=f"cr-{name}"))
    products = [
        Product(
            id=f"p{n}",
            feed_id="fd",
            title=f"Deal {n} & more",
            price=10.0 + n,
            landing_url=f"https://shop.example/p/{n}?x=1&y=2",
        )
        for n in range(3)
    ]
    return catalogs.build(
        version="t",
        advertisers=[Advertiser(id="adv", name="Adv & Co")],
        campaigns=[Campaign(id="c1", advertiser_id="adv", name="C1")],
        flights=flights,
        creatives=creatives,
        ads=ads,
        sites=[Site(id="s1", name="Shop", domain="shop.example")],
        zones=[Zone(id="z1", site_id="s1", name="home")],
        placements=[Placement(id="p1", zone_id="z1", name="top", ad_types=["display", "video"])],
        templates=[
            template("t-whole", WHOLE),
            template("t-length", LENGTH),
            template("t-upper", UPPER),
            template("t-cut", CUT),
            template("t-video", None, video=True),
        ],
        products=products,
    )


CATALOG = catalog()


def decided(user: str | None, seed: int) -> tuple[list[Choice], PlacementResult, RequestContext]:
    """Every ad of the catalog chosen once, for a visitor."""
    ctx = RequestContext(now=NOW, user_key=user, personalization=user is not None)
    engine = Engine(CATALOG, HistoricalCtrScorer({}), rng=random.Random(seed))
    request = DecisionRequest([PlacementRequest("p1", count=10)], ctx)
    (result,) = engine.decide(request, None)
    return result.choices, result, ctx


def as_json(answer: orjson.Fragment | dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(answer))


def fresh_links() -> render.Links:
    """Links of their own: pages are kept per links, so a test starts with none."""
    return render.Links("https://ads.example", LINKS.signer)


def made(choice: Choice, links: render.Links, body: prerender.Body) -> prerender.Page | None:
    """The page of a choice seen twice (the first decision writes it in full)."""
    prerender.page(choice, links, body)
    return prerender.page(choice, links, body)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=20)),  # the visitor's key
    st.integers(0, 2**16),  # the combinations drawn
    st.one_of(st.text(max_size=40), st.text("0123456789abcdef", min_size=1)),  # decision id
    st.floats(allow_nan=False, allow_infinity=False, width=64),  # the eCPM
    st.floats(min_value=0, max_value=1),  # the propensity
)
@pytest.mark.parametrize("links", [LINKS, PYTHON_LINKS], ids=["compiled", "python"])
def test_a_written_page_filled_in_is_the_answer_written_in_full(
    links: render.Links,
    user: str | None,
    seed: int,
    decision_id: str,
    ecpm: float,
    propensity: float,
) -> None:
    choices, result, ctx = decided(user, seed)
    assert {c.candidate.ad.id for c in choices} == {a.ad.id for a in CATALOG.ads.values()}
    for choice in choices:
        bid = choice.won.bid
        bid = Bid(bid.candidate, bid.prediction, ecpm)
        won = Won(bid, choice.won.clearing_ecpm, choice.won.cost, propensity, None)
        mine = Choice(decision_id, choice.candidate, won, choice.combination, choice.template)
        full = as_json(render.ad_json(mine, result, ctx, links))
        for _ in range(2):  # the first decision of an ad and combination, then its page
            assert as_json(render.ad_answer(mine, result, ctx, links)) == full


def test_a_page_is_written_once_per_ad_and_combination_unless_it_does_more_with_a_url() -> None:
    choices, result, ctx = decided("visitor", 1)
    kinds = {c.candidate.creative.name: c for c in choices}
    links = fresh_links()
    for name, choice in kinds.items():
        first = render.ad_answer(choice, result, ctx, links)
        assert isinstance(first, dict)  # seen once: written in full
        answer = render.ad_answer(choice, result, ctx, links)
        page = prerender.page(choice, links, render._body)
        if name in {"length", "upper", "cut"}:  # written in full, every time
            assert page is None
            assert isinstance(answer, dict)
        else:
            assert page is not None
            assert isinstance(answer, orjson.Fragment)
            assert prerender.page(choice, links, render._body) is page  # kept
    # the page of a dynamic ad's combination writes the tail escaped in its HTML and, for a
    # video, puts the decision id in its VAST
    whole = prerender.page(kinds["whole"], links, render._body)
    assert whole is not None
    assert whole.escapes
    assert 2 in whole.slots
    video = as_json(render.ad_answer(kinds["video"], result, ctx, links))
    assert f"<AdServingId>{kinds['video'].decision_id}</AdServingId>" in video["contents"]["vast"]
    # another catalog's candidate (the same ad, rebuilt): a page of its own
    other = catalog()
    choice = kinds["image"]
    again = Choice(choice.decision_id, other.ads[choice.candidate.ad.id], choice.won)
    assert made(again, links, render._body) is not prerender.page(choice, links, render._body)


def test_numbers_are_written_as_json_numbers() -> None:
    page = prerender.Page(("[", ",", "]"), bytes((3, 4)), False)
    assert orjson.loads(page.filled("t", "d", 1e-05, 0.5)) == [1e-05, 0.5]
    assert orjson.loads(page.filled("t", "d", float("nan"), float("inf"))) == [None, None]


def writing(write: Any, calls: list[str] | None = None) -> prerender.Body:
    """A body that writes the tail as `write` makes it (and counts its writings)."""

    def body(*args: Any) -> dict[str, Any]:
        _, _, tail, decision_id, ecpm, propensity = args
        if calls is not None:
            calls.append(tail)
        return {"t": write(tail), "d": decision_id, "e": ecpm, "p": propensity}

    return body


def image_choice() -> Choice:
    choices, _, _ = decided("visitor", 2)
    (image,) = [c for c in choices if c.candidate.creative.name == "image"]
    return image


def test_contents_that_do_more_with_a_value_than_write_it_are_written_in_full() -> None:
    image = image_choice()
    kept = made(image, fresh_links(), writing(str))
    assert kept is not None
    assert kept.slots == bytes((0, 2, 3, 4))
    for write in (len, str.upper, lambda t: t[:20], lambda t: t.replace("&", "%26")):
        assert made(image, fresh_links(), writing(write)) is None


def test_an_ad_seen_once_is_not_written_and_checks_stop_once_a_body_is_trusted() -> None:
    image = image_choice()
    calls: list[str] = []
    body = writing(str, calls)
    for _ in range(3):  # seen once each (links of their own): nothing written
        assert prerender.page(image, fresh_links(), body) is None
    assert calls == []
    writings = []
    for _ in range(prerender.CHECKS + 2):
        calls.clear()
        assert made(image, fresh_links(), body) is not None
        writings.append(len(calls))
    assert writings == [2] * prerender.CHECKS + [1, 1]  # checked, then trusted
    # a body seen once to do more with a URL is checked on every page after it
    pages: list[str] = []
    flaky = writing(lambda t: t if len(pages) > 2 else str(len(t)), pages)
    writings = []
    for _ in range(prerender.CHECKS + 2):
        before = len(pages)
        made(image, fresh_links(), flaky)
        writings.append(len(pages) - before)
    assert writings == [2] * (prerender.CHECKS + 2)
