from __future__ import annotations

from kairos.domain.events import EventType
from kairos.kafka.topics import Topics


def test_one_topic_per_event_type_under_the_prefix() -> None:
    topics = Topics("acme")
    names = {topics.events(t) for t in EventType}
    assert names == {f"acme.events.{t.value}" for t in EventType}
    assert names <= {s.name for s in topics.specs()}


def test_declaration_is_complete_and_unique() -> None:
    specs = Topics("k", partitions=6).specs()
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    by_name = {s.name: s for s in specs}
    assert by_name["k.events.dead_letter"].config()["cleanup.policy"] == "delete"
    assert by_name["k.features.user"].compacted
    assert by_name["k.models"].config()["cleanup.policy"] == "compact"
    assert by_name["k.events.click"].partitions == 6
    assert "retention.ms" in by_name["k.events.click"].config()


def test_lag_counts_what_is_left() -> None:
    from kairos.kafka.lag import lag_of

    assert lag_of(None, 7) == 7  # never committed: everything is left
    assert lag_of(-1001, 7) == 7
    assert lag_of(5, 7) == 2
    assert lag_of(9, 7) == 0
