"""The stream and the database writer on the real broker and both databases: labelled
examples, interaction history, profiles and performance roll-ups with exact values, also
after the processes are killed with SIGKILL mid-stream and restarted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kairos.api.app import create_app
from kairos.bench.ingest import wire_messages
from kairos.bench.workload import Workload
from kairos.db.engine import make_engine
from kairos.db.migrate import upgrade
from kairos.db.models import InteractionRecord, Performance, UserProfile
from kairos.domain.identity import Pseudonymizer
from kairos.kafka.admin import ensure_topics
from kairos.processes import stop_process
from kairos.runtime import pseudonym_key, topics
from kairos.settings import Settings
from tests.conftest import KafkaUnderTest

pytestmark = pytest.mark.kafka


@dataclass
class Platform:
    settings: Settings
    tmp: Path
    engine: Engine
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        s = self.settings
        return os.environ | {
            "KAIROS_KAFKA_BOOTSTRAP": s.bootstrap_servers,
            "KAIROS_TOPIC_PREFIX": s.topic_prefix,
            "KAIROS_DATA_DIR": str(s.data_dir),
            "KAIROS_DATABASE_URL": s.resolved_database_url,
            "KAIROS_STREAM_GROUP": f"{s.topic_prefix}-stream",
            "KAIROS_PERSIST_GROUP": f"{s.topic_prefix}-persist",
            "KAIROS_STREAM_METRICS_PORT": "0",
            "KAIROS_PERSIST_METRICS_PORT": "0",
            "KAIROS_CLICK_WINDOW_S": str(s.click_window_s),
            "KAIROS_LOG_LEVEL": "INFO",
        }

    def start(self, command: str, name: str | None = None) -> Path:
        path = self.tmp / f"{name or command}-{len(self.logs)}.log"
        log = path.open("wb")
        self.logs.append(log)
        self.children[name or command] = subprocess.Popen(
            [sys.executable, "-m", "kairos", command],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return path

    def terminate(self, name: str) -> None:
        stop_process(self.children.pop(name))

    def kill(self, command: str) -> None:
        process = self.children.pop(command)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.children.values():
            stop_process(process)
        for log in self.logs:
            log.close()


@pytest.fixture
def platform(kafka: KafkaUnderTest, tmp_path: Path, database_url: str) -> Iterator[Platform]:
    settings = kafka.settings(tmp_path, database_url=database_url, click_window_s=3.0)
    ensure_topics(settings.bootstrap_servers, topics(settings).specs())
    engine = make_engine(database_url)
    upgrade(engine)
    running = Platform(settings, tmp_path, engine)
    try:
        yield running
    finally:
        running.stop()
        engine.dispose()


def eventually(probe: Callable[[], Any], timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s}s (last: {last!r})")


def committed_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed record of `topic` (read_committed), read to the end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    records: list[dict[str, Any]] = []
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < 2.0:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            idle_since = time.monotonic()
            records.append(orjson.loads(message.value() or b"null"))
    finally:
        consumer.close()
    return records


def totals(engine: Engine, grain: str = "minute", **where: str) -> dict[str, float]:
    """Summed roll-ups of one grain over the rows matching `where` (slot "" = ad totals)."""
    metrics = ("impressions", "viewable", "clicks", "conversions", "spend", "revenue")
    query = select(*(func.coalesce(func.sum(getattr(Performance, m)), 0) for m in metrics))
    query = query.where(Performance.grain == grain)
    for column, value in where.items():
        query = query.where(getattr(Performance, column) == value)
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return {m: round(float(v), 6) for m, v in zip(metrics, row, strict=True)}


def history_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(InteractionRecord)).scalar_one())


def test_events_become_examples_history_profiles_and_exact_rollups(platform: Platform) -> None:
    settings = platform.settings
    platform.start("stream")
    platform.start("persist")
    ad = {"campaign_id": "c1", "ad_id": "a1", "creative_id": "cr1", "placement_id": "p1"}
    shown = {"elements": {"headline": "h1", "image": "i1"}}  # clicks carry them, as tracked
    consent = {"personalization": True}
    ana = [
        {"type": "page_view", "event_id": "v1", "page_url": "https://shop.example/eco/lamp"},
        {
            "type": "impression",
            "event_id": "i1",
            "decision_id": "d1",
            "cost": 0.01,
            "elements": {"headline": "h1", "image": "i1"},
        }
        | ad,
        {"type": "impression", "event_id": "i1v", "decision_id": "d1", "viewable": True} | ad,
        {"type": "click", "event_id": "k1", "decision_id": "d1", "cost": 0.5} | ad | shown,
        {"type": "click", "event_id": "k1", "decision_id": "d1", "cost": 0.5}
        | ad
        | shown,  # a retry
        {"type": "conversion", "event_id": "o1", "value": 20.0},
    ]
    bo = [
        {
            "type": "impression",
            "event_id": "i2",
            "decision_id": "d2",
            "cost": 0.01,
            "elements": {"headline": "h2", "image": "i1"},
        }
        | ad,
    ]
    events = [e | {"user_id": "ana", "consent": consent} for e in ana]
    events += [e | {"user_id": "bo", "consent": consent} for e in bo]
    order = events.pop(5)  # the purchase comes a little later, as it does on a real site
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/events/batch", json={"events": events}).status_code == 202
        eventually(lambda: totals(platform.engine, campaign_id="c1", slot="")["clicks"] == 1)
        assert client.post("/v1/events", json=order).status_code == 202

    expected = {
        "impressions": 2.0,
        "viewable": 1.0,
        "clicks": 1.0,
        "conversions": 1.0,
        "spend": 0.52,
        "revenue": 20.0,
    }
    eventually(lambda: totals(platform.engine, campaign_id="c1", slot="") == expected)
    assert totals(platform.engine, slot="headline", variant="h1") | {"spend": 0} == {
        "impressions": 1.0,
        "viewable": 1.0,
        "clicks": 1.0,
        "conversions": 1.0,
        "spend": 0,
        "revenue": 20.0,
    }
    h2 = totals(platform.engine, slot="headline", variant="h2")
    assert (h2["impressions"], h2["clicks"]) == (1.0, 0.0)
    assert totals(platform.engine, slot="image", variant="i1")["impressions"] == 2.0
    combos = totals(platform.engine, combination="headline=h1|image=i1", slot="")
    assert (combos["impressions"], combos["clicks"]) == (1.0, 1.0)
    assert totals(platform.engine, grain="hour", campaign_id="c1", slot="") == expected
    assert history_count(platform.engine) == 6  # the retried click is there once

    # the click window (3 s here) closes on the wall clock for bo's impression: a negative
    names = topics(settings)

    def examples() -> list[dict[str, Any]] | None:
        found = committed_records(settings.bootstrap_servers, names.labelled_examples)
        return found if len(found) >= 3 else None

    found = eventually(examples, timeout_s=60)
    by_id = {e["example_id"]: e for e in found}
    assert len(by_id) == len(found) == 3
    assert by_id["d1:click:1"]["label"] == 1
    assert by_id["d1:click:1"]["elements"] == {"headline": "h1", "image": "i1"}
    assert by_id["d1:conversion:1"]["value"] == 20.0
    assert by_id["d2:click:0"]["label"] == 0
    assert by_id["d2:click:0"]["delay_s"] is None
    assert by_id["d2:click:0"]["features"]["personalization"] is True

    key = Pseudonymizer(pseudonym_key(settings))
    with platform.engine.connect() as conn:
        profiles = {p.user_key: p for p in conn.execute(select(UserProfile)).all()}
    assert profiles[key("ana")].event_count == 5
    assert profiles[key("ana")].consent_personalization is True
    assert "eco" in profiles[key("ana")].interests
    assert profiles[key("bo")].event_count == 1


def test_sigkill_mid_stream_leaves_every_count_exact(platform: Platform) -> None:
    settings = platform.settings
    names = topics(settings)
    workload = Workload(seed=11, users=300, start=datetime.now(UTC) - timedelta(minutes=20))
    batches = [workload.batch(1000) for _ in range(6)]
    messages = wire_messages(batches, names)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20})
    for m in messages:
        producer.produce(m.topic, m.value, m.key)
    assert producer.flush(30) == 0
    events = [e for b in batches for e in b]
    expected = {
        "impressions": sum(e["type"] == "impression" for e in events),
        "viewable": sum(e["type"] == "impression" and e["viewable"] for e in events),
        "clicks": sum(e["type"] == "click" for e in events),  # each on its own decision
        "conversions": sum(e["type"] == "conversion" for e in events),
        "revenue": round(sum(e.get("value", 0) for e in events if e["type"] == "conversion"), 6),
    }

    platform.start("stream")
    platform.start("persist")
    eventually(lambda: history_count(platform.engine) > 0, timeout_s=120)
    platform.kill("stream")  # mid-stream: state, outputs and offsets must agree afterwards
    platform.kill("persist")
    done_before = history_count(platform.engine)
    assert done_before < len(events), "killed too late to prove anything; make the load bigger"
    platform.start("persist")
    platform.start("stream")
    time.sleep(1.0)
    platform.kill("persist")  # and the writer once more, while it is busy
    platform.start("persist")

    eventually(lambda: history_count(platform.engine) == len(events), timeout_s=180)
    time.sleep(2.0)  # anything counted twice would have arrived by now
    got = totals(platform.engine, slot="")
    assert {k: got[k] for k in expected} == {k: float(v) for k, v in expected.items()}
    assert history_count(platform.engine) == len(events)
    interactions = committed_records(settings.bootstrap_servers, names.interactions)
    assert len(interactions) == len(events)  # exactly once on the topic too, not only in SQL
    assert len({(i["event_type"], i["event_id"]) for i in interactions}) == len(events)


def assigned(log: Path) -> set[int]:
    """The partitions a processor was last given, from its log."""
    lines = [ln for ln in log.read_text().splitlines() if 'msg="partitions assigned"' in ln]
    if not lines:
        return set()
    found = re.search(r'partitions="?\[([0-9, ]*)\]', lines[-1])
    assert found is not None, lines[-1]
    return {int(p) for p in found.group(1).split(",") if p.strip()}


def test_two_processors_split_the_partitions_and_one_takes_over_exactly(
    platform: Platform,
) -> None:
    settings = platform.settings
    names = topics(settings)
    workload = Workload(seed=12, users=300, start=datetime.now(UTC) - timedelta(minutes=20))
    batches = [workload.batch(1000) for _ in range(4)]
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20})
    for m in wire_messages(batches[:2], names):
        producer.produce(m.topic, m.value, m.key)
    assert producer.flush(30) == 0
    first = platform.start("stream", "stream-a")
    second = platform.start("stream", "stream-b")
    platform.start("persist")

    def split() -> bool:
        a, b = assigned(first), assigned(second)
        return bool(a) and bool(b) and not a & b and a | b == {0, 1, 2}

    eventually(split, timeout_s=120)
    eventually(lambda: history_count(platform.engine) == 2000, timeout_s=120)
    platform.terminate("stream-a")  # hands its partitions over after a final commit
    for m in wire_messages(batches[2:], names):
        producer.produce(m.topic, m.value, m.key)
    assert producer.flush(30) == 0
    eventually(lambda: assigned(second) == {0, 1, 2}, timeout_s=120)
    eventually(lambda: history_count(platform.engine) == 4000, timeout_s=120)
    time.sleep(2.0)
    events = [e for b in batches for e in b]
    got = totals(platform.engine, slot="")
    assert got["impressions"] == sum(e["type"] == "impression" for e in events)
    assert got["clicks"] == sum(e["type"] == "click" for e in events)
    interactions = committed_records(settings.bootstrap_servers, names.interactions)
    assert len(interactions) == len(events)
    # the survivor restored the other's users from the changelog: their features carry on
    per_user: dict[str, int] = {}
    for record in interactions:
        per_user[record["user_key"]] = per_user.get(record["user_key"], 0) + 1
    assert len(per_user) == len({e["user_id"] for e in events})
    latest = {}
    for record in committed_records(settings.bootstrap_servers, names.user_features):
        latest[record["user_key"]] = record["events"]
    assert latest == per_user
