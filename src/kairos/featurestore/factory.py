"""The feature store named by the settings: `memory` (follow the topic) or `redis` (read it)."""

from __future__ import annotations

from kairos.featurestore.base import FeatureStore
from kairos.featurestore.exceptions import FeatureStoreUnavailable
from kairos.featurestore.redis import RedisFeatureStore
from kairos.featurestore.topic import TopicFeatureStore
from kairos.kafka.topics import Topics
from kairos.settings import Settings


def open_feature_store(settings: Settings, *, catch_up_s: float = 30.0) -> FeatureStore:
    """A ready store: Redis answers, or the topic has been read up to where it was at start.

    In `redis` mode the store only reads; `kairos features sync` writes it.
    """
    if settings.feature_store == "redis":
        store = RedisFeatureStore(settings.redis_url, settings.topic_prefix)
        try:
            store.ping()
        except BaseException:
            store.close()
            raise
        return store
    topic = Topics(settings.topic_prefix).user_features
    memory = TopicFeatureStore(settings.bootstrap_servers, topic)
    if not memory.wait_caught_up(catch_up_s):
        memory.close()
        raise FeatureStoreUnavailable(f"{topic} was not read within {catch_up_s:.0f}s")
    return memory
