"""A dynamic ad through the decision API: assembled for the request by its rules, rendered,
its elements logged with the decision and carried by its impression and click events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kairos.adserver.model import Ad, Advertiser, Campaign, Creative, Flight, Placement, Site, Zone
from kairos.api.app import create_app
from kairos.creative.feeds import parse
from kairos.creative.model import Feed, Slot, SlotKind, Template, Variant
from kairos.db import catalog as catalog_db
from kairos.db import feeds
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from kairos.domain.events import EventType
from kairos.kafka.sink import MemorySink
from kairos.runtime import topics
from kairos.settings import Settings

START = datetime.now(UTC) - timedelta(days=1)
PRODUCTS = b"""id,title,price,landing_url,destination
lis,Lisbon,199,https://trips.example/lis,Lisbon
rom,Rome <3,149,https://trips.example/rom,Rome
"""


def seed(engine: Engine) -> None:
    template = Template(
        id="tp",
        advertiser_id="adv",
        name="Trips",
        slots=[
            Slot(name="headline", kind=SlotKind.TEXT, default="Travel more"),
            Slot(name="deal", kind=SlotKind.PRODUCTS, count=1),
        ],
        html="<h1>{{ headline }}</h1>{% for p in deal %}"
        '<a href="{{ p.click_url }}">{{ p.title }} {{ p.price | money(currency) }}</a>'
        "{% endfor %}",
        native={"title": "headline"},
        feed_id="fd",
        product_filter="product.destination == destination",
    )
    items = [
        Advertiser(id="adv", name="Trips Co"),
        Campaign(id="c1", advertiser_id="adv", name="Summer"),
        Flight(id="f-dyn", campaign_id="c1", name="dynamic", start=START, price=5.0),
        Flight(id="f-all", campaign_id="c1", name="static", start=START, price=1.0),
        Feed(id="fd", advertiser_id="adv", name="Trips"),
        template,
        Variant(
            id="h-green",
            advertiser_id="adv",
            slot="headline",
            value="Go green",
            rule='segment == "green"',
        ),
        Variant(id="h-any", advertiser_id="adv", slot="headline", value="Go"),
        Creative(
            id="cr-dyn",
            advertiser_id="adv",
            name="Dyn",
            template_id="tp",
            click_url="https://trips.example/",
        ),
        Creative(
            id="cr-all",
            advertiser_id="adv",
            name="All",
            image_url="https://cdn.example/a.png",
            click_url="https://trips.example/",
        ),
        Ad(id="ad-dyn", flight_id="f-dyn", creative_id="cr-dyn"),
        Ad(id="ad-all", flight_id="f-all", creative_id="cr-all"),
        Site(id="s1", name="News", domain="news.example"),
        Zone(id="z1", site_id="s1", name="front"),
        Placement(id="p1", zone_id="z1", name="top", div_name="top"),
    ]
    with Session(engine) as session, session.begin():
        for item in items:
            catalog_db.insert(session, item)
        feeds.store_import(session, "fd", parse(PRODUCTS, "fd"))


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(database_url: str, settings: Settings, sink: MemorySink) -> Iterator[TestClient]:
    engine = make_engine(database_url)
    upgrade(engine)
    seed(engine)
    with TestClient(create_app(settings, sink=sink, engine=engine)) as client:
        yield client
    engine.dispose()


def decide(client: TestClient, **properties: str) -> dict:  # type: ignore[type-arg]
    body = {"placements": [{"placement": "top", "properties": properties}], "user_id": "u1"}
    response = client.post("/v1/decisions", json=body)
    assert response.status_code == 200, response.text
    (placement,) = response.json()["placements"]
    (ad,) = placement["ads"]
    return ad  # type: ignore[no-any-return]


def test_a_dynamic_ad_is_assembled_rendered_and_tracked_element_by_element(
    client: TestClient, sink: MemorySink, settings: Settings
) -> None:
    ad = decide(client, segment="green", destination="Rome")
    assert ad["ad_id"] == "ad-dyn"
    assert ad["elements"] == {"headline": "h-green", "deal.1": "rom"}
    assert ad["propensity"] == 1.0  # the auction's winner, rules chose the one variant
    html = ad["contents"]["html"]
    assert "<h1>Go green</h1>" in html
    assert "Rome &lt;3 149.00 EUR" in html
    assert ad["contents"]["native"] == {"title": "Go green"}
    product_link = html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert parse_qs(urlsplit(product_link).query)["l"] == ["https://trips.example/rom"]

    names = topics(settings)
    (record,) = [msgspec.json.decode(m.value) for m in sink.on(names.decisions)]
    assert record["elements"] == {"headline": "h-green", "deal.1": "rom"}
    client.get(ad["tracking"]["impression"].removeprefix("http://127.0.0.1:8000"))
    landed = client.get(product_link.removeprefix("http://127.0.0.1:8000"), follow_redirects=False)
    assert landed.headers["location"] == "https://trips.example/rom"
    for kind in (EventType.IMPRESSION, EventType.CLICK):
        (event,) = [msgspec.json.decode(m.value) for m in sink.on(names.events(kind))]
        assert event["elements"] == {"deal.1": "rom", "headline": "h-green"}


def test_a_product_click_whose_page_was_changed_counts_nothing(
    client: TestClient, sink: MemorySink, settings: Settings
) -> None:
    ad = decide(client, segment="green", destination="Rome")
    link = ad["contents"]["html"].split('href="')[1].split('"')[0].replace("&amp;", "&")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    forged = query | {"l": "https://evil.example/"}
    response = client.get("/v1/t/c", params=forged, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] != "https://evil.example/"  # the ad's own page
    assert sink.on(topics(settings).events(EventType.CLICK)) == []


def test_rules_change_the_combination_and_an_empty_one_yields_to_the_next_ad(
    client: TestClient,
) -> None:
    plain = decide(client, segment="grey", destination="Lisbon")
    assert plain["elements"] == {"headline": "h-any", "deal.1": "lis"}
    nothing = decide(client, segment="green", destination="Oslo")  # no product for Oslo
    assert nothing["ad_id"] == "ad-all"
    assert "elements" not in nothing
