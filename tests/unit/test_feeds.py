"""Product feeds: CSV and JSON, row by row, the good rows in and the bad ones reported."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kairos.creative.feeds import FeedError, parse, read_source

CSV = b"""id,title,price,landing_url,image_url,available,eco,destination,stars
lis-1,Lisbon weekend,199.90,https://t.example/lis-1,https://cdn.example/l.jpg,in stock,true,Lisbon,4
rom-1,Rome city break,,https://trips.example/rom-1,,yes,false,Rome,3
osl-1,Oslo fjords,349,javascript:alert(1),,yes,true,Oslo,5
lis-1,Lisbon again,99,https://trips.example/lis-2,,yes,true,Lisbon,2
ber-1,"Berlin, <b>cheap</b>",89.5,https://trips.example/ber-1,,out of stock,false,Berlin,3.5
par-1,Paris,120,https://trips.example/par-1,,maybe,false,Paris,4
"""


def test_a_csv_feed_imports_the_good_rows_and_reports_the_bad() -> None:
    parsed = parse(CSV, "f1")
    assert [p.id for p in parsed.products] == ["lis-1", "ber-1"]
    lisbon, berlin = parsed.products
    assert lisbon.price == 199.9
    assert lisbon.available
    assert lisbon.attributes == {"eco": True, "destination": "Lisbon", "stars": 4}
    assert berlin.title == "Berlin, <b>cheap</b>"  # kept as text: renderers escape it
    assert not berlin.available
    assert berlin.attributes["stars"] == 3.5
    reasons = {r.row: (r.product_id, r.reason) for r in parsed.rejected}
    assert reasons[2] == ("rom-1", "missing price")
    assert reasons[3][0] == "osl-1"
    assert "http(s)" in reasons[3][1]
    assert "more than once" in reasons[4][1]
    assert "available" in reasons[6][1]
    assert parsed.rows == 6


def test_a_json_feed_keeps_its_types() -> None:
    rows = [
        {"id": "a", "title": "A", "price": 10, "landing_url": "https://s.example/a", "eco": True},
        {"id": "b c", "title": "B", "price": 1, "landing_url": "https://s.example/b"},
        {"id": "c", "title": "C" * 301, "price": 1, "landing_url": "https://s.example/c"},
        "not an object",
    ]
    for document in (rows, {"products": rows}):
        parsed = parse(orjson.dumps(document), "f2")
        assert [p.id for p in parsed.products] == ["a"]
        assert parsed.products[0].attributes == {"eco": True}
        assert [r.row for r in parsed.rejected] == [2, 3, 4]


def test_a_feed_that_cannot_be_read_is_refused_whole(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="header lacks price"):
        parse(b"id,title,landing_url\nx,y,https://s.example/\n", "f")
    with pytest.raises(FeedError, match="not JSON"):
        parse(b"[{", "f")
    with pytest.raises(FeedError, match="loopback"):
        read_source("https://feeds.example/products.csv")
    with pytest.raises(FeedError, match="no feed file"):
        read_source(str(tmp_path / "missing.csv"))
    path = tmp_path / "feed.csv"
    path.write_bytes(CSV)
    assert read_source(str(path)) == CSV
