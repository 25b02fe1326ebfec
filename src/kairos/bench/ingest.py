"""`kairos bench ingest`: events/s through the HTTP API vs. straight into Kafka, same settings.

Both sides send the same events with the same producer configuration; the API side adds HTTP,
validation, pseudonymisation and serialisation, which is what the ratio prices.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson
from confluent_kafka import Producer

from kairos.api.ingest import Ingestor, RequestContext
from kairos.bench.harness import BenchEnv, Progress, api_server, bench_env, percentiles_ms
from kairos.bench.workload import Workload
from kairos.domain.identity import Pseudonymizer
from kairos.kafka.admin import ensure_topics
from kairos.kafka.sink import MemorySink, Message, producer_config
from kairos.kafka.topics import Topics
from kairos.settings import Settings


@dataclass(frozen=True)
class IngestPlan:
    duration_s: float = 20.0
    batch_size: int = 500
    connections: int = 8
    distinct_batches: int = 40
    workers: int = 1


def _post_loop(base: str, bodies: list[bytes], plan: IngestPlan) -> tuple[int, list[float]]:
    """`plan.connections` keep-alive connections posting batches until the time is up.

    Threads on the standard library's HTTP client: the lightest load generator at hand, so
    that it takes as little as possible of the CPU the API and the broker share with it.
    """
    url = urlsplit(base)
    accepted = [0] * plan.connections
    latencies: list[list[float]] = [[] for _ in range(plan.connections)]
    deadline = time.perf_counter() + plan.duration_s

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        i = k
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                conn.request(
                    "POST",
                    "/v1/events/batch",
                    bodies[i % len(bodies)],
                    {"content-type": "application/json"},
                )
                response = conn.getresponse()
                payload = response.read()
                latencies[k].append(time.perf_counter() - start)
                if response.status == 202:
                    accepted[k] += orjson.loads(payload)["accepted"]
                i += plan.connections
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(plan.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(accepted), [x for per in latencies for x in per]


def wire_messages(batches: list[list[dict[str, object]]], topics: Topics) -> list[Message]:
    """The exact messages the API would produce for these batches (same keys and values)."""
    sink = MemorySink()
    ingestor = Ingestor(
        sink, topics, Pseudonymizer(b"bench-pseudonym-key-0123456789"), max_batch=10**6
    )
    for batch in batches:
        asyncio.run(ingestor.ingest_batch(orjson.dumps({"events": batch}), RequestContext()))
    return sink.messages


def _raw_producer(
    bootstrap: str, messages: list[Message], duration_s: float, linger_ms: int
) -> float:
    """The same messages, produced in a tight loop and flushed: the ceiling for this client."""
    failed = 0

    def on_delivery(err: object, _msg: object) -> None:  # reports only errors (same config)
        nonlocal failed
        if err is not None:
            failed += 1

    producer = Producer(
        producer_config(bootstrap, timeout_ms=30_000, linger_ms=linger_ms, client_id="bench-raw")
    )
    start = time.perf_counter()
    deadline = start + duration_s
    i = 0
    while time.perf_counter() < deadline:
        m = messages[i % len(messages)]
        try:
            producer.produce(m.topic, m.value, m.key, on_delivery=on_delivery)
            i += 1
        except BufferError:
            producer.poll(0.001)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    return (i - failed) / (time.perf_counter() - start)


def run(settings: Settings, plan: IngestPlan, progress: Progress) -> dict[str, object]:
    workload = Workload(seed=11)
    batches = [workload.batch(plan.batch_size) for _ in range(plan.distinct_batches)]
    bodies = [orjson.dumps({"events": b}) for b in batches]
    with bench_env(settings, "ingest") as env:
        topics = _create_topics(env, settings)
        messages = wire_messages(batches, topics)
        progress("warming the broker up (not measured)")
        linger = settings.produce_linger_ms
        _raw_producer(env.bootstrap, messages, min(5.0, plan.duration_s), linger)
        progress(f"raw producer baseline for {plan.duration_s:.0f}s")
        raw_rate = _raw_producer(env.bootstrap, messages, plan.duration_s, linger)
        progress(f"API ingestion for {plan.duration_s:.0f}s ({plan.connections} connections)")
        with api_server(env, workers=plan.workers) as base:
            start = time.perf_counter()
            accepted, latencies = _post_loop(base, bodies, plan)
            api_rate = accepted / (time.perf_counter() - start)
    requests = percentiles_ms(latencies) if latencies else {}
    return {
        "events_per_s": round(api_rate, 1),
        "raw_producer_events_per_s": round(raw_rate, 1),
        "ratio": round(api_rate / raw_rate, 3) if raw_rate else 0.0,
        "batch_size": plan.batch_size,
        "connections": plan.connections,
        "api_workers": plan.workers,
        "producer_linger_ms": settings.produce_linger_ms,
        "duration_s": plan.duration_s,
        "requests": len(latencies),
        "request_p50_ms": requests.get("p50_ms"),
        "request_p99_ms": requests.get("p99_ms"),
        "event_bytes_avg": round(sum(len(m.value) for m in messages) / len(messages), 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _create_topics(env: BenchEnv, settings: Settings) -> Topics:
    topics = Topics(env.topic_prefix, settings.topic_partitions, settings.topic_replication)
    ensure_topics(env.bootstrap, topics.specs())
    return topics
