"""With the broker stopped the API answers 503 to events (the caller keeps them), and keeps what
it cannot refuse (tracking hits, decision logs) in its spool; once the broker is back, every
accepted event is there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kairos.api.app import create_app
from kairos.domain import codec
from kairos.domain.events import EventType
from kairos.kafka.spool import Spool
from kairos.runtime import topics
from tests.conftest import KafkaUnderTest
from tests.integration.test_adserver_e2e import decide_show_and_click, one_ad
from tests.integration.test_labels_and_rollups import committed_records, eventually
from tests.integration.test_pipeline import read_all

pytestmark = pytest.mark.kafka


def post(client: TestClient, event_id: str) -> int:
    body = {"events": [{"type": "page_view", "user_id": "u-outage", "event_id": event_id}]}
    return client.post("/v1/events/batch", json=body).status_code


def test_broker_outage_gives_503_and_loses_nothing(kafka: KafkaUnderTest, tmp_path: Path) -> None:
    if kafka.broker is None:
        pytest.skip("an external cluster cannot be stopped by the tests")
    settings = kafka.settings(tmp_path, produce_timeout_ms=2000)
    accepted: list[str] = []
    with TestClient(create_app(settings)) as client:
        for i in range(5):
            assert post(client, f"before-{i}") == 202
            accepted.append(f"before-{i}")
        kafka.broker.stop()
        try:
            started = time.monotonic()
            response = client.post("/v1/events", json={"type": "page_view", "user_id": "u"})
            assert response.status_code == 503
            assert int(response.headers["retry-after"]) > 0
            assert time.monotonic() - started < 15  # bounded: no request hangs
            assert client.get("/readyz").status_code == 503
        finally:
            kafka.broker.start(timeout_s=180)
        deadline = time.monotonic() + 60
        i = 0
        while time.monotonic() < deadline:  # the producer reconnects by itself
            if post(client, f"after-{i}") == 202:
                accepted.append(f"after-{i}")
                break
            i += 1
            time.sleep(1)
        for j in range(5):
            assert post(client, f"later-{j}") == 202
            accepted.append(f"later-{j}")
        assert client.get("/readyz").status_code == 200
    topic = topics(settings).events(EventType.PAGE_VIEW)
    found = {
        codec.decode(v).event_id
        for _, v in read_all(settings.bootstrap_servers, topic, len(accepted))
    }
    assert set(accepted) <= found


def test_tracking_hits_and_decision_logs_wait_out_an_outage_in_the_spool(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    if kafka.broker is None:
        pytest.skip("an external cluster cannot be stopped by the tests")
    settings = one_ad(kafka, tmp_path, produce_timeout_ms=2000, spool_replay_every_s=0.5)
    names = topics(settings)
    with TestClient(create_app(settings)) as client:
        kafka.broker.stop()
        try:  # the visitor notices nothing
            body = {"placements": [{"placement": "inline"}], "user_id": "reader-2"}
            ad = decide_show_and_click(client, body)
            # past the producer's deadline, what it could not deliver is spooled
            eventually(lambda: Spool(settings.resolved_spool_dir).pending(), timeout_s=30)
        finally:
            kafka.broker.start(timeout_s=180)

        def on(topic: str) -> list[dict[str, object]] | None:
            return committed_records(settings.bootstrap_servers, topic) or None

        decision_id = ad["decision_id"]
        (decision,) = eventually(lambda: on(names.decisions), timeout_s=90)
        assert decision["decision_id"] == decision_id
        (impression,) = eventually(lambda: on(names.events(EventType.IMPRESSION)), 90)
        assert impression["event_id"] == f"imp-{decision_id}"
        (clicked,) = eventually(lambda: on(names.events(EventType.CLICK)), 90)
        assert clicked["event_id"] == f"clk-{decision_id}"
        eventually(lambda: not Spool(settings.resolved_spool_dir).pending() or None, 30)
