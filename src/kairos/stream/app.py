"""`kairos stream`: the processor as a Quix Streams application over the event topics.

A consumer group: more instances split the partitions. Per-user state (dedup ids, session,
features) lives in Quix's RocksDB store with changelog topics, so a restarted or moved
partition resumes where it was. At-least-once with state and outputs committed together every
`KAIROS_STREAM_COMMIT_INTERVAL_S`: freshness over the cost of exactly-once transactions, and
the outputs are idempotent (features are the latest state per user on a compacted topic).
"""

from __future__ import annotations

import logging
from typing import Any

from quixstreams import Application, State

from kairos import runtime
from kairos.domain.events import EventType
from kairos.errors import ConfigurationError
from kairos.logs import kv
from kairos.settings import Settings
from kairos.stream import metrics
from kairos.stream.metrics import MESSAGES
from kairos.stream.processor import EventProcessor, Output

log = logging.getLogger(__name__)


MAX_TOPIC_NAME = 249  # Kafka's limit


def check_names(settings: Settings) -> None:
    """The merged stream's changelog topic is named after every input topic: it must fit."""
    names = runtime.topics(settings)
    inputs = "--".join(sorted(names.events(t) for t in EventType))
    changelog = f"changelog__{settings.stream_group}--{inputs}--default"
    if len(changelog) > MAX_TOPIC_NAME:
        raise ConfigurationError(
            f"the stream's changelog topic name would be {len(changelog)} characters "
            f"(limit {MAX_TOPIC_NAME}): shorten KAIROS_TOPIC_PREFIX or KAIROS_STREAM_GROUP"
        )


def build(settings: Settings, processor: EventProcessor | None = None) -> Application:
    check_names(settings)
    names = runtime.topics(settings)
    app = Application(
        broker_address=settings.bootstrap_servers,
        consumer_group=settings.stream_group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        commit_interval=settings.stream_commit_interval_s,
        state_dir=settings.resolved_stream_state_dir,
        auto_create_topics=True,  # only Quix's own changelog topics; ours are declared
        loglevel=settings.log_level.upper(),  # type: ignore[arg-type]
        on_processing_error=_keep_going,
        # Merged topics are processed in timestamp order: a message waits until every
        # partition has data or is known idle, learnt at the next poll. A short poll keeps
        # that wait (and so feature freshness) in milliseconds rather than a second.
        consumer_poll_timeout=0.02,
    )
    step = processor or EventProcessor()
    inputs = [
        app.topic(names.events(t), key_deserializer="bytes", value_deserializer="bytes")
        for t in EventType
    ]
    outputs = {
        "features": app.topic(
            names.user_features, key_serializer="bytes", value_serializer="bytes"
        ),
        "dead_letter": app.topic(
            names.dead_letter, key_serializer="bytes", value_serializer="bytes"
        ),
    }
    sdf = app.dataframe(inputs[0])
    for topic in inputs[1:]:
        sdf = sdf.concat(app.dataframe(topic))

    def process(value: bytes, state: State[Any, Any]) -> list[Output]:
        outputs = step(value, state)
        outcome = outputs[0].kind if outputs else "duplicate"
        MESSAGES.labels("processed" if outcome == "features" else outcome).inc()
        return outputs

    routed = sdf.apply(process, stateful=True, expand=True)
    for kind, topic in outputs.items():
        routed.filter(_is(kind)).apply(_value).to_topic(topic)
    return app


def _is(kind: str) -> Any:
    return lambda output: output.kind == kind


def _value(output: Output) -> bytes:
    return output.value


def _keep_going(exc: Exception, row: Any, logger: logging.Logger) -> bool:
    """A message that breaks a step is logged and skipped; the processor never stops."""
    log.error("processing failed", extra=kv(error=repr(exc), offset=getattr(row, "offset", None)))
    return True


def run(settings: Settings) -> None:
    app = build(settings)
    if settings.stream_metrics_port:
        metrics.serve(settings, settings.stream_metrics_port)
    log.info(
        "stream processor starting",
        extra=kv(group=settings.stream_group, kafka=settings.bootstrap_servers),
    )
    app.run()
