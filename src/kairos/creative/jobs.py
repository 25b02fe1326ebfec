"""Feed imports as jobs: from a request's body or the feed's source, now or on schedule.

Each import is one database transaction (products inserted, updated, retired; the report
stored; the catalog version bumped so that ad servers reload). `refresh_due` imports every
feed whose `refresh_s` has passed since its last import; `kairos feeds refresh` runs it in a
loop (and `kairos up` starts that loop).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kairos.creative.feeds import FeedError, parse, read_source
from kairos.creative.model import Feed
from kairos.db import catalog, feeds
from kairos.db.creatives import FeedRow
from kairos.logs import kv

log = logging.getLogger(__name__)


def import_feed(
    session: Session, feed_id: str, data: bytes | None = None, fmt: str | None = None
) -> dict[str, Any]:
    """Import `data`, or the feed's source when None; the report. Commits. FeedError when
    the feed as a whole cannot be read (nothing is changed then)."""
    feed = catalog.get(session, Feed, feed_id).item
    source = None
    if data is None:
        if feed.source is None:
            raise FeedError(f"feed {feed_id!r} has no source: send the feed in the body")
        source, data = feed.source, read_source(feed.source)
    record = feeds.store_import(session, feed_id, parse(data, feed_id, fmt), source)
    catalog.bump_version(session)
    session.commit()
    report = feeds.report_of(record)
    log.info(
        "feed imported",
        extra=kv(
            feed=feed_id,
            accepted=report["accepted"],
            rejected=report["rejected"],
            retired=report["retired"],
        ),
    )
    return report


def due(session: Session, now: datetime) -> list[str]:
    """Feeds with a source and a refresh period that has passed since their last import."""
    stmt = select(FeedRow.id, FeedRow.refresh_s).where(
        FeedRow.source.is_not(None), FeedRow.refresh_s.is_not(None)
    )
    found = []
    for feed_id, refresh_s in session.execute(stmt):
        last = feeds.last_import_at(session, feed_id)
        if last is None or now - last >= timedelta(seconds=refresh_s or 0):
            found.append(feed_id)
    return found


def refresh_due(engine: Engine, now: datetime | None = None) -> dict[str, dict[str, Any] | str]:
    """Import every due feed; feed id -> its report, or why it failed (others go on)."""
    with Session(engine) as session:
        ids = due(session, now or datetime.now(UTC))
    results: dict[str, dict[str, Any] | str] = {}
    for feed_id in ids:
        with Session(engine) as session:
            try:
                results[feed_id] = import_feed(session, feed_id)
            except FeedError as exc:
                log.warning("feed refresh failed", extra=kv(feed=feed_id, error=str(exc)))
                results[feed_id] = str(exc)
    return results


def refresh_forever(
    engine: Engine, every_s: float = 30.0, stop: Callable[[], bool] = lambda: False
) -> None:
    while not stop():
        try:
            refresh_due(engine)
        except Exception as exc:  # the database may blink: try again next round
            log.warning("feed refresh round failed", extra=kv(error=repr(exc)))
        time.sleep(every_s)
