"""The producers on the real broker: a decision log (nothing awaits it) delivers everything it
enqueues and tells the failures alone, even when nothing more is sent; what meets its full
local queue is told at once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kairos.kafka.admin import ensure_topics
from kairos.kafka.sink import KafkaLog, Message
from kairos.kafka.topics import TopicSpec
from tests.conftest import KafkaUnderTest
from tests.integration.test_pipeline import read_all

pytestmark = pytest.mark.kafka


def test_a_message_log_delivers_what_it_enqueues_and_tells_only_failures(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    prefix = kafka.settings(tmp_path).topic_prefix
    logs, small = f"{prefix}.logs", f"{prefix}.small"
    ensure_topics(
        kafka.bootstrap,
        [TopicSpec(logs, 2), TopicSpec(small, 1, extra={"max.message.bytes": "2000"})],
    )
    sink = KafkaLog(kafka.bootstrap, timeout_ms=5000, linger_ms=5)
    failures: list[str] = []

    def failed(message: Message, error: str) -> None:
        assert message.topic == small  # told which message, to keep it (the spool)
        failures.append(error)

    messages = [Message(logs, f"k{i}".encode(), f"v{i}".encode()) for i in range(40)]
    try:
        assert sink.send_nowait(messages[:20], failed) == 20
        assert sink.send_nowait(messages[20:], failed) == 20
        # too large for its topic (random bytes: compression cannot shrink them)
        sink.send_nowait([Message(small, b"k", os.urandom(20_000))], failed)
        deadline = time.monotonic() + 15  # told with nothing more sent: the idle poll
        while not failures and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(failures) == 1
        assert "large" in failures[0].lower()
        # no `send`: it could not tell a delivery from a missing report
        assert not hasattr(sink, "send")
    finally:
        sink.close()  # waits for every delivery
    assert len(failures) == 1
    found = read_all(kafka.bootstrap, logs, len(messages))
    assert sorted(value for _, value in found) == sorted(m.value for m in messages)


def test_what_meets_a_full_local_queue_is_told_at_once_and_the_rest_delivered(
    kafka: KafkaUnderTest, tmp_path: Path
) -> None:
    topic = f"{kafka.settings(tmp_path).topic_prefix}.logs"
    ensure_topics(kafka.bootstrap, [TopicSpec(topic, 1)])
    # a long linger holds the first messages in the local queue while the rest arrive
    sink = KafkaLog(kafka.bootstrap, timeout_ms=10_000, linger_ms=3000, max_queued=10)
    told: list[tuple[Message, str]] = []
    messages = [Message(topic, b"k", f"v{i}".encode()) for i in range(15)]
    try:
        assert sink.send_nowait(messages, lambda m, error: told.append((m, error))) == 10
        assert [m for m, _ in told] == messages[10:]  # in order, each named
        assert all("queue is full" in error for _, error in told)
    finally:
        sink.close()
    found = read_all(kafka.bootstrap, topic, 10)
    assert sorted(value for _, value in found) == sorted(m.value for m in messages[:10])
