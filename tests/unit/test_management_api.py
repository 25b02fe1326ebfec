"""The management API over HTTP, with API keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kairos.adserver import model
from kairos.api import management_models as bodies
from kairos.api.app import create_app
from kairos.api.management import RESOURCES
from kairos.cli.main import app as cli
from kairos.db import apikeys, catalog, migrate
from kairos.db.apikeys import Scope
from kairos.db.engine import make_engine
from kairos.kafka.sink import MemorySink
from kairos.settings import Settings
from tests.management import SCOPES, Api

START = "2026-12-01T00:00:00Z"
TARGETING = {
    "countries": ["PT", "ES"],
    "exclude_countries": ["FR"],
    "regions": ["PT-11"],
    "devices": ["mobile", "tablet"],
    "os": ["iOS"],
    "browsers": ["Safari"],
    "site_ids": ["s1"],
    "zone_ids": ["z1"],
    "keywords": ["rain"],
    "exclude_keywords": ["sun"],
    "days": [0, 6],
    "hours": [8, 20],
    "expression": 'interest.eco > 0.3 and not segment in ["churned"]',
}


# Per resource: a full POST body (parents from `_parents`) and a PATCH.
def _slot(name: str, kind: str, default: Any = None, **more: Any) -> dict[str, Any]:
    fields = {"max_length": None, "width": None, "height": None, "count": 1}
    return {"name": name, "kind": kind, "default": default} | fields | more


CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "advertisers": ({"id": "adv-9", "name": "Acme", "status": "paused"}, {"name": "Acme Corp"}),
    "campaigns": (
        {
            "advertiser_id": "a1",
            "name": "Winter",
            "status": "active",
            "caps": [{"scope": "campaign", "impressions": 5, "period": 2, "unit": "hour"}],
        },
        {"caps": [], "status": "paused"},
    ),
    "flights": (
        {
            "id": "flt-9",
            "campaign_id": "c1",
            "name": "Launch",
            "timezone": "Europe/Lisbon",
            "start": START,
            "end": "2026-12-31T00:00:00Z",
            "status": "active",
            "priority": 2,
            "rate_type": "cpc",
            "price": 0.35,
            "goal_type": "clicks",
            "goal_amount": 1000,
            "daily_budget": 50.0,
            "lifetime_budget": 900.5,
            "pacing": "asap",
            "caps": [{"scope": "flight", "impressions": 1, "period": 1, "unit": "day"}],
            "targeting": TARGETING,
        },
        {"priority": 1, "end": None, "targeting": {"countries": ["DE"]}},
    ),
    "creatives": (
        {
            "advertiser_id": "a1",
            "name": "Jacket",
            "ad_type": "display",
            "width": 300,
            "height": 250,
            "click_url": "https://acme.example/jacket",
            "html": "<b>Jacket</b>",
            "image_url": "https://cdn.example/j.png",
            "title": "A jacket",
            "body": "Dry in any weather",
            "cta": "Buy",
            "template_id": None,  # a template must exist: see the creative tests
            "fields": {"price": "€99", "rating": 4.5},
        },
        {"title": "The jacket", "fields": {}},
    ),
    "ads": (
        {"flight_id": "f1", "creative_id": "cr1", "weight": 50, "status": "paused"},
        {"weight": 10},
    ),
    "sites": (
        {"name": "News", "domain": "news.example.com", "status": "active"},
        {"status": "archived"},
    ),
    "zones": ({"site_id": "s1", "name": "Top"}, {"name": "Top banner"}),
    "placements": (
        {
            "zone_id": "z1",
            "name": "Leaderboard",
            "div_name": "lb-1",
            "ad_types": ["display", "native"],
            "sizes": ["728x90"],
            "floor_cpm": 1.25,
            "selection": "static",
            "status": "active",
        },
        {"sizes": ["728x90", "970x250"], "div_name": None},
    ),
    "feeds": (
        {
            "advertiser_id": "a1",
            "name": "Trips",
            "source": "http://127.0.0.1:9/trips.csv",
            "refresh_s": 3600,
        },
        {"name": "All trips", "refresh_s": None},
    ),
    "templates": (
        {
            "advertiser_id": "a1",
            "name": "Trip banner",
            "slots": [
                _slot("headline", "text", "Travel more", max_length=60),
                _slot("image", "image", "https://cdn.example/t.png", width=300, height=250),
                _slot("deals", "products", count=2),
            ],
            "html": '<img src="{{ image }}"><h1>{{ headline }}</h1>'
            "{% for p in deals %}<a href='{{ p.click_url }}'>{{ p.title }}</a>{% endfor %}",
            "native": {"title": "headline", "image": "image"},
            "video": None,
            "currency": "EUR",
            "feed_id": "fd1",
            "product_filter": "product.eco == true",
            "max_combinations": 50,
            "status": "active",
        },
        {"max_combinations": 100, "product_filter": None},
    ),
    "variants": (
        {
            "advertiser_id": "a1",
            "slot": "headline",
            "value": "Go green",
            "weight": 50,
            "rule": "interest.eco > 0.3",
            "status": "active",
        },
        {"weight": 10, "rule": None},
    ),
}


def _parents(api: Api) -> None:
    """a1 → c1 → f1, a1 → cr1, f1 + cr1 → ad1, s1 → z1 → p1, a1 → fd1, tp1, v1."""
    api.post("/v1/advertisers", {"id": "a1", "name": "Acme"})
    api.post("/v1/campaigns", {"id": "c1", "advertiser_id": "a1", "name": "C"})
    api.post("/v1/flights", {"id": "f1", "campaign_id": "c1", "name": "F", "start": START})
    api.post("/v1/creatives", {"id": "cr1", "advertiser_id": "a1", "name": "Cr"})
    api.post("/v1/ads", {"id": "ad1", "flight_id": "f1", "creative_id": "cr1"})
    api.post("/v1/sites", {"id": "s1", "name": "S", "domain": "s.example"})
    api.post("/v1/zones", {"id": "z1", "site_id": "s1", "name": "Z"})
    api.post("/v1/placements", {"id": "p1", "zone_id": "z1", "name": "P"})
    api.post("/v1/feeds", {"id": "fd1", "advertiser_id": "a1", "name": "Fd"})
    api.post(
        "/v1/templates",
        {
            "id": "tp1",
            "advertiser_id": "a1",
            "name": "T",
            "slots": [_slot("headline", "text", "Hello")],
            "html": "<b>{{ headline }}</b>",
        },
    )
    api.post("/v1/variants", {"id": "v1", "advertiser_id": "a1", "slot": "headline", "value": "Hi"})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _subset(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(actual.get(k) == v for k, v in expected.items())


@pytest.mark.parametrize("path", list(CASES))
def test_crud_round_trip(api: Api, path: str) -> None:
    _parents(api)
    body, patch = CASES[path]
    created = api.client.post(f"/v1/{path}", json=body, headers=api.headers())
    assert created.status_code == 201, created.text
    item = created.json()
    assert _subset(body, item)
    assert item["created_at"] == item["updated_at"]
    location = created.headers["location"]
    assert location.endswith(f"/v1/{path}/{item['id']}")
    assert api.client.get(location, headers=api.headers()).json() == item

    patched = api.client.patch(location, json=patch, headers=api.headers())
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    expected = item | patch
    if path == "flights":
        expected["targeting"] = {**bodies.Targeting().model_dump(), **patch["targeting"]}
    assert {k: v for k, v in changed.items() if k != "updated_at"} == {
        k: v for k, v in expected.items() if k != "updated_at"
    }
    assert _time(changed["updated_at"]) > _time(item["updated_at"])
    assert api.client.get(location, headers=api.headers()).json() == changed

    listed = api.client.get(f"/v1/{path}", params={"limit": 500}, headers=api.headers()).json()
    assert changed in listed["items"]
    assert listed["next_cursor"] is None

    assert api.client.delete(location, headers=api.headers()).status_code == 204
    gone = api.client.get(location, headers=api.headers())
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"
    assert api.client.delete(location, headers=api.headers()).status_code == 404
    assert api.client.patch(location, json={}, headers=api.headers()).status_code == 404


def test_generated_ids_carry_the_resource_prefix(api: Api) -> None:
    assert api.post("/v1/advertisers", {"name": "Acme"})["id"].startswith("adv_")


def test_pagination_walks_every_page_and_filters(api: Api) -> None:
    _parents(api)
    ids = sorted(
        api.post("/v1/campaigns", {"advertiser_id": "a1", "name": n})["id"] for n in "abcdefg"
    )
    api.post("/v1/advertisers", {"id": "a2", "name": "Other"})
    api.post(
        "/v1/campaigns", {"id": "other", "advertiser_id": "a2", "name": "x", "status": "paused"}
    )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "advertiser_id": "a1"}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get("/v1/campaigns", params=params, headers=api.headers()).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([*ids, "c1"])
    assert pages == 3
    paused = api.client.get("/v1/campaigns?status=paused", headers=api.headers()).json()
    assert [c["id"] for c in paused["items"]] == ["other"]
    for bad in ({"limit": 501}, {"limit": 0}, {"cursor": "%%%"}, {"status": "gone"}):
        response = api.client.get("/v1/campaigns", params=bad, headers=api.headers())
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(bad))]


# (path, body, the field in error) — bodies are valid but for that field.
INVALID: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("/v1/advertisers", {"name": ""}, ["name"]),
    ("/v1/advertisers", {"id": "has space", "name": "x"}, ["id"]),
    ("/v1/advertisers", {"name": "x", "status": "deleted"}, ["status"]),
    ("/v1/advertisers", {"name": "x", "extra": 1}, ["extra"]),
    ("/v1/campaigns", {"advertiser_id": "nope", "name": "x"}, ["advertiser_id"]),
    (
        "/v1/campaigns",
        {"advertiser_id": "a1", "name": "x", "caps": [{"scope": "ad", "impressions": 0}]},
        ["caps", 0, "impressions"],
    ),
    (
        "/v1/campaigns",
        {
            "advertiser_id": "a1",
            "name": "x",
            "caps": [{"scope": "ad", "impressions": 1, "period": 0}],
        },
        ["caps", 0, "period"],
    ),
    ("/v1/flights", {"campaign_id": "nope", "name": "x", "start": START}, ["campaign_id"]),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "end": "2026-11-01T00:00:00Z"},
        ["end"],
    ),
    ("/v1/flights", {"campaign_id": "c1", "name": "x", "start": START, "end": START}, ["end"]),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "timezone": "Mars/Olympus"},
        ["timezone"],
    ),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "priority": 0},
        ["priority"],
    ),
    ("/v1/flights", {"campaign_id": "c1", "name": "x", "start": START, "price": -0.01}, ["price"]),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "daily_budget": -1},
        ["daily_budget"],
    ),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "lifetime_budget": -1},
        ["lifetime_budget"],
    ),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "goal_amount": 0},
        ["goal_amount"],
    ),
    (
        "/v1/flights",
        {
            "campaign_id": "c1",
            "name": "x",
            "start": START,
            "caps": [{"scope": "flight", "impressions": -1}],
        },
        ["caps", 0, "impressions"],
    ),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "targeting": {"countries": ["pt"]}},
        ["targeting", "countries", 0],
    ),
    (
        "/v1/flights",
        {
            "campaign_id": "c1",
            "name": "x",
            "start": START,
            "targeting": {"exclude_countries": ["PRT"]},
        },
        ["targeting", "exclude_countries", 0],
    ),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "targeting": {"hours": [24]}},
        ["targeting", "hours", 0],
    ),
    (
        "/v1/flights",
        {"campaign_id": "c1", "name": "x", "start": START, "targeting": {"devices": ["toaster"]}},
        ["targeting", "devices", 0],
    ),
    (
        "/v1/flights",
        {
            "campaign_id": "c1",
            "name": "x",
            "start": START,
            "targeting": {"expression": "interest.eco >"},
        },
        ["targeting", "expression"],
    ),
    ("/v1/flights", {"campaign_id": "c1", "name": "x"}, ["start"]),
    ("/v1/creatives", {"advertiser_id": "a1", "name": "x", "width": 0}, ["width"]),
    (
        "/v1/creatives",
        {"advertiser_id": "a1", "name": "x", "click_url": "javascript:alert(1)"},
        ["click_url"],
    ),
    ("/v1/creatives", {"advertiser_id": "a1", "name": "x", "ad_type": "hologram"}, ["ad_type"]),
    ("/v1/ads", {"flight_id": "f1", "creative_id": "nope"}, ["creative_id"]),
    ("/v1/ads", {"flight_id": "f1", "creative_id": "cr1", "weight": 0}, ["weight"]),
    ("/v1/ads", {"flight_id": "f1", "creative_id": "theirs"}, ["creative_id"]),
    ("/v1/sites", {"name": "x", "domain": "Not A Domain"}, ["domain"]),
    ("/v1/zones", {"site_id": "nope", "name": "x"}, ["site_id"]),
    ("/v1/placements", {"zone_id": "z1", "name": "x", "sizes": ["300by250"]}, ["sizes", 0]),
    ("/v1/placements", {"zone_id": "z1", "name": "x", "sizes": ["0x250"]}, ["sizes", 0]),
    ("/v1/placements", {"zone_id": "z1", "name": "x", "floor_cpm": -1}, ["floor_cpm"]),
    ("/v1/placements", {"zone_id": "z1", "name": "x", "ad_types": []}, ["ad_types"]),
    ("/v1/placements", {"zone_id": "z1", "name": "x", "div_name": "a b"}, ["div_name"]),
]


def test_each_validation_error_names_its_field(api: Api) -> None:
    _parents(api)
    api.post("/v1/advertisers", {"id": "a2", "name": "Other"})
    api.post("/v1/creatives", {"id": "theirs", "advertiser_id": "a2", "name": "Theirs"})
    version = _version(api)
    for path, body, loc in INVALID:
        response = api.client.post(path, json=body, headers=api.headers())
        assert response.status_code == 422, (path, body, response.text)
        errors = response.json()["detail"]
        assert [e["loc"] for e in errors] == [["body", *loc]], (body, errors)
    assert _version(api) == version  # nothing was stored


def test_expression_errors_say_what_and_where(api: Api) -> None:
    _parents(api)
    bad = {"expression": "interest.eco >"}
    response = api.client.patch("/v1/flights/f1", json={"targeting": bad}, headers=api.headers())
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "targeting", "expression"]
    assert error["type"] == "expression"
    assert error["ctx"]["position"] == len("interest.eco >")
    assert "at character 14" in error["msg"]


def test_patch_validates_the_result_and_keeps_parents(api: Api) -> None:
    _parents(api)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"end": "2026-11-01T00:00:00Z"}, ["body", "end"]),  # before the stored start
        ({"name": None}, ["body", "name"]),
        ({"campaign_id": "c2"}, ["body", "campaign_id"]),  # parents are fixed
        ({"id": "other"}, ["body", "id"]),
    ]
    for patch, loc in cases:
        response = api.client.patch("/v1/flights/f1", json=patch, headers=api.headers())
        assert response.status_code == 422, patch
        assert response.json()["detail"][0]["loc"] == loc
    naive = api.client.patch(
        "/v1/flights/f1",
        json={"timezone": "Europe/Lisbon", "start": "2026-07-01T00:00:00"},
        headers=api.headers(),
    )
    assert naive.json()["start"] == "2026-06-30T23:00:00Z"  # midnight in Lisbon (WEST)


def test_duplicates_are_409(api: Api) -> None:
    _parents(api)
    again = api.client.post(
        "/v1/advertisers", json={"id": "a1", "name": "x"}, headers=api.headers()
    )
    assert again.status_code == 409
    assert again.json() == {"error": "conflict", "message": "advertiser 'a1' already exists"}
    api.post("/v1/placements", {"id": "p2", "zone_id": "z1", "name": "x", "div_name": "top"})
    twin = {"id": "p3", "zone_id": "z1", "name": "y", "div_name": "top"}
    assert api.client.post("/v1/placements", json=twin, headers=api.headers()).status_code == 409
    patch = api.client.patch("/v1/placements/p1", json={"div_name": "top"}, headers=api.headers())
    assert patch.status_code == 409


_DCO = {"templates": 1, "variants": 1}


def test_delete_with_children_is_409_and_archive_hides_the_subtree(api: Api) -> None:
    _parents(api)
    for path, children in [
        ("/v1/advertisers/a1", {"campaigns": 1, "creatives": 1, "feeds": 1} | _DCO),
        ("/v1/campaigns/c1", {"flights": 1}),
        ("/v1/flights/f1", {"ads": 1}),
        ("/v1/creatives/cr1", {"ads": 1}),
        ("/v1/sites/s1", {"zones": 1}),
        ("/v1/zones/z1", {"placements": 1}),
    ]:
        response = api.client.delete(path, headers=api.headers())
        assert response.status_code == 409, path
        assert response.json()["detail"] == {"children": children}
    # Archived children still count: archiving is not deleting.
    api.client.patch("/v1/ads/ad1", json={"status": "archived"}, headers=api.headers())
    assert api.client.delete("/v1/flights/f1", headers=api.headers()).status_code == 409
    with Session(api.engine) as session:
        assert catalog.load_catalog_rows(session).ads == []
    api.client.patch("/v1/campaigns/c1", json={"status": "archived"}, headers=api.headers())
    with Session(api.engine) as session:
        rows = catalog.load_catalog_rows(session)
    assert (rows.campaigns, rows.flights) == ([], [])
    assert [a.id for a in rows.advertisers] == ["a1"]
    deleted = ["/v1/ads/ad1", "/v1/flights/f1", "/v1/campaigns/c1", "/v1/creatives/cr1"]
    for path in [*deleted, "/v1/templates/tp1", "/v1/variants/v1", "/v1/feeds/fd1"]:
        assert api.client.delete(path, headers=api.headers()).status_code == 204, path
    assert api.client.delete("/v1/advertisers/a1", headers=api.headers()).status_code == 204


def test_the_catalog_loads_exactly_what_was_created(api: Api) -> None:
    _parents(api)
    for res in RESOURCES:
        api.post(f"/v1/{res.path}", CASES[res.path][0])
    with Session(api.engine) as session:
        rows = catalog.load_catalog_rows(session)
    for res in RESOURCES:
        if res.path == "feeds":  # read by feed imports, not by ad servers
            continue
        listed = api.client.get(f"/v1/{res.path}", headers=api.headers()).json()["items"]
        assert len(listed) == 2
        expected = [msgspec.convert(_fields(i, res.kind), res.kind) for i in listed]
        assert getattr(rows, res.path) == expected, res.path


def _fields(item: dict[str, Any], kind: type[Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in kind.__struct_fields__}


def _version(api: Api) -> str:
    response = api.client.get("/v1/catalog/version", headers=api.headers("read"))
    version: str = response.json()["version"]
    return version


def test_every_change_bumps_the_catalog_version(api: Api) -> None:
    versions = [_version(api)]
    api.post("/v1/advertisers", {"id": "a1", "name": "Acme"})
    versions.append(_version(api))
    api.client.patch("/v1/advertisers/a1", json={"name": "B"}, headers=api.headers())
    versions.append(_version(api))
    api.client.delete("/v1/advertisers/a1", headers=api.headers())
    versions.append(_version(api))
    assert len(set(versions)) == 4


def test_keys_and_scopes(api: Api) -> None:
    c = api.client
    assert c.get("/v1/advertisers").status_code == 401
    assert c.get("/v1/advertisers", headers={"X-Api-Key": "kairos_nope"}).json() == {
        "error": "unauthorized",
        "message": "unknown or revoked API key",
    }
    assert c.get("/v1/advertisers", headers={"Authorization": "Basic eDp5"}).status_code == 401
    bearer = {"Authorization": f"Bearer {api.keys['read']}"}
    assert c.get("/v1/advertisers", headers=bearer).status_code == 200
    assert c.get("/v1/advertisers", headers=api.headers("read")).status_code == 200
    assert c.get("/v1/advertisers", headers=api.headers("admin")).status_code == 200
    forbidden = c.post("/v1/advertisers", json={"name": "x"}, headers=api.headers("read"))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "forbidden"
    assert c.get("/v1/advertisers", headers=api.headers("write")).status_code == 403
    assert (
        c.post("/v1/advertisers", json={"name": "x"}, headers=api.headers("write")).status_code
        == 201
    )
    assert c.get("/v1/keys", headers=api.headers("rw")).status_code == 403
    # Ingestion stays open.
    event = {"type": "page_view", "user_id": "u1"}
    assert c.post("/v1/events", json=event).status_code == 202


def test_keys_over_http_and_revocation(api: Api) -> None:
    c, admin = api.client, api.headers("admin")
    made = c.post("/v1/keys", json={"name": "dash", "scopes": ["read"]}, headers=admin)
    assert made.status_code == 201
    secret, key_id = made.json()["secret"], made.json()["id"]
    assert secret.startswith("kairos_")
    listed = c.get("/v1/keys", headers=admin).json()
    assert {k["name"] for k in listed} == set(SCOPES) | {"dash"}
    assert all("secret" not in k for k in listed)
    assert c.get("/v1/sites", headers={"X-Api-Key": secret}).status_code == 200
    assert c.delete(f"/v1/keys/{key_id}", headers=admin).status_code == 204
    assert c.get("/v1/sites", headers={"X-Api-Key": secret}).status_code == 401
    assert c.delete("/v1/keys/key_missing", headers=admin).status_code == 404
    bad = c.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.json()["detail"][0]["loc"] == ["body", "scopes", 0]


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Engine]:
    """The CLI on this database (migrated), and logging put back as it was before the CLI
    set it up on the runner's soon-closed streams."""
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAIROS_DATABASE_URL", database_url)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_keys_cli(cli_env: Engine) -> None:
    runner = CliRunner()
    made = runner.invoke(
        cli, ["keys", "create", "--name", "ci", "--scope", "read", "--scope", "write"]
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("kairos_")
    with Session(cli_env) as session:
        key = apikeys.authenticate(session, secret)
        session.commit()
    assert key is not None
    assert key.scopes == {Scope.READ, Scope.WRITE}
    listed = runner.invoke(cli, ["keys", "list"])
    assert key.id in listed.stdout
    assert "read,write" in listed.stdout
    assert secret not in listed.output
    assert runner.invoke(cli, ["keys", "revoke", key.id]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).stdout
    with Session(cli_env) as session:
        assert apikeys.authenticate(session, secret) is None
    missing = runner.invoke(cli, ["keys", "revoke", "key_missing"])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output
    assert runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "root"]).exit_code == 2


