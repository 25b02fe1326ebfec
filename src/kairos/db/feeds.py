"""The products of feeds: imports that update a feed in place, reads for the catalog and the
management API, and the import reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kairos.creative.feeds import Parsed
from kairos.creative.model import Product
from kairos.db.creatives import FeedImportRow, ProductRow
from kairos.db.timestamps import as_utc, utcnow

MAX_REPORTED = 1000  # rejected rows kept in an import's report


def store_import(
    session: Session, feed_id: str, parsed: Parsed, source: str | None = None
) -> FeedImportRow:
    """Insert new products, update changed ones, mark the ones the feed no longer lists as
    unavailable; record the report. One transaction (the caller commits, after bumping the
    catalog version so that ad servers reload)."""
    stored = {
        row.id: row
        for row in session.scalars(select(ProductRow).where(ProductRow.feed_id == feed_id))
    }
    now = utcnow()
    seen: set[str] = set()
    for product in parsed.products:
        seen.add(product.id)
        values = _values(product)
        row = stored.get(product.id)
        if row is None:
            session.add(ProductRow(**values, updated_at=now))
        elif any(getattr(row, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
    gone = [pid for pid, row in stored.items() if pid not in seen and row.available]
    if gone:
        session.execute(
            update(ProductRow)
            .where(ProductRow.feed_id == feed_id, ProductRow.id.in_(gone))
            .values(available=False, updated_at=now)
        )
    report = [asdict(r) for r in parsed.rejected[:MAX_REPORTED]]
    record = FeedImportRow(
        feed_id=feed_id,
        at=now,
        source=source,
        accepted=len(parsed.products),
        rejected=len(parsed.rejected),
        retired=len(gone),
        report=report,
    )
    session.add(record)
    session.flush()
    return record


def available_products(session: Session, feed_ids: Iterable[str]) -> list[Product]:
    ids = sorted(set(feed_ids))
    if not ids:
        return []
    stmt = (
        select(ProductRow)
        .where(ProductRow.feed_id.in_(ids), ProductRow.available.is_(True))
        .order_by(ProductRow.feed_id, ProductRow.id)
    )
    return [product_of(row) for row in session.scalars(stmt)]


def products_page(
    session: Session, feed_id: str, *, limit: int, after: str | None = None
) -> list[Product]:
    stmt = select(ProductRow).where(ProductRow.feed_id == feed_id).order_by(ProductRow.id)
    if after is not None:
        stmt = stmt.where(ProductRow.id > after)
    return [product_of(row) for row in session.scalars(stmt.limit(limit))]


def imports(session: Session, feed_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The feed's latest import reports, newest first."""
    stmt = (
        select(FeedImportRow)
        .where(FeedImportRow.feed_id == feed_id)
        .order_by(FeedImportRow.id.desc())
        .limit(limit)
    )
    return [report_of(row) for row in session.scalars(stmt)]


def last_import_at(session: Session, feed_id: str) -> datetime | None:
    stmt = select(FeedImportRow.at).where(FeedImportRow.feed_id == feed_id)
    at = session.scalar(stmt.order_by(FeedImportRow.id.desc()).limit(1))
    return as_utc(at) if at is not None else None


def report_of(row: FeedImportRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "feed_id": row.feed_id,
        "at": as_utc(row.at),
        "source": row.source,
        "accepted": row.accepted,
        "rejected": row.rejected,
        "retired": row.retired,
        "rejected_rows": list(row.report or []),
    }


def product_of(row: ProductRow) -> Product:
    """The struct of a row: the table's columns are the struct's fields (and `updated_at`)."""
    return msgspec.convert({name: getattr(row, name) for name in _FIELDS}, Product)


def _values(product: Product) -> dict[str, Any]:
    return msgspec.structs.asdict(product) | {"attributes": dict(product.attributes)}


_FIELDS = Product.__struct_fields__
