"""`POST /v1/decisions` and the tracking endpoints over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Send
from starlette.types import Scope as AsgiScope

from kairos import runtime
from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    Creative,
    Flight,
    Placement,
    Site,
    Targeting,
    Zone,
)
from kairos.adserver.tracking import Signer
from kairos.api.app import create_app
from kairos.api.fastpath import DecisionsFastPath
from kairos.db import catalog as catalog_db
from kairos.db.apikeys import Scope, create_key
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from kairos.domain.decisions import Decision
from kairos.domain.events import EventType
from kairos.kafka.sink import MemorySink
from kairos.kafka.spool import Spool
from kairos.runtime import topics
from kairos.settings import Settings

START = datetime.now(UTC) - timedelta(days=1)


def seed(engine: Engine) -> None:
    items = [
        Advertiser(id="adv", name="Outdoor Co"),
        Campaign(id="c1", advertiser_id="adv", name="Winter"),
        Flight(
            id="f-eco",
            campaign_id="c1",
            name="eco",
            start=START,
            price=4.0,
            targeting=Targeting(expression="interest.eco > 0.3"),
        ),
        Flight(id="f-all", campaign_id="c1", name="all", start=START, price=2.0),
        Creative(
            id="cr-eco",
            advertiser_id="adv",
            name="Eco",
            width=300,
            height=250,
            image_url="https://cdn.example/eco.png",
            click_url="https://shop.example/eco",
            title='Eco "tents" <now>',
        ),
        Creative(
            id="cr-all",
            advertiser_id="adv",
            name="All",
            width=300,
            height=250,
            image_url="https://cdn.example/all.png",
            click_url="https://shop.example/",
        ),
        Ad(id="ad-eco", flight_id="f-eco", creative_id="cr-eco"),
        Ad(id="ad-all", flight_id="f-all", creative_id="cr-all"),
        Site(id="s1", name="News", domain="news.example"),
        Zone(id="z1", site_id="s1", name="front"),
        Placement(id="p1", zone_id="z1", name="top", div_name="top", sizes=["300x250"]),
        Placement(id="p2", zone_id="z1", name="side", div_name="side", sizes=["300x250"]),
    ]
    with Session(engine) as session, session.begin():
        for item in items:
            catalog_db.insert(session, item)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings, sink: MemorySink, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sink=sink, engine=engine)) as client:
        yield client


def decide(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    payload = {"placements": [{"placement": "top"}, {"placement": "side"}]} | body
    response = client.post("/v1/decisions", json=payload)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_page_gets_one_ad_per_placement_never_the_same_twice(client: TestClient) -> None:
    placements = decide(client, user_id="u1")["placements"]
    assert placements[0]["ads"][0]["ad_id"] == "ad-all"  # eco targeting needs eco interest
    assert placements[1]["ads"] == []
    assert placements[1]["no_fill"] == "every candidate was filtered out"
    ad = placements[0]["ads"][0]
    html = ad["contents"]["html"]
    assert html.startswith('<a href="http://127.0.0.1:8000/v1/t/c?')
    assert "<img" in html


def test_every_decision_is_logged_with_its_propensity(
    client: TestClient, sink: MemorySink, settings: Settings
) -> None:
    decide(client, user_id="u1")
    client.get("/healthz")  # lets the background log task run
    logged = [
        msgspec.json.decode(m.value, type=Decision) for m in sink.on(topics(settings).decisions)
    ]
    assert {d.no_fill for d in logged} == {False, True}
    served = next(d for d in logged if not d.no_fill)
    assert (served.ad_id, served.propensity, served.model_version) == (
        "ad-all",
        1.0,
        "historical-ctr",
    )
    assert "ad-all" in served.eligible  # the pre-encoded ids decode as a list


def test_tracking_counts_once_and_refuses_forgeries(
    client: TestClient, sink: MemorySink, settings: Settings
) -> None:
    ad = decide(client, user_id="u1")["placements"][0]["ads"][0]
    pixel = ad["tracking"]["impression"].removeprefix("http://127.0.0.1:8000")
    for _ in range(3):
        response = client.get(pixel)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
    names = topics(settings)
    impressions = sink.on(names.events(EventType.IMPRESSION))
    assert len(impressions) == 1  # fetched three times, counted once
    event = msgspec.json.decode(impressions[0].value)
    assert event["event_id"] == f"imp-{ad['decision_id']}"
    assert (event["campaign_id"], event["placement_id"]) == ("c1", "p1")
    assert event["cost"] == pytest.approx(0.002)  # second price alone: own CPM / 1000

    click = ad["tracking"]["click"].removeprefix("http://127.0.0.1:8000")
    response = client.get(click, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "https://shop.example/")
    (clicked,) = [msgspec.json.decode(m.value) for m in sink.on(names.events(EventType.CLICK))]
    assert clicked.get("cost") is None  # a CPM flight pays for impressions, not clicks

    query = parse_qs(urlsplit(click).query)
    forged = {k: v[0] for k, v in query.items()} | {"u": "https://evil.example/"}
    response = client.get("/v1/t/c", params=forged, follow_redirects=False)
    assert response.headers["location"] == "https://shop.example/"  # the ad's own page
    assert len(sink.on(names.events(EventType.CLICK))) == 1  # and nothing counted


def test_what_kafka_cannot_take_is_spooled_and_delivered_once_it_can(
    settings: Settings, sink: MemorySink, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cluster away, pixels and clicks still answer and decisions are still made;
    their events and logs wait in the spool, and reach Kafka once it is back."""
    tuned = settings.model_copy(update={"spool_replay_every_s": 0.05})
    names = topics(tuned)
    with TestClient(create_app(tuned, sink=sink, engine=engine)) as client:
        sink.available = False
        replay = sink.send

        async def awaited(_messages: object) -> None:  # what would hold a visitor
            raise AssertionError("a tracking hit or a decision waited for Kafka")

        monkeypatch.setattr(sink, "send", awaited)
        ad = decide(client, user_id="u1")["placements"][0]["ads"][0]
        pixel = ad["tracking"]["impression"].removeprefix("http://127.0.0.1:8000")
        assert client.get(pixel).status_code == 200
        click = ad["tracking"]["click"].removeprefix("http://127.0.0.1:8000")
        response = client.get(click, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (
            302,
            "https://shop.example/",
        )
        assert sink.messages == []
        assert Spool(tuned.resolved_spool_dir).pending()  # on disk meanwhile
        monkeypatch.setattr(sink, "send", replay)  # the spool's replay waits, in the background
        sink.available = True
        deadline = time.monotonic() + 10
        while Spool(tuned.resolved_spool_dir).pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Spool(tuned.resolved_spool_dir).pending() == []
    (impression,) = sink.on(names.events(EventType.IMPRESSION))
    assert msgspec.json.decode(impression.value)["event_id"] == f"imp-{ad['decision_id']}"
    assert len(sink.on(names.events(EventType.CLICK))) == 1
    logged = [msgspec.json.decode(m.value, type=Decision) for m in sink.on(names.decisions)]
    assert ad["decision_id"] in {d.decision_id for d in logged}
    assert len(logged) == 2  # the served placement and the no-fill, once each


def test_urls_of_the_previous_release_count_as_the_event_they_were_signed_for(
    client: TestClient, sink: MemorySink, settings: Settings
) -> None:
    signer = Signer(runtime.tracking_key(settings))
    expiry = str(int(datetime.now(UTC).timestamp()) + 60)
    old = {"d": "d" * 32, "a": "ad-all", "p": "p1", "k": "", "g": "0", "x": expiry}
    pixel = signer.sign(old | {"t": "i", "m": "0.002"})  # one URL per kind, its cost in m
    assert client.get("/v1/t/i", params=pixel).status_code == 200
    (event,) = sink.on(topics(settings).events(EventType.IMPRESSION))
    assert msgspec.json.decode(event.value)["cost"] == pytest.approx(0.002)
    response = client.get("/v1/t/c", params=pixel, follow_redirects=False)  # not a click URL
    assert response.headers["location"] == "https://shop.example/"
    assert sink.on(topics(settings).events(EventType.CLICK)) == []


def test_custom_events_count_once_per_name_the_page_puts_in(
    client: TestClient, sink: MemorySink, settings: Settings
) -> None:
    ad = decide(client, user_id="u1")["placements"][0]["ads"][0]
    template = ad["tracking"]["event"].removeprefix("http://127.0.0.1:8000")
    assert template.endswith("&n={name}")
    for name in ["play", "play", "complete"]:
        assert client.get(template.replace("{name}", name)).status_code == 200
    assert client.get(template).status_code == 200  # the placeholder itself counts nothing
    tampered = template.replace("{name}", "play").replace(ad["decision_id"], "f" * 32)
    assert client.get(tampered).status_code == 200  # a pixel answers, but counts nothing
    events = [
        msgspec.json.decode(m.value) for m in sink.on(topics(settings).events(EventType.CUSTOM))
    ]
    assert sorted(e["name"] for e in events) == ["complete", "play"]
    assert {e["properties"]["decision_id"] for e in events} == {ad["decision_id"]}


def test_bad_requests_get_a_clear_422(client: TestClient) -> None:
    response = client.post("/v1/decisions", json={"placements": []})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_decision_request"
    assert "placements" in response.text
    response = client.post("/v1/decisions?explain=false", json={"placements": []})
    assert (response.status_code, response.json()["error"]) == (422, "invalid_decision_request")
    response = client.post("/v1/decisions", json={"placements": [{"placement": "top", "x": 1}]})
    assert response.status_code == 422


def test_explain_needs_a_key_and_says_why(client: TestClient, engine: Engine) -> None:
    body = {"placements": [{"placement": "top"}]}
    assert client.post("/v1/decisions?explain=true", json=body).status_code == 401
    with Session(engine) as session, session.begin():
        key = create_key(session, "ops", [Scope.READ])
    response = client.post(
        "/v1/decisions?explain=true", json=body, headers={"X-Api-Key": key.secret}
    )
    assert response.status_code == 200
    (placement,) = response.json()["placements"]
    dropped = {d["ad_id"]: d for d in placement["explain"]["dropped"]}
    assert dropped["ad-eco"]["step"] == "targeting"
    assert "interest.eco" in dropped["ad-eco"]["reason"]


def test_the_pacing_report_lists_live_flights_for_key_holders(
    client: TestClient, engine: Engine
) -> None:
    assert client.get("/v1/reports/pacing").status_code == 401
    with Session(engine) as session, session.begin():
        key = create_key(session, "marketing", [Scope.READ])
    response = client.get("/v1/reports/pacing", headers={"X-Api-Key": key.secret})
    assert response.status_code == 200
    flights = {f["flight_id"]: f for f in response.json()["flights"]}
    assert set(flights) == {"f-eco", "f-all"}
    assert flights["f-all"]["delivered"] == 0
    assert flights["f-all"]["serve_probability"] == 1.0
    assert flights["f-all"]["pacing_error"] is None  # no goal, no end: nothing to pace


def test_decisions_are_answered_ahead_of_routing_like_the_route_answers(
    client: TestClient,
) -> None:
    passed_on: list[str] = []

    async def framework(scope: AsgiScope, _receive: Receive, _send: Send) -> None:
        passed_on.append(scope["path"])

    async def call(path: str, query: bytes, body: bytes) -> list[Message]:
        sent: list[Message] = []
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": query,
            "headers": [(b"content-length", str(len(body)).encode())],
            "client": ("203.0.113.9", 5000),
            "app": client.app,
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await DecisionsFastPath(framework)(scope, receive, send)
        return sent

    body = msgspec.json.encode({"placements": [{"placement": "top"}], "user_id": "u1"})
    start, answer = asyncio.run(call("/v1/decisions", b"", body))
    assert (start["status"], passed_on) == (200, [])  # answered without the framework
    fast = msgspec.json.decode(answer["body"])["placements"][0]
    response = client.post("/v1/decisions?explain=false", content=body)  # the route's answer
    routed = response.json()["placements"][0]
    assert fast["ads"][0]["ad_id"] == routed["ads"][0]["ad_id"] == "ad-all"
    assert fast.keys() == routed.keys()
    assert fast["ads"][0].keys() == routed["ads"][0].keys()

    asyncio.run(call("/v1/decisions", b"explain=true", body))
    asyncio.run(call("/v1/events", b"", body))
    assert passed_on == ["/v1/decisions", "/v1/events"]  # explaining, and other routes

    start, answer = asyncio.run(call("/v1/decisions", b"", b"x" * (4 * 1024 * 1024 + 1)))
    assert start["status"] == 413
    assert msgspec.json.decode(answer["body"])["error"] == "payload_too_large"


def test_keyword_targeting_reads_the_keywords_named_and_the_page_url_words(
    settings: Settings, sink: MemorySink, engine: Engine
) -> None:
    with Session(engine) as session, session.begin():
        catalog_db.insert(
            session,
            Flight(
                id="f-tents",
                campaign_id="c1",
                name="tents",
                start=START,
                price=9.0,
                targeting=Targeting(keywords=["tents"], exclude_keywords=["sale"]),
            ),
        )
        catalog_db.insert(session, Ad(id="ad-tents", flight_id="f-tents", creative_id="cr-eco"))
    pages = [
        ({"page_url": "https://news.example/outdoor/tents-guide"}, "ad-tents"),
        ({"page_url": "https://news.example/outdoor/stoves"}, "ad-all"),
        ({"keywords": ["Tents"]}, "ad-tents"),  # named, in any case
        ({"page_url": "https://news.example/stoves", "keywords": ["TENTS"]}, "ad-tents"),
        ({"page_url": "https://news.example/tents/sale"}, "ad-all"),  # an excluded word
        ({"page_url": "https://news.example/tents", "keywords": ["sale"]}, "ad-all"),
    ]
    with TestClient(create_app(settings, sink=sink, engine=engine)) as client:
        for _ in range(2):  # the second time, each page as remembered
            for page, ad in pages:
                placements = decide(client, placements=[{"placement": "top"}], **page)
                assert placements["placements"][0]["ads"][0]["ad_id"] == ad, page
