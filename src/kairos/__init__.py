"""Kairos: real-time Dynamic Creative Optimization on Apache Kafka."""

from kairos.errors import KairosError
from kairos.settings import Settings

__all__ = ["KairosError", "Settings"]
__version__ = "0.1.0"
