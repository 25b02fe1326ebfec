"""With the broker stopped the API answers 503; once it is back, every accepted event is there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kairos.api.app import create_app
from kairos.domain import codec
from kairos.domain.events import EventType
from kairos.runtime import topics
from tests.conftest import KafkaUnderTest
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
