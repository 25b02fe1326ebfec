"""`kairos api --workers N`: workers on one port, each with its own socket, stopped together;
a frequency cap holds across them."""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    CapScope,
    CapUnit,
    Creative,
    Flight,
    FrequencyCap,
    Placement,
    Site,
    Zone,
)
from kairos.bench.harness import BenchEnv, api_server
from kairos.db import catalog as catalog_db
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from tests.conftest import KafkaUnderTest
from tests.processes import processes as all_processes


def test_workers_share_the_port_and_stop_with_the_command(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    upgrade(engine)
    engine.dispose()
    env = BenchEnv(kafka.bootstrap, tmp_path, kafka.settings(tmp_path).topic_prefix)
    with api_server(env, workers=2) as base:
        host, port = base.removeprefix("http://").split(":")
        processes = all_processes()
        (supervisor,) = [
            pid for pid, (_, cmd) in processes.items() if f"--port\0{port}\0".encode() in cmd
        ]
        workers = [pid for pid, (parent, _) in processes.items() if parent == supervisor]
        assert len(workers) == 2  # both bound the same port (SO_REUSEPORT) and serve
        for _ in range(20):  # new connections, spread by the kernel
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", "/healthz")
            assert conn.getresponse().status == 200
            conn.close()
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_cap_holds_across_the_workers_of_one_host(kafka: KafkaUnderTest, tmp_path: Path) -> None:
    """Requests of one visitor on new connections, which the kernel spreads over both
    workers: the capped flight is served once (each worker alone would serve it once, and
    no impression comes back through a stream here)."""
    start = datetime.now(UTC) - timedelta(days=1)
    once = FrequencyCap(scope=CapScope.FLIGHT, impressions=1, period=1, unit=CapUnit.HOUR)
    items = [
        Advertiser(id="adv", name="Adv"),
        Campaign(id="c1", advertiser_id="adv", name="C1"),
        Flight(id="capped", campaign_id="c1", name="capped", start=start, price=9.0, caps=[once]),
        Flight(id="other", campaign_id="c1", name="other", start=start, price=1.0),
        *(
            Creative(id=f"cr-{f}", advertiser_id="adv", name=f, width=300, height=250)
            for f in ("capped", "other")
        ),
        Ad(id="ad-capped", flight_id="capped", creative_id="cr-capped"),
        Ad(id="ad-other", flight_id="other", creative_id="cr-other"),
        Site(id="s1", name="News", domain="news.example"),
        Zone(id="z1", site_id="s1", name="front"),
        Placement(id="p1", zone_id="z1", name="top", div_name="top", sizes=["300x250"]),
    ]
    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    upgrade(engine)
    with Session(engine) as session, session.begin():
        for item in items:
            catalog_db.insert(session, item)  # type: ignore[type-var]
    engine.dispose()
    env = BenchEnv(kafka.bootstrap, tmp_path, kafka.settings(tmp_path).topic_prefix)
    body = json.dumps(
        {
            "placements": [{"placement": "top"}],
            "user_id": "v1",
            "consent": {"personalization": True},
        }
    )

    def decide(_: int) -> str:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)  # a new connection
        try:
            conn.request("POST", "/v1/decisions", body, {"content-type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            (placement,) = json.loads(response.read())["placements"]
            return str(placement["ads"][0]["flight_id"])
        finally:
            conn.close()

    with api_server(env, workers=2) as base:
        host, port = base.removeprefix("http://").split(":")
        flights = [decide(n) for n in range(60)]
    assert flights.count("capped") == 1
    assert flights.count("other") == 59