@pytest.mark.parametrize(
    "command", [["keys"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"]]
)
def test_keys_commands_have_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_openapi_shows_every_resource_with_its_schemas(settings: Settings, tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    with TestClient(create_app(settings, sink=MemorySink(), engine=engine)) as client:
        spec = client.get("/openapi.json").json()
    engine.dispose()
    schemas = spec["components"]["schemas"]
    for res in RESOURCES:
        noun = res.out.__name__
        collection, item = spec["paths"][f"/v1/{res.path}"], f"/v1/{res.path}/{{{noun.lower()}_id}}"
        assert set(collection) == {"get", "post"}
        assert set(spec["paths"][item]) == {"get", "patch", "delete"}
        for name in (noun, f"{noun}Create", f"{noun}Patch", f"{noun}Page"):
            assert name in schemas, name
        assert collection["post"]["security"]
    assert "Targeting" in schemas
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    assert "security" not in spec["paths"]["/v1/events"]["post"]


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.path)
def test_bodies_mirror_the_structs(res: Any) -> None:
    """The pydantic bodies and the msgspec structs name the same fields (no drift)."""
    fields = set(res.kind.__struct_fields__)
    assert set(res.create.model_fields) == fields
    assert set(res.out.model_fields) == fields | {"created_at", "updated_at"}
    assert set(bodies.Targeting.model_fields) == set(model.Targeting.__struct_fields__)
    assert set(bodies.FrequencyCap.model_fields) == set(model.FrequencyCap.__struct_fields__)
    assert issubclass(res.create, BaseModel)


def test_a_campaigns_exploration_budget_is_kept_and_reaches_the_ad_server(api: Api) -> None:
    api.post("/v1/advertisers", {"id": "a1", "name": "A"})
    body = {"id": "c1", "advertiser_id": "a1", "name": "C", "exploration": 0.05}
    assert api.post("/v1/campaigns", body)["exploration"] == 0.05
    too_much = api.client.post(
        "/v1/campaigns", json=body | {"id": "c2", "exploration": 1.5}, headers=api.headers()
    )
    assert too_much.status_code == 422
    assert too_much.json()["detail"][0]["loc"] == ["body", "exploration"]
    with Session(api.engine) as session:
        rows = catalog.load_catalog_rows(session)
    assert [c.exploration for c in rows.campaigns] == [0.05]
