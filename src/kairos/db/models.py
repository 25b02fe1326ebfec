"""Tables. Later components add theirs here (or in sibling modules) with a migration each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names make migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserProfile(Base):
    """One pseudonymous visitor: when seen, what they consented to, what they are into."""

    __tablename__ = "user_profiles"

    user_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)
    consent_personalization: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_measurement: Mapped[bool] = mapped_column(Boolean, default=True)
    interests: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class InteractionRecord(Base):
    """Raw interaction history: one row per (type, event id), cleaned and enriched.

    Kept for `KAIROS_HISTORY_RETENTION_DAYS`; training reads it, reports read the roll-ups.
    """

    __tablename__ = "interactions"

    event_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    session_id: Mapped[str | None] = mapped_column(String(128))
    page_url: Mapped[str | None] = mapped_column(String(2048))
    category: Mapped[str | None] = mapped_column(String(256))
    device: Mapped[str | None] = mapped_column(String(32))
    os: Mapped[str | None] = mapped_column(String(64))
    browser: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(8))
    region: Mapped[str | None] = mapped_column(String(16))
    local_hour: Mapped[int | None] = mapped_column(SmallInteger)
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    value: Mapped[float | None] = mapped_column(Float)
    decision_id: Mapped[str | None] = mapped_column(String(128), index=True)
    campaign_id: Mapped[str | None] = mapped_column(String(128))
    ad_id: Mapped[str | None] = mapped_column(String(128))
    creative_id: Mapped[str | None] = mapped_column(String(128))
    placement_id: Mapped[str | None] = mapped_column(String(128))
    elements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attribution: Mapped[str | None] = mapped_column(String(8))


class Performance(Base):
    """Delivery and outcome counts per time bucket and ad dimension.

    `grain` is "minute" or "hour". A row with empty `slot` is the ad's total for one element
    combination (`combination`, e.g. "cta=c2|headline=h1"); a row with `slot`/`variant` set
    counts one element variant. Empty strings, not NULLs, so that the key is unique.
    """

    __tablename__ = "performance"

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    advertiser_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    flight_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ad_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    creative_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    placement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    combination: Mapped[str] = mapped_column(String(512), primary_key=True)
    slot: Mapped[str] = mapped_column(String(128), primary_key=True)
    variant: Mapped[str] = mapped_column(String(128), primary_key=True)
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    viewable: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    conversions: Mapped[int] = mapped_column(BigInteger, default=0)
    spend: Mapped[float] = mapped_column(Float, default=0.0)
    revenue: Mapped[float] = mapped_column(Float, default=0.0)


class ConsumerOffset(Base):
    """Where a database writer is in each input partition, committed with the rows it wrote,
    so that a restart resumes exactly after the last write (no loss, no double count)."""

    __tablename__ = "consumer_offsets"

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


# Sibling modules' tables join the same metadata, so that Alembic and create_all see them.
from kairos.db import adserver, apikeys  # noqa: E402, F401
