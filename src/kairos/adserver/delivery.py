"""Delivery and performance counts for pacing and scoring, read from the stream's roll-ups.

Two grouped queries over the hourly roll-up totals, run off the request path every few
seconds: per flight (goal units and spend, lifetime and today in the flight's time zone) and
per ad (impressions, clicks, conversions for the historical-CTR scorer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kairos.adserver.model import Flight
from kairos.adserver.pacing import Delivery, goal_units
from kairos.adserver.scoring import AdStats
from kairos.db.models import Performance

_TOTALS = (Performance.grain == "hour", Performance.slot == "")
_SUMS = (
    func.sum(Performance.impressions),
    func.sum(Performance.clicks),
    func.sum(Performance.conversions),
    func.sum(Performance.spend),
)


def ad_stats(session: Session) -> dict[str, AdStats]:
    rows = session.execute(
        select(Performance.ad_id, *_SUMS[:3]).where(*_TOTALS).group_by(Performance.ad_id)
    )
    return {ad: AdStats(int(i or 0), int(c or 0), int(v or 0)) for ad, i, c, v in rows if ad}


def deliveries(
    session: Session, flights: Mapping[str, Flight], now: datetime
) -> dict[str, Delivery]:
    lifetime = {
        flight_id: (float(i or 0), float(c or 0), float(v or 0), float(s or 0))
        for flight_id, i, c, v, s in session.execute(
            select(Performance.flight_id, *_SUMS).where(*_TOTALS).group_by(Performance.flight_id)
        )
    }
    recent: dict[str, list[tuple[datetime, tuple[float, float, float, float]]]] = {}
    since = now - timedelta(hours=50)  # covers "today" in every time zone
    for flight_id, bucket, i, c, v, s in session.execute(
        select(Performance.flight_id, Performance.bucket, *_SUMS)
        .where(*_TOTALS, Performance.bucket >= since)
        .group_by(Performance.flight_id, Performance.bucket)
    ):
        sums = (float(i or 0), float(c or 0), float(v or 0), float(s or 0))
        recent.setdefault(flight_id, []).append((_aware(bucket), sums))
    result = {}
    for flight_id, flight in flights.items():
        li, lc, lv, ls = lifetime.get(flight_id, (0.0, 0.0, 0.0, 0.0))
        midnight = _local_midnight(flight, now)
        today = [sums for bucket, sums in recent.get(flight_id, []) if bucket >= midnight]
        ti, tc, tv, ts = (sum(x[n] for x in today) for n in range(4))
        result[flight_id] = Delivery(
            units=goal_units(flight.goal_type, li, lc, lv),
            spend=ls,
            units_today=goal_units(flight.goal_type, ti, tc, tv),
            spend_today=ts,
        )
    return result


def _local_midnight(flight: Flight, now: datetime) -> datetime:
    try:
        zone = ZoneInfo(flight.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
