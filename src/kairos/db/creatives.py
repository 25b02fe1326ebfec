"""Tables of dynamic creatives (`kairos.creative.model` as rows): templates, element variants,
feeds with their products, and the report of every feed import.

Templates, variants and feeds are catalog tables (the management API's generic routes, the
catalog version); products are written in bulk by feed imports and go with their feed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kairos.db.adserver import ID_LENGTH, CatalogRecord, parent
from kairos.db.models import Base
from kairos.db.timestamps import utcnow


class FeedRow(CatalogRecord):
    __tablename__ = "feeds"

    advertiser_id: Mapped[str] = parent("advertisers")
    name: Mapped[str] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(2048))
    refresh_s: Mapped[int | None] = mapped_column(Integer)


class TemplateRow(CatalogRecord):
    __tablename__ = "templates"

    advertiser_id: Mapped[str] = parent("advertisers")
    name: Mapped[str] = mapped_column(String(255))
    slots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    html: Mapped[str | None] = mapped_column(Text)
    native: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    video: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    feed_id: Mapped[str | None] = parent("feeds", nullable=True)
    product_filter: Mapped[str | None] = mapped_column(Text)
    max_combinations: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))


class VariantRow(CatalogRecord):
    __tablename__ = "element_variants"

    advertiser_id: Mapped[str] = parent("advertisers")
    slot: Mapped[str] = mapped_column(String(40))
    value: Mapped[Any] = mapped_column(JSON)
    weight: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))


class ProductRow(Base):
    __tablename__ = "products"

    feed_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    price: Mapped[float] = mapped_column(Float)
    landing_url: Mapped[str] = mapped_column(String(2048))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    category: Mapped[str | None] = mapped_column(String(100))
    available: Mapped[bool] = mapped_column(Boolean)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedImportRow(Base):
    """What one import did: how many products it took in, refused and retired, and why each
    refused row was refused."""

    __tablename__ = "feed_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("feeds.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str | None] = mapped_column(String(2048))
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    retired: Mapped[int] = mapped_column(Integer)  # products absent now: marked unavailable
    report: Mapped[list[Any]] = mapped_column(JSON, default=list)
