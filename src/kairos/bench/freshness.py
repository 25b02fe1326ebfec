"""`kairos bench freshness`: from an interaction posted to the API to updated features in the
online feature store, against a bare Kafka produce→consume round trip in the same run."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from kairos.bench.harness import (
    BenchEnv,
    Progress,
    api_server,
    bench_env,
    kairos_process,
    percentiles_ms,
)
from kairos.domain.identity import Pseudonymizer
from kairos.errors import KairosError
from kairos.featurestore.topic import TopicFeatureStore
from kairos.kafka.admin import ensure_topics
from kairos.kafka.topics import Topics
from kairos.runtime import pseudonym_key
from kairos.settings import Settings


@dataclass(frozen=True)
class FreshnessPlan:
    samples: int = 200
    users: int = 20
    timeout_s: float = 10.0


def _kafka_round_trip(bootstrap: str, topic: str, samples: int) -> list[float]:
    """Produce one message and wait until a consumer sees it: the floor of any pipeline.

    `topic` must be new and empty (the run's own prefix guarantees it).
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    latencies = []
    try:
        for i in range(samples):
            payload = str(i).encode()
            start = time.perf_counter()
            producer.produce(topic, payload, b"round-trip", partition=0)  # compacted: keyed
            producer.flush(5)
            deadline = start + 10
            while time.perf_counter() < deadline:
                msg = consumer.poll(0.5)
                if msg is not None and not msg.error() and msg.value() == payload:
                    latencies.append(time.perf_counter() - start)
                    break
    finally:
        consumer.close()
    return latencies


def run(settings: Settings, plan: FreshnessPlan, progress: Progress) -> dict[str, object]:
    with bench_env(settings, "freshness") as env:
        topics = Topics(env.topic_prefix, settings.topic_partitions, settings.topic_replication)
        ensure_topics(env.bootstrap, topics.specs())
        progress("baseline: bare Kafka produce → consume round trips")
        baseline = _kafka_round_trip(env.bootstrap, topics.models, min(plan.samples, 200))
        progress("starting the API and the stream processor")
        with api_server(env) as base, kairos_process(env, "stream"):
            latencies = _measure(env, topics, base, plan, progress)
    fresh = percentiles_ms(latencies)
    floor = percentiles_ms(baseline)
    return {
        **fresh,
        "samples": len(latencies),
        "kafka_round_trip_p50_ms": floor["p50_ms"],
        "kafka_round_trip_p99_ms": floor["p99_ms"],
        "ratio_p50": round(floor["p50_ms"] / fresh["p50_ms"], 3) if fresh["p50_ms"] else 0.0,
        "stream_commit_interval_s": settings.stream_commit_interval_s,
    }


def _measure(
    env: BenchEnv, topics: Topics, base: str, plan: FreshnessPlan, progress: Progress
) -> list[float]:
    key_of = Pseudonymizer(pseudonym_key(Settings(data_dir=env.workdir)))
    store = TopicFeatureStore(env.bootstrap, topics.user_features)
    users = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(plan.users)]
    seen = dict.fromkeys(users, 0)
    latencies: list[float] = []
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            _warm_up(client, store, users[0], key_of(users[0]), plan.timeout_s * 6)
            seen[users[0]] = 1
            progress(f"measuring {plan.samples} interactions")
            for i in range(plan.samples):
                user = users[i % len(users)]
                event = {
                    "type": "page_view",
                    "user_id": user,
                    "event_id": uuid.uuid4().hex,
                    "page_url": f"https://shop.example/eco/item-{i}",
                }
                start = time.perf_counter()
                client.post("/v1/events", json=event).raise_for_status()
                seen[user] += 1
                if _wait_for(store, key_of(user), seen[user], plan.timeout_s):
                    latencies.append(time.perf_counter() - start)
    finally:
        store.close()
    return latencies


def _warm_up(
    client: httpx.Client, store: TopicFeatureStore, user: str, key: str, timeout_s: float
) -> None:
    """The first event waits for the consumer group to form; it is not measured."""
    event = {"type": "page_view", "user_id": user, "page_url": "https://shop.example/"}
    client.post("/v1/events", json=event).raise_for_status()
    if not _wait_for(store, key, 1, timeout_s):
        raise KairosError(f"the stream processor produced no features within {timeout_s:.0f}s")


def _wait_for(store: TopicFeatureStore, key: str, events: int, timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        features = store.get(key)
        if features is not None and features.events >= events:
            return True
        time.sleep(0.001)
    return False
