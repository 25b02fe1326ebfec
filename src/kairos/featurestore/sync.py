"""`kairos features sync`: the features topic materialised into Redis, with progress logs."""

from __future__ import annotations

import logging
import threading
import time

from kairos.featurestore.redis import RedisFeatureStore
from kairos.featurestore.topic import FeatureTopicFollower
from kairos.kafka.admin import ensure_topics
from kairos.kafka.topics import Topics, TopicSpec
from kairos.logs import kv
from kairos.settings import Settings

log = logging.getLogger(__name__)


def sync_to_redis(
    settings: Settings, stop: threading.Event, *, report_every_s: float = 10.0
) -> None:
    """Read the whole features topic into Redis, then follow it until `stop` is set.

    Restarting re-reads the topic from the beginning: writes are idempotent (the latest record
    of each user wins), so a restart only costs the time to catch up.
    """
    topics = Topics(settings.topic_prefix, settings.topic_partitions, settings.topic_replication)
    ensure_topics(settings.bootstrap_servers, [_features_spec(topics)])
    store = RedisFeatureStore(settings.redis_url, settings.topic_prefix)
    try:
        store.ping()
        follower = FeatureTopicFollower(settings.bootstrap_servers, topics.user_features, store)
        log.info(
            "feature sync started",
            extra=kv(topic=follower.topic, redis=store.url, namespace=settings.topic_prefix),
        )
        try:
            follower.start()
            _report_until(stop, follower, report_every_s)
        finally:
            follower.close()
        log.info("feature sync stopped", extra=kv(records=follower.records))
    finally:
        store.close()


def _features_spec(topics: Topics) -> TopicSpec:
    return next(s for s in topics.specs() if s.name == topics.user_features)


def _report_until(stop: threading.Event, follower: FeatureTopicFollower, every_s: float) -> None:
    """Log once when caught up, then the records read every `every_s` seconds."""
    started = last_at = time.monotonic()
    last_records = 0
    announced = False
    while not stop.wait(0.2):
        now = time.monotonic()
        if follower.caught_up and not announced:
            announced = True
            elapsed = round(now - started, 2)
            log.info("feature sync caught up", extra=kv(records=follower.records, seconds=elapsed))
        if now - last_at >= every_s:
            rate = round((follower.records - last_records) / (now - last_at), 1)
            log.info(
                "feature sync progress",
                extra=kv(records=follower.records, records_per_s=rate, caught_up=announced),
            )
            last_at, last_records = now, follower.records
