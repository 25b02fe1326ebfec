"""Errors of the Kafka edge."""

from __future__ import annotations

from kairos.errors import ConfigurationError, ServiceUnavailable


class KafkaUnavailable(ServiceUnavailable):
    """The brokers did not acknowledge in time; nothing was accepted that is not in Kafka."""


class BrokerError(ConfigurationError):
    """The local broker could not be fetched, formatted, started or stopped."""
