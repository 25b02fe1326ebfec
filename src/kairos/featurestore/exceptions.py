"""Errors of the feature store edge."""

from __future__ import annotations

from kairos.errors import ServiceUnavailable


class FeatureStoreUnavailable(ServiceUnavailable):
    """The store (Redis, or the features topic behind the in-memory store) does not answer."""
