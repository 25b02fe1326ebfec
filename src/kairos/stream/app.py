"""`kairos stream`: the processor wired to the settings, the topics and the process.

A consumer-group member: start more instances (here or on other machines) and they split the
partitions. Exactly-once: state changelog, outputs and input offsets are committed in one
Kafka transaction every `KAIROS_STREAM_COMMIT_INTERVAL_S` (0.1 s by default), which costs a
few milliseconds of freshness and buys exact roll-ups and labels after any crash.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
from datetime import timedelta
from types import FrameType
from typing import IO

from kairos import runtime
from kairos.domain.events import EventType
from kairos.errors import ConfigurationError, ServiceUnavailable
from kairos.kafka.admin import ensure_topics, wait_for_brokers
from kairos.logs import kv
from kairos.settings import Settings
from kairos.stream import metrics
from kairos.stream.features import FeatureConfig
from kairos.stream.geo import open_geo
from kairos.stream.labels import LabelConfig
from kairos.stream.processor import EventProcessor, StreamConfig
from kairos.stream.runtime import RuntimeConfig, StreamRuntime

log = logging.getLogger(__name__)

MAX_SLOTS = 64


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        features=FeatureConfig(interest_half_life=timedelta(seconds=settings.interest_half_life_s)),
        labels=LabelConfig(
            click_window=timedelta(seconds=settings.click_window_s),
            conversion_window=timedelta(seconds=settings.conversion_window_s),
        ),
    )


def runtime_config(settings: Settings, instance: str) -> RuntimeConfig:
    names = runtime.topics(settings)
    return RuntimeConfig(
        bootstrap=settings.bootstrap_servers,
        group=settings.stream_group,
        instance=instance,
        event_topics=[names.events(t) for t in EventType],
        decisions_topic=names.decisions,
        changelog_topic=names.stream_state(settings.stream_group),
        outputs={
            "features": names.user_features,
            "dead_letter": names.dead_letter,
            "interaction": names.interactions,
            "example": names.labelled_examples,
        },
        commit_interval_s=settings.stream_commit_interval_s,
        user_ttl_s=settings.stream_user_ttl_days * 86400,
    )


def claim_instance(settings: Settings) -> tuple[str, IO[str]]:
    """A stable id for this process: the configured one, or host name + the first free slot.

    A restarted processor takes its predecessor's slot, hence its transactional id, which
    lets Kafka abort whatever the predecessor left half-done.
    """
    directory = settings.resolved_stream_state_dir
    directory.mkdir(parents=True, exist_ok=True)
    name = settings.stream_instance
    slots = [name] if name else [f"{socket.gethostname()}-{i}" for i in range(MAX_SLOTS)]
    for slot in slots:
        handle = (directory / f"{settings.stream_group}.{slot}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.write(str(os.getpid()))
        handle.flush()
        return slot, handle
    raise ConfigurationError(
        f"KAIROS_STREAM_INSTANCE {name!r} is in use by another process"
        if name
        else f"all {MAX_SLOTS} stream slots of this host are in use"
    )


def run(settings: Settings) -> None:
    names = runtime.topics(settings)
    if not wait_for_brokers(settings.bootstrap_servers, timeout_s=60):
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap_servers}")
    ensure_topics(
        settings.bootstrap_servers,
        [*names.specs(), names.stream_state_spec(settings.stream_group)],
    )
    instance, lock = claim_instance(settings)
    geo = open_geo(settings)
    stream = StreamRuntime(
        runtime_config(settings, instance), EventProcessor(stream_config(settings), geo)
    )
    if settings.stream_metrics_port:
        metrics.serve(settings, settings.stream_metrics_port)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "stream processor starting",
        extra=kv(group=settings.stream_group, instance=instance, kafka=settings.bootstrap_servers),
    )
    try:
        stream.run(lambda: stopping)
    finally:
        close = getattr(geo, "close", None)
        if close is not None:
            close()
        lock.close()
    log.info("stream processor stopped", extra=kv(instance=instance))
