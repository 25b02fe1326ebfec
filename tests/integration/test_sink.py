"""The producers on the real broker: a decision log (nothing awaits it) delivers everything it
enqueues and tells the failures alone, even when nothing more is sent."""

from __future__ import annotations

import asyncio
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
        asyncio.run(sink.enqueue(messages[20:], failed))
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
