"""Events through the API and the stream processor (a real `kairos stream` process) into the
features topic and the online feature store; bad messages into the dead-letter topic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import orjson
import pytest
from confluent_kafka import Producer
from fastapi.testclient import TestClient

from kairos.api.app import create_app
from kairos.bench.harness import free_port
from kairos.domain.events import EventType
from kairos.domain.identity import Pseudonymizer
from kairos.featurestore.topic import TopicFeatureStore
from kairos.kafka.lag import PartitionLag, group_lag
from kairos.processes import stop_process
from kairos.runtime import pseudonym_key, topics
from kairos.settings import Settings
from tests.conftest import KafkaUnderTest
from tests.integration.test_pipeline import read_all

pytestmark = pytest.mark.kafka
METRICS_PORT = free_port()
T = TypeVar("T")


def environment(settings: Settings) -> dict[str, str]:
    return os.environ | {
        "KAIROS_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "KAIROS_TOPIC_PREFIX": settings.topic_prefix,
        "KAIROS_DATA_DIR": str(settings.data_dir),
        "KAIROS_STREAM_GROUP": f"{settings.topic_prefix}-stream",
        "KAIROS_LOG_LEVEL": "WARNING",
        "KAIROS_STREAM_METRICS_PORT": str(METRICS_PORT),
    }


def eventually(probe: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s}s")


@pytest.fixture
def platform(
    kafka: KafkaUnderTest, tmp_path: Path
) -> Iterator[tuple[TestClient, Settings, TopicFeatureStore]]:
    settings = kafka.settings(tmp_path)
    with TestClient(create_app(settings)) as client:  # declares the topics
        log = (tmp_path / "stream.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "kairos", "stream"],
            env=environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            store = TopicFeatureStore(settings.bootstrap_servers, topics(settings).user_features)
            try:
                yield client, settings, store
            finally:
                store.close()
        finally:
            stop_process(process)
            log.close()


def test_events_become_features(platform: tuple[TestClient, Settings, TopicFeatureStore]) -> None:
    client, settings, store = platform
    consent = {"personalization": True}
    events = [
        {
            "type": "page_view",
            "user_id": "ana",
            "event_id": "v1",
            "consent": consent,
            "page_url": "https://shop.example/eco/bamboo-brush",
            "product_ids": ["p1"],
        },
        {
            "type": "page_view",
            "user_id": "ana",
            "event_id": "v2",
            "consent": consent,
            "page_url": "https://shop.example/eco/solar-lamp",
            "product_ids": ["p2"],
        },
        {
            "type": "search",
            "user_id": "ana",
            "event_id": "s1",
            "query": "Solar charger",
            "consent": consent,
        },
        {
            "type": "add_to_cart",
            "user_id": "ana",
            "event_id": "c1",
            "product_ids": ["p2"],
            "consent": consent,
        },
        {
            "type": "page_view",
            "user_id": "ana",
            "event_id": "v1",
            "consent": consent,
            "page_url": "https://shop.example/eco/bamboo-brush",
            "product_ids": ["p1"],
        },  # retry
    ]
    assert client.post("/v1/events/batch", json={"events": events}).status_code == 202
    key = Pseudonymizer(pseudonym_key(settings))("ana")

    def complete() -> object:
        features = store.get(key)
        return features if features is not None and features.events >= 4 else None

    features = eventually(complete)
    time.sleep(2)  # a duplicate, had it been counted, would have arrived by now
    features = store.get(key)
    assert features is not None
    assert features.events == 4  # the retried v1 counted once
    assert features.viewed == ["p2", "p1"]
    assert features.carted == ["p2"]
    assert features.searches == ["solar charger"]
    assert features.personalization is True
    assert features.session_depth == 4
    assert set(features.interests) == {"eco"}
    assert features.last_seen is not None
    assert features.counts["page_view"].count(features.last_seen, timedelta(hours=1)) == 2
    names = topics(settings)
    inputs = [*(names.events(t) for t in EventType), names.decisions]
    group = environment(settings)["KAIROS_STREAM_GROUP"]

    def caught_up() -> list[PartitionLag] | None:
        lags = group_lag(settings.bootstrap_servers, group, inputs)
        return lags if sum(p.lag for p in lags) == 0 else None

    lags = eventually(caught_up, timeout_s=30)
    metrics = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text
    assert 'kairos_stream_messages_total{outcome="processed"} 4.0' in metrics
    assert 'kairos_stream_messages_total{outcome="duplicate"} 1.0' in metrics
    assert {p.topic for p in lags} == set(inputs)
    assert sum(p.end for p in lags) == 5  # every message was committed past


def test_a_poison_message_is_dead_lettered_and_the_stream_goes_on(
    platform: tuple[TestClient, Settings, TopicFeatureStore],
) -> None:
    client, settings, store = platform
    names = topics(settings)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(names.events(EventType.CLICK), b"\x00 not json", b"k" * 32)
    producer.flush(10)
    body = {"type": "page_view", "user_id": "bo", "event_id": "after-poison"}
    assert client.post("/v1/events", json=body).status_code == 202
    key = Pseudonymizer(pseudonym_key(settings))("bo")
    assert eventually(lambda: store.get(key)).events == 1
    dead = [orjson.loads(v) for _, v in read_all(settings.bootstrap_servers, names.dead_letter, 1)]
    assert any(d["source"] == "stream" and d["reason"] == "invalid_event" for d in dead)
