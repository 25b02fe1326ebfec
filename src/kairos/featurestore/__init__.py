"""The online feature store: the latest per-user features, served to the ad server.

`FeatureStore` is the interface; `MemoryFeatureStore` its in-memory twin; `TopicFeatureStore`
materialises the compacted features topic in process (the default).
"""

from kairos.featurestore.base import FeatureStore, MemoryFeatureStore

__all__ = ["FeatureStore", "MemoryFeatureStore"]
