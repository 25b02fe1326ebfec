"""The online feature store: the latest per-user features, served to the ad server.

`FeatureStore` is the interface; `MemoryFeatureStore` its in-memory twin; `TopicFeatureStore`
materialises the compacted features topic in process (the default, `memory`);
`RedisFeatureStore` reads a Redis that `kairos features sync` fills (`redis`, for scale-out).
`open_feature_store(settings)` opens the one the settings name.
"""

from kairos.featurestore.base import FeatureSink, FeatureStore, MemoryFeatureStore
from kairos.featurestore.factory import open_feature_store

__all__ = ["FeatureSink", "FeatureStore", "MemoryFeatureStore", "open_feature_store"]
