"""Topic administration with the Kafka admin client: idempotent creation of the declared topics."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.topics import TopicSpec
from kairos.logs import kv

log = logging.getLogger(__name__)


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "kairos-admin"})


def existing_topics(admin: AdminClient, timeout_s: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics: {exc}") from exc
    return {name: len(t.partitions) for name, t in metadata.topics.items()}


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the declared topics that are missing; returns the names created."""
    admin = admin_client(bootstrap)
    present = existing_topics(admin, timeout_s)
    wanted = {s.name: s for s in specs}
    for name, spec in wanted.items():
        if name in present and present[name] < spec.partitions:
            log.warning(
                "topic has fewer partitions than declared",
                extra=kv(topic=name, present=present[name], declared=spec.partitions),
            )
    missing = [s for name, s in wanted.items() if name not in present]
    if not missing:
        return []
    new = [
        NewTopic(
            s.name, num_partitions=s.partitions, replication_factor=s.replication, config=s.config()
        )
        for s in missing
    ]
    created: list[str] = []
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaUnavailable(f"cannot create topic {name}: {exc}") from exc
    if created:
        _wait_for_leaders(admin, created, timeout_s)
        log.info("topics created", extra=kv(count=len(created), topics=",".join(created)))
    return created


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """A created topic is usable once each partition has a leader: wait for that, so that
    whoever reads offsets or produces right after start-up is not told 'not leader'."""
    deadline = time.monotonic() + timeout_s
    waiting = set(names)
    while waiting and time.monotonic() < deadline:
        try:
            topics = admin.list_topics(timeout=5).topics
        except KafkaException:
            topics = {}
        waiting = {
            n
            for n in waiting
            if n not in topics
            or not topics[n].partitions
            or any(p.leader < 0 or p.error is not None for p in topics[n].partitions.values())
        }
        if waiting:
            time.sleep(0.05)
    if waiting:
        raise KafkaUnavailable(f"topics without a leader after {timeout_s:.0f}s: {sorted(waiting)}")


def wait_for_brokers(bootstrap: str, timeout_s: float) -> bool:
    """Block until a broker at `bootstrap` answers (used by start-up and tests)."""
    # log_level 0: "connection refused" while a broker boots is the expected answer, not news.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1)
            return True
        except KafkaException:
            time.sleep(0.25)
    return False
