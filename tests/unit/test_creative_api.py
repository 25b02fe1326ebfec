"""The dynamic-creative API on both databases: templates checked whole, variants checked against
their slots, feed imports with reports, previews, and performance per element."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kairos.creative import jobs
from kairos.db.models import Performance
from tests.management import Api

SLOTS = [
    {"name": "headline", "kind": "text", "default": "Travel more", "max_length": 40},
    {"name": "color", "kind": "color", "default": "#0af"},
    {"name": "video", "kind": "url", "default": "https://cdn.example/v.mp4"},
    {"name": "deals", "kind": "products", "count": 2},
]
BODY = (
    '<div style="color:{{ color }}"><h1>{{ headline }}</h1>'
    '{% for p in deals %}<a href="{{ p.click_url }}">{{ p.title }}</a>{% endfor %}</div>'
)
FEED = b"""id,title,price,landing_url,eco,destination
lis,Lisbon <script>x</script>,199,https://t.example/lis,true,Lisbon
rom,Rome,149,https://t.example/rom,false,Rome
bad,No price,,https://t.example/bad,true,Oslo
osl,Oslo,249,https://t.example/osl,true,Oslo
"""


def _setup(api: Api) -> None:
    api.post("/v1/advertisers", {"id": "a1", "name": "Acme"})
    api.post("/v1/feeds", {"id": "fd1", "advertiser_id": "a1", "name": "Trips"})
    api.post(
        "/v1/templates",
        {
            "id": "tp1",
            "advertiser_id": "a1",
            "name": "Trips",
            "slots": SLOTS,
            "html": BODY,
            "native": {"title": "headline", "items": "deals"},
            "video": {"duration_s": 15, "media_url_slot": "video"},
            "feed_id": "fd1",
            "product_filter": "product.eco == true",
        },
    )


def _import(api: Api, data: bytes, content_type: str = "text/csv") -> Any:
    headers = api.headers() | {"content-type": content_type}
    response = api.client.post("/v1/feeds/fd1/import", content=data, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_templates_variants_and_feeds_are_refused_with_reasons(api: Api) -> None:
    _setup(api)
    bad_body = {"advertiser_id": "a1", "name": "T", "slots": SLOTS[:1], "html": "{{ nope }}"}
    response = api.client.post("/v1/templates", json=bad_body, headers=api.headers())
    assert response.status_code == 422
    assert "nope" in response.text
    bad_variant = {"advertiser_id": "a1", "slot": "color", "value": "red"}
    response = api.client.post("/v1/variants", json=bad_variant, headers=api.headers())
    assert response.status_code == 422
    assert "colour" in response.text
    far = {"advertiser_id": "a1", "name": "F", "source": "https://feeds.example/x.csv"}
    assert api.client.post("/v1/feeds", json=far, headers=api.headers()).status_code == 422


def test_a_feed_imports_good_rows_reports_bad_ones_and_updates_in_place(
    api: Api, tmp_path: Path
) -> None:
    _setup(api)
    report = _import(api, FEED)
    assert (report["accepted"], report["rejected"], report["retired"]) == (3, 1, 0)
    assert report["rejected_rows"] == [{"row": 3, "product_id": "bad", "reason": "missing price"}]
    listed = api.client.get("/v1/feeds/fd1/products", headers=api.headers("read")).json()
    assert [p["id"] for p in listed["items"]] == ["lis", "osl", "rom"]
    assert listed["items"][0]["attributes"] == {"eco": True, "destination": "Lisbon"}
    newer = b'[{"id": "rom", "title": "Rome", "price": 99, "landing_url": "https://t.example/r"}]'
    report = _import(api, newer, "application/json")
    assert (report["accepted"], report["retired"]) == (1, 2)
    items = api.client.get("/v1/feeds/fd1/products", headers=api.headers()).json()["items"]
    assert {p["id"]: (p["price"], p["available"]) for p in items} == {
        "lis": (199.0, False),
        "osl": (249.0, False),
        "rom": (99.0, True),
    }
    (tmp_path / "feed.csv").write_bytes(FEED)
    patch = {"source": str(tmp_path / "feed.csv")}
    assert api.client.patch("/v1/feeds/fd1", json=patch, headers=api.headers()).status_code == 200
    assert _import(api, b"")["source"] == str(tmp_path / "feed.csv")  # no body: the source
    imports = api.client.get("/v1/feeds/fd1/imports", headers=api.headers()).json()["items"]
    assert [i["accepted"] for i in imports] == [3, 1, 3]  # newest first
    response = api.client.post("/v1/feeds/fd1/import", content=b"nonsense", headers=api.headers())
    assert response.status_code == 422  # a feed that cannot be read is refused whole


def test_preview_assembles_like_a_decision_and_renders_every_format(api: Api) -> None:
    _setup(api)
    _import(api, FEED)
    green = {
        "advertiser_id": "a1",
        "slot": "headline",
        "value": "Go green",
        "rule": "interest.eco > 0.3",
    }
    api.post("/v1/variants", {"id": "h-eco"} | green)
    api.post(
        "/v1/variants", {"id": "h-all", "advertiser_id": "a1", "slot": "headline", "value": "Go"}
    )
    path = "/v1/templates/tp1/preview"
    eco = api.client.post(path, json={"context": {"interest.eco": 0.9}}, headers=api.headers())
    assert eco.status_code == 200, eco.text
    out = eco.json()
    assert out["elements"] == {
        "headline": "h-eco",
        "color": "default",
        "video": "default",
        "deals.1": "lis",
        "deals.2": "osl",
    }
    assert "<h1>Go green</h1>" in out["html"]
    assert "&lt;script&gt;" in out["html"]  # feed text is escaped
    assert out["native"]["fields"]["title"] == "Go green"
    assert ET.fromstring(out["vast"]).get("version") == "4.2"
    forced = api.client.post(path, json={"elements": {"headline": "h-all"}}, headers=api.headers())
    assert forced.json()["elements"]["headline"] == "h-all"
    unknown = api.client.post(path, json={"elements": {"headline": "nope"}}, headers=api.headers())
    assert unknown.status_code == 422


def test_the_element_report_sums_the_roll_ups(api: Api) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = [
        ("", "", "headline=h1|cta=c1", 100, 5),
        ("", "", "headline=h2|cta=c1", 50, 1),
        ("headline", "h1", "", 100, 5),
        ("headline", "h2", "", 50, 1),
        ("cta", "c1", "", 150, 6),
    ]
    with Session(api.engine) as session:
        for slot, variant, combination, shown, clicked in rows:
            session.add(
                Performance(
                    grain="hour",
                    bucket=now,
                    advertiser_id="a1",
                    campaign_id="c1",
                    flight_id="f1",
                    ad_id="ad1",
                    creative_id="cr1",
                    placement_id="p1",
                    combination=combination,
                    slot=slot,
                    variant=variant,
                    impressions=shown,
                    clicks=clicked,
                    viewable=0,
                    conversions=0,
                    spend=shown * 0.002,
                    revenue=0.0,
                )
            )
        session.commit()
    report = api.client.get(
        "/v1/reports/elements?creative_id=cr1", headers=api.headers("read")
    ).json()
    by_variant = {
        (e["slot"], e["variant"]): (e["impressions"], e["ctr"]) for e in report["elements"]
    }
    assert by_variant == {
        ("cta", "c1"): (150, 0.04),
        ("headline", "h1"): (100, 0.05),
        ("headline", "h2"): (50, 0.02),
    }
    assert [c["combination"] for c in report["combinations"]] == [
        "headline=h1|cta=c1",
        "headline=h2|cta=c1",
    ]
    empty = api.client.get("/v1/reports/elements?creative_id=nope", headers=api.headers()).json()
    assert empty["elements"] == []


def test_scheduled_feeds_are_refreshed_when_due(api: Api, tmp_path: Path) -> None:
    _setup(api)
    (tmp_path / "feed.csv").write_bytes(FEED)
    patch = {"source": str(tmp_path / "feed.csv"), "refresh_s": 600}
    assert api.client.patch("/v1/feeds/fd1", json=patch, headers=api.headers()).status_code == 200
    first = jobs.refresh_due(api.engine)
    assert list(first) == ["fd1"]
    assert first["fd1"]["accepted"] == 3  # type: ignore[index]
    assert jobs.refresh_due(api.engine) == {}  # not due again yet
    later = datetime.now(UTC) + timedelta(seconds=601)
    (tmp_path / "feed.csv").unlink()
    failed = jobs.refresh_due(api.engine, later)
    assert "no feed file" in str(failed["fd1"])  # reported, and the products stay as they were
    listed = api.client.get("/v1/feeds/fd1/products", headers=api.headers()).json()["items"]
    assert all(p["available"] for p in listed)
