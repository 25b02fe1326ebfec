"""On the real broker: a decision, its impression pixel and its click become events on their
topics, and the stream joins them into a labelled example carrying the decision's propensity
and model version."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from kairos.adserver.model import Ad, Advertiser, Campaign, Creative, Flight, Placement, Site, Zone
from kairos.api.app import create_app
from kairos.db import catalog as catalog_db
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from kairos.domain.events import EventType
from kairos.processes import stop_process
from kairos.runtime import topics
from kairos.settings import Settings
from tests.conftest import KafkaUnderTest
from tests.integration.test_labels_and_rollups import committed_records, eventually

pytestmark = pytest.mark.kafka
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def settings(kafka: KafkaUnderTest, tmp_path: Path) -> Settings:
    return one_ad(kafka, tmp_path)


def one_ad(kafka: KafkaUnderTest, tmp_path: Path, **overrides: object) -> Settings:
    """Settings on the test broker whose database serves one ad (`a1`) at placement
    `inline`."""
    url = f"sqlite:///{tmp_path / 'ads.db'}"
    settings = kafka.settings(tmp_path, **({"database_url": url} | overrides))
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    start = datetime.now(UTC) - timedelta(hours=1)
    with Session(engine) as session, session.begin():
        for item in [
            Advertiser(id="adv", name="Trail Co"),
            Campaign(id="c1", advertiser_id="adv", name="Boots"),
            Flight(id="f1", campaign_id="c1", name="all", start=start, price=3.0),
            Creative(
                id="cr1",
                advertiser_id="adv",
                name="Boots",
                width=300,
                height=250,
                image_url="https://cdn.example/boots.png",
                click_url="https://trail.example/boots",
            ),
            Ad(id="a1", flight_id="f1", creative_id="cr1"),
            Site(id="s1", name="Blog", domain="blog.example"),
            Zone(id="z1", site_id="s1", name="posts"),
            Placement(id="p1", zone_id="z1", name="inline", div_name="inline"),
        ]:
            catalog_db.insert(session, item)
    engine.dispose()
    return settings


def decide_show_and_click(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """The ad `one_ad` serves, once its pixel is fetched and it is clicked."""
    response = client.post("/v1/decisions", json=body)
    assert response.status_code == 200, response.text
    (ad,) = response.json()["placements"][0]["ads"]
    assert client.get(ad["tracking"]["impression"].removeprefix(BASE)).status_code == 200
    click = client.get(ad["tracking"]["click"].removeprefix(BASE), follow_redirects=False)
    assert click.headers["location"] == "https://trail.example/boots"
    return ad  # type: ignore[no-any-return]


def test_decision_impression_and_click_reach_kafka_and_become_an_example(
    settings: Settings, tmp_path: Path
) -> None:
    names = topics(settings)
    env = os.environ | {
        "KAIROS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "KAIROS_TOPIC_PREFIX": settings.topic_prefix,
        "KAIROS_DATA_DIR": str(settings.data_dir),
        "KAIROS_STREAM_GROUP": f"{settings.topic_prefix}-stream",
        "KAIROS_STREAM_METRICS_PORT": "0",
        "KAIROS_PSEUDONYM_KEY": "test-pseudonym-key-0123456789abcdef",
    }
    with (tmp_path / "stream.log").open("wb") as log:
        stream = subprocess.Popen(
            [sys.executable, "-m", "kairos", "stream"], env=env, stdout=log, stderr=log
        )
    try:
        with TestClient(create_app(settings)) as client:
            body = {
                "placements": [{"placement": "inline"}],
                "user_id": "reader-1",
                "consent": {"personalization": True},
            }
            ad = decide_show_and_click(client, body)
        decision_id = ad["decision_id"]

        def on(topic: str) -> list[dict[str, Any]] | None:
            found = committed_records(settings.bootstrap_servers, topic)
            return found or None

        (decision,) = eventually(lambda: on(names.decisions), timeout_s=30)
        assert (decision["decision_id"], decision["ad_id"]) == (decision_id, "a1")
        (impression,) = eventually(lambda: on(names.events(EventType.IMPRESSION)), 30)
        assert (impression["event_id"], impression["campaign_id"]) == (f"imp-{decision_id}", "c1")
        assert impression["cost"] == 0.003
        (clicked,) = eventually(lambda: on(names.events(EventType.CLICK)), 30)
        assert clicked["event_id"] == f"clk-{decision_id}"

        (example,) = eventually(lambda: on(names.labelled_examples), timeout_s=90)
        assert (example["decision_id"], example["label"]) == (decision_id, 1)
        assert (example["propensity"], example["model_version"]) == (1.0, "historical-ctr")
        assert example["placement_id"] == "p1"
    finally:
        stop_process(stream)
