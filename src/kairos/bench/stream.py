"""`kairos bench stream`: events/s the stream processor sustains with all features on, against a
bare consume-and-commit loop over the same messages in the same run."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka import Consumer, Producer

from kairos.bench.harness import BenchEnv, Progress, bench_env, free_port, kairos_process
from kairos.bench.ingest import wire_messages
from kairos.bench.workload import Workload
from kairos.domain.events import EventType
from kairos.errors import KairosError
from kairos.kafka.admin import ensure_topics
from kairos.kafka.topics import Topics
from kairos.settings import Settings


@dataclass(frozen=True)
class StreamPlan:
    events: int = 100_000
    timeout_s: float = 300.0


def _load(env: BenchEnv, topics: Topics, count: int) -> None:
    # recent timestamps: the cleaning step refuses events older than a week
    workload = Workload(seed=5, users=2000, start=datetime.now(UTC) - timedelta(hours=1))
    messages = wire_messages([workload.batch(1000) for _ in range(count // 1000)], topics)
    producer = Producer({"bootstrap.servers": env.bootstrap, "linger.ms": 20})
    for m in messages:
        while True:
            try:
                producer.produce(m.topic, m.value, m.key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def _bare_consumer(env: BenchEnv, inputs: list[str], count: int, timeout_s: float) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": env.bootstrap,
            "group.id": f"bare-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(inputs)
    seen, start, deadline = 0, None, time.monotonic() + timeout_s
    try:
        while seen < count and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            if batch and start is None:
                start = time.perf_counter()
            seen += sum(1 for m in batch if not m.error())
            if batch:
                consumer.commit(asynchronous=True)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    if start is None:
        raise KairosError("the bare consumer read nothing")
    return seen / (time.perf_counter() - start)


def _processed(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("kairos_stream_messages_total{")
    )


def _processor(env: BenchEnv, count: int, timeout_s: float, port: int) -> float:
    start = None
    deadline = time.monotonic() + timeout_s
    done = 0.0
    while time.monotonic() < deadline:
        done = _processed(port)
        if done > 0 and start is None:
            if done >= count:  # all of it between two looks: nothing to time
                raise KairosError(
                    f"the processor handled all {count} events before it could be timed: "
                    "give it more (--events)"
                )
            start, first = time.perf_counter(), done
        if done >= count:
            assert start is not None
            return (done - first) / (time.perf_counter() - start)
        time.sleep(0.05)
    raise KairosError(f"the processor handled {done:.0f} of {count} events in {timeout_s:.0f}s")


def run(settings: Settings, plan: StreamPlan, progress: Progress) -> dict[str, object]:
    with bench_env(settings, "stream") as env:
        topics = Topics(env.topic_prefix, settings.topic_partitions, settings.topic_replication)
        ensure_topics(env.bootstrap, topics.specs())
        inputs = [topics.events(t) for t in EventType]
        progress(f"loading {plan.events} events into the event topics")
        _load(env, topics, plan.events)
        progress("baseline: bare consume-and-commit loop")
        bare = _bare_consumer(env, inputs, plan.events, plan.timeout_s)
        progress("the stream processor, all features on")
        port = free_port()
        env_extra = {"KAIROS_STREAM_METRICS_PORT": str(port)}
        with kairos_process(env, "stream", extra_env=env_extra):
            rate = _processor(env, plan.events, plan.timeout_s, port)
    return {
        "events_per_s": round(rate, 1),
        "bare_consumer_events_per_s": round(bare, 1),
        "ratio": round(rate / bare, 3) if bare else 0.0,
        "events": plan.events,
        "partitions_per_topic": settings.topic_partitions,
    }
