from __future__ import annotations

import asyncio

import orjson
import pytest

from kairos.api.ingest import Ingestor, RequestContext
from kairos.domain import codec
from kairos.domain.identity import Pseudonymizer
from kairos.errors import PayloadTooLarge
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.sink import MemorySink
from kairos.kafka.topics import Topics

TOPICS = Topics("t")
PSEUDO = Pseudonymizer(b"unit-test-key-0123456789")
CTX = RequestContext(ip="203.0.113.50", user_agent="UA/1.0")


def make(max_batch: int = 10) -> tuple[Ingestor, MemorySink]:
    sink = MemorySink()
    return Ingestor(sink, TOPICS, PSEUDO, max_batch=max_batch), sink


def batch(*events: dict[str, object]) -> bytes:
    return orjson.dumps({"events": list(events)})


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_valid_batch_goes_to_type_topics_keyed_by_pseudonym() -> None:
    ingestor, sink = make()
    body = batch(
        {"type": "page_view", "user_id": "alice", "event_id": "e1"},
        {"type": "search", "user_id": "bob", "query": "boots", "event_id": "e2"},
    )
    result = run(ingestor.ingest_batch(body, CTX))
    assert result.event_ids == ["e1", "e2"]
    assert not result.rejected
    assert [m.topic for m in sink.messages] == ["t.events.page_view", "t.events.search"]
    assert sink.messages[0].key == PSEUDO("alice").encode()
    event = codec.decode(sink.messages[1].value)
    assert event.user_key == PSEUDO("bob")
    assert event.ip == "203.0.113.0"
    assert event.user_agent == "UA/1.0"
    assert event.received_at is not None
    assert event.ts is not None
    assert all(b"alice" not in m.value and b"bob" not in m.value for m in sink.messages)


def test_event_fields_win_over_request_context() -> None:
    ingestor, sink = make()
    body = batch({"type": "page_view", "user_id": "a", "ip": "198.51.100.7", "user_agent": "X"})
    run(ingestor.ingest_batch(body, CTX))
    event = codec.decode(sink.messages[0].value)
    assert (event.ip, event.user_agent) == ("198.51.100.0", "X")


def test_mixed_batch_accepts_valid_and_dead_letters_the_rest() -> None:
    ingestor, sink = make()
    body = batch(
        {"type": "page_view", "user_id": "alice", "event_id": "ok1"},
        {"type": "search", "user_id": "secret-raw-id"},
        {"type": "click", "user_id": "carol", "decision_id": "d", "event_id": "ok2"},
        "not an object",
    )
    result = run(ingestor.ingest_batch(body, CTX))
    assert result.event_ids == ["ok1", "ok2"]
    assert [r.index for r in result.rejected] == [1, 3]
    assert "query" in result.rejected[0].errors[0]["msg"]
    dead = sink.on("t.events.dead_letter")
    assert len(dead) == 2
    record = orjson.loads(dead[0].value)
    assert record["reason"] == "validation_failed"
    assert record["index"] == 1
    assert record["payload"]["user_key"] == PSEUDO("secret-raw-id")
    assert dead[0].key == PSEUDO("secret-raw-id").encode()
    assert all(b"secret-raw-id" not in m.value for m in sink.messages)


def test_body_that_is_not_json_is_dead_lettered_without_the_raw_id() -> None:
    ingestor, sink = make()
    result = run(ingestor.ingest_batch(b'{"events": [{"user_id": "raw-7", ', CTX))
    assert not result.event_ids
    assert result.rejected
    (dead,) = sink.messages
    record = orjson.loads(dead.value)
    assert record["reason"] == "invalid_body"
    assert b"raw-7" not in dead.value
    assert PSEUDO("raw-7") in record["raw"]


def test_wrong_envelope_is_rejected() -> None:
    ingestor, sink = make()
    result = run(ingestor.ingest_batch(b"[1, 2]", CTX))
    assert "events" in result.rejected[0].errors[0]["msg"]
    assert len(sink.on("t.events.dead_letter")) == 1


def test_batch_over_the_maximum_is_refused_whole() -> None:
    ingestor, sink = make(max_batch=2)
    body = batch(*[{"type": "page_view", "user_id": "u"}] * 3)
    with pytest.raises(PayloadTooLarge, match="maximum is 2"):
        run(ingestor.ingest_batch(body, CTX))
    assert sink.messages == []


def test_unavailable_sink_raises_and_keeps_nothing() -> None:
    ingestor, sink = make()
    sink.available = False
    with pytest.raises(KafkaUnavailable):
        run(ingestor.ingest_one(orjson.dumps({"type": "page_view", "user_id": "u"}), CTX))
    assert sink.messages == []
