"""UTC timestamps the same on both backends (SQLite hands back naive datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(ts: datetime) -> datetime:
    """Aware UTC: naive values are UTC (everything Kairos writes is), aware ones converted."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
