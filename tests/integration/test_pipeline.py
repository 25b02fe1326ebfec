"""Events through the real API into the real broker, read back from their topics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from kairos.api.app import create_app
from kairos.domain import codec
from kairos.domain.identity import Pseudonymizer
from kairos.kafka.admin import admin_client, existing_topics
from kairos.runtime import pseudonym_key, topics
from kairos.settings import Settings
from tests.conftest import KafkaUnderTest

pytestmark = pytest.mark.kafka


def read_all(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0
) -> list[tuple[bytes | None, bytes]]:
    """Every message of `topic` from the beginning, waiting until `expected` have arrived."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[tuple[bytes | None, bytes]] = []
    try:
        import time

        deadline = time.monotonic() + timeout_s
        while len(found) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            found.append((msg.key(), msg.value()))
        # a short extra wait catches anything beyond what was expected
        extra = consumer.poll(1.0)
        if extra is not None and not extra.error():
            found.append((extra.key(), extra.value()))
    finally:
        consumer.close()
    return found


@pytest.fixture
def live(kafka: KafkaUnderTest, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = kafka.settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        yield client, settings


def test_start_up_creates_the_declared_topics(live: tuple[TestClient, Settings]) -> None:
    _, settings = live
    present = existing_topics(admin_client(settings.bootstrap_servers))
    for spec in topics(settings).specs():
        assert present.get(spec.name) == spec.partitions


def test_events_land_on_their_topics_keyed_by_pseudonym(
    live: tuple[TestClient, Settings],
) -> None:
    client, settings = live
    events = [
        {"type": "page_view", "user_id": "alice@example", "event_id": "pv-1"},
        {"type": "search", "user_id": "alice@example", "event_id": "s-1", "query": "boots"},
        {
            "type": "add_to_cart",
            "user_id": "bob",
            "event_id": "c-1",
            "product_ids": ["p9"],
            "price": 12.5,
            "currency": "EUR",
        },
        {
            "type": "impression",
            "user_id": "bob",
            "event_id": "i-1",
            "decision_id": "d-1",
            "creative_id": "cr-1",
        },
    ]
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 202, response.text
    pseudo = Pseudonymizer(pseudonym_key(settings))
    names = topics(settings)
    from kairos.domain.events import EventType

    for sent in events:
        ((key, value),) = read_all(
            settings.bootstrap_servers, names.events(EventType(sent["type"])), 1
        )
        event = codec.decode(value)
        assert event.event_id == sent["event_id"]
        assert key == pseudo(str(sent["user_id"])).encode() == codec.key_of(event)
        assert str(sent["user_id"]).encode() not in value


def test_invalid_events_land_in_the_dead_letter_topic(live: tuple[TestClient, Settings]) -> None:
    client, settings = live
    events = [
        {"type": "page_view", "user_id": "carol"},
        {"type": "conversion", "user_id": "raw-dave", "value": -3},
    ]
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 207
    ((key, value),) = read_all(settings.bootstrap_servers, topics(settings).dead_letter, 1)
    record = orjson.loads(value)
    assert record["reason"] == "validation_failed"
    assert record["index"] == 1
    assert "value" in str(record["errors"])
    assert b"raw-dave" not in value
    assert key == Pseudonymizer(pseudonym_key(settings))("raw-dave").encode()
