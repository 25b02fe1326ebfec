"""Tables of the ad server's catalog (`kairos.adserver.model` as rows) and its version counter.

Parents are referenced with ON DELETE RESTRICT: a row with children cannot be deleted, only
archived. Lists and nested structs (caps, targeting, sizes, creative fields) are JSON columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kairos.db.models import Base
from kairos.db.timestamps import utcnow

ID_LENGTH = 64


def parent(table: str, *, nullable: bool = False) -> Mapped[Any]:
    """A column referencing `table` (a row with children cannot be deleted)."""
    return mapped_column(
        String(ID_LENGTH),
        ForeignKey(f"{table}.id", ondelete="RESTRICT"),
        index=True,
        nullable=nullable,
    )


class CatalogRecord(Base):
    """Columns every catalog table has: a client-supplied or generated id, and timestamps."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdvertiserRow(CatalogRecord):
    __tablename__ = "advertisers"

    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))


class CampaignRow(CatalogRecord):
    __tablename__ = "campaigns"

    advertiser_id: Mapped[str] = parent("advertisers")
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    caps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    exploration: Mapped[float | None] = mapped_column(Float)


class FlightRow(CatalogRecord):
    __tablename__ = "flights"

    campaign_id: Mapped[str] = parent("campaigns")
    name: Mapped[str] = mapped_column(String(255))
    # "start"/"end" are the struct's names; the columns avoid the reserved word END.
    start: Mapped[datetime] = mapped_column("start_at", DateTime(timezone=True))
    end: Mapped[datetime | None] = mapped_column("end_at", DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    rate_type: Mapped[str] = mapped_column(String(8))
    price: Mapped[float] = mapped_column(Float)
    goal_type: Mapped[str] = mapped_column(String(16))
    goal_amount: Mapped[int | None] = mapped_column(BigInteger)
    daily_budget: Mapped[float | None] = mapped_column(Float)
    lifetime_budget: Mapped[float | None] = mapped_column(Float)
    pacing: Mapped[str] = mapped_column(String(8))
    caps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    targeting: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CreativeRow(CatalogRecord):
    __tablename__ = "creatives"

    advertiser_id: Mapped[str] = parent("advertisers")
    name: Mapped[str] = mapped_column(String(255))
    ad_type: Mapped[str] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    click_url: Mapped[str] = mapped_column(String(2048))
    html: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(512))
    body: Mapped[str | None] = mapped_column(Text)
    cta: Mapped[str | None] = mapped_column(String(255))
    template_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AdRow(CatalogRecord):
    __tablename__ = "ads"

    flight_id: Mapped[str] = parent("flights")
    creative_id: Mapped[str] = parent("creatives")
    weight: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))


class SiteRow(CatalogRecord):
    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(16))


class ZoneRow(CatalogRecord):
    __tablename__ = "zones"

    site_id: Mapped[str] = parent("sites")
    name: Mapped[str] = mapped_column(String(255))


class PlacementRow(CatalogRecord):
    __tablename__ = "placements"

    zone_id: Mapped[str] = parent("zones")
    name: Mapped[str] = mapped_column(String(255))
    # One namespace across sites: the ad tag finds its placement by this name alone.
    div_name: Mapped[str | None] = mapped_column(String(128), unique=True)
    ad_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    sizes: Mapped[list[str]] = mapped_column(JSON, default=list)
    floor_cpm: Mapped[float] = mapped_column(Float)
    selection: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))


class CatalogState(Base):
    """One row whose `version` every catalog change increments, in the same transaction, so
    that ad servers reload only when something changed (one cheap query to find out)."""

    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The dynamic-creative tables build on these: registered with the same metadata from here, so
# that importing any database module first sees them all.
from kairos.db import creatives, registry  # noqa: E402, F401
