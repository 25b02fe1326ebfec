"""Prometheus metrics of a stream processor: messages by outcome, consumer lag, dead letters."""

from __future__ import annotations

import logging
import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from kairos import runtime
from kairos.domain.events import EventType
from kairos.kafka.exceptions import KafkaUnavailable
from kairos.kafka.lag import group_lag, message_count
from kairos.logs import kv
from kairos.settings import Settings

log = logging.getLogger(__name__)

MESSAGES = Counter(
    "kairos_stream_messages_total",
    "Messages handled by the stream processor, by outcome",
    ["outcome"],  # processed | duplicate | dead_letter
)
EXAMPLES = Counter("kairos_stream_examples_total", "Labelled examples emitted")
COMMIT_SECONDS = Histogram(
    "kairos_stream_commit_seconds",
    "Duration of one stream transaction commit",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LAG = Gauge("kairos_stream_consumer_lag", "Messages left to process", ["topic", "partition"])
DEAD_LETTERS = Gauge("kairos_dead_letter_messages", "Messages held by the dead-letter topic")


def serve(settings: Settings, port: int, interval_s: float = 5.0) -> threading.Event:
    """Expose /metrics on 127.0.0.1:`port` and refresh the lag gauges in the background."""
    start_http_server(port, addr=settings.host)
    stop = threading.Event()
    thread = threading.Thread(
        target=_refresh, args=(settings, stop, interval_s), name="stream-metrics", daemon=True
    )
    thread.start()
    log.info("metrics served", extra=kv(url=f"http://{settings.host}:{port}/metrics"))
    return stop


def _refresh(settings: Settings, stop: threading.Event, interval_s: float) -> None:
    names = runtime.topics(settings)
    inputs = [*(names.events(t) for t in EventType), names.decisions]
    while not stop.wait(interval_s):
        try:
            for p in group_lag(settings.bootstrap_servers, settings.stream_group, inputs):
                LAG.labels(p.topic, str(p.partition)).set(p.lag)
            DEAD_LETTERS.set(message_count(settings.bootstrap_servers, names.dead_letter))
        except KafkaUnavailable as exc:
            log.warning("metrics refresh failed", extra=kv(reason=exc.message))
