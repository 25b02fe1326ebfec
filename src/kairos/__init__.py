"""Kairos: real-time Dynamic Creative Optimization on Apache Kafka."""

from kairos import compiled

compiled.install()  # before any module it compiles is imported

from kairos.errors import KairosError  # noqa: E402
from kairos.settings import Settings  # noqa: E402

__all__ = ["KairosError", "Settings"]
__version__ = "0.1.0"
