"""The API over HTTP (in process) with the in-memory sink and a SQLite database."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from kairos.api.app import create_app
from kairos.db.engine import make_engine
from kairos.kafka.sink import MemorySink
from kairos.settings import Settings


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(settings: Settings, sink: MemorySink) -> Iterator[TestClient]:
    tuned = settings.model_copy(update={"max_batch_events": 3, "max_body_bytes": 4096})
    engine = make_engine(settings.resolved_database_url)
    with TestClient(create_app(tuned, sink=sink, engine=engine)) as client:
        yield client
    engine.dispose()


def test_single_event_is_accepted(client: TestClient, sink: MemorySink) -> None:
    response = client.post(
        "/v1/events", json={"type": "page_view", "user_id": "u1", "event_id": "ev-1"}
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "event_ids": ["ev-1"]}
    assert [m.topic for m in sink.messages] == ["kairos.events.page_view"]


def test_invalid_single_event_is_422_with_the_field(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/events", json={"type": "search", "user_id": "u1"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_failed"
    assert "query" in body["rejected"][0]["errors"][0]["msg"]
    assert [m.topic for m in sink.messages] == ["kairos.events.dead_letter"]


def test_mixed_batch_is_207(client: TestClient) -> None:
    events = [{"type": "page_view", "user_id": "u"}, {"type": "click", "user_id": "u"}]
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 1
    assert body["rejected"][0]["errors"][0]["msg"].startswith("Object missing required field")


def test_batch_over_the_maximum_is_413(client: TestClient) -> None:
    response = client.post(
        "/v1/events/batch", json={"events": [{"type": "page_view", "user_id": "u"}] * 4}
    )
    assert response.status_code == 413
    assert "maximum is 3" in response.json()["message"]


def test_oversized_body_is_413(client: TestClient, sink: MemorySink) -> None:
    body = orjson.dumps({"type": "page_view", "user_id": "u", "title": "x" * 5000})
    response = client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert sink.messages == []


def test_chunked_oversized_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"type": "page_view", "user_id": "u", "title": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/v1/events", content=chunks())
    assert response.status_code == 413


def test_kafka_down_is_503_with_retry_after(client: TestClient, sink: MemorySink) -> None:
    sink.available = False
    response = client.post("/v1/events", json={"type": "page_view", "user_id": "u"})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == "kafka_unavailable"


def test_health_and_readiness(client: TestClient, sink: MemorySink) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "kafka": True, "database": True}
    sink.available = False
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["kafka"] is False


def test_openapi_documents_the_event_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/events", "/v1/events/batch", "/healthz", "/readyz"} <= set(spec["paths"])
    body = spec["paths"]["/v1/events/batch"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/EventBatch")
    schemas = spec["components"]["schemas"]
    assert {"EventBatch", "PageView", "Search", "Impression", "Consent"} <= set(schemas)
    assert "query" in schemas["Search"]["required"]


def test_metrics_count_ingested_events(client: TestClient) -> None:
    def accepted() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('kairos_ingest_events_total{outcome="accepted"}'):
                return float(line.split()[-1])
        return 0.0

    before = accepted()
    events = [{"type": "page_view", "user_id": "u"}, {"type": "page_view", "user_id": "v"}]
    assert client.post("/v1/events/batch", json={"events": events}).status_code == 202
    assert accepted() == before + 2
