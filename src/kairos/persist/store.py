"""Database side of the writer: one transaction per batch holds the history rows, the roll-up
increments, the profiles and the input offsets, so a crash at any point leaves them agreeing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kairos.db.models import ConsumerOffset, InteractionRecord, Performance, UserProfile
from kairos.persist.rollup import aggregate
from kairos.stream.features import FeatureConfig, UserFeatures
from kairos.stream.records import Interaction

CHUNK = 500  # rows per statement: well inside SQLite's bound-parameter limit
TOP_INTERESTS = 20


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def write_batch(
    session: Session,
    group: str,
    interactions: list[Interaction],
    profiles: list[UserFeatures],
    offsets: dict[tuple[str, int], int],
) -> int:
    """Write one batch; returns how many interactions were new."""
    new = _history(session, interactions)
    _performance(session, new)
    _profiles(session, profiles)
    _offsets(session, group, offsets)
    return len(new)


def _history(session: Session, interactions: list[Interaction]) -> list[Interaction]:
    """Insert the interactions not already there; the roll-ups count only those."""
    unique = {(i.event_type, i.event_id): i for i in interactions}
    inserted: set[tuple[str, str]] = set()
    insert = _insert(session)
    table = InteractionRecord.__table__
    for rows in _chunks([_history_row(i) for i in unique.values()]):
        stmt = (
            insert(table)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_type", "event_id"])
            .returning(table.c.event_type, table.c.event_id)
        )
        inserted.update((t, e) for t, e in session.execute(stmt))
    return [i for k, i in unique.items() if k in inserted]


def _history_row(i: Interaction) -> dict[str, Any]:
    ad = i.ad
    return {
        "event_type": i.event_type,
        "event_id": i.event_id,
        "user_key": i.user_key,
        "ts": i.ts,
        "session_id": i.session_id,
        "page_url": i.page_url,
        "category": i.category,
        "device": i.device,
        "os": i.os,
        "browser": i.browser,
        "country": i.country,
        "region": i.region,
        "local_hour": i.local_hour,
        "weekday": i.weekday,
        "value": i.value,
        "decision_id": ad.decision_id if ad else None,
        "campaign_id": ad.campaign_id if ad else None,
        "ad_id": ad.ad_id if ad else None,
        "creative_id": ad.creative_id if ad else None,
        "placement_id": ad.placement_id if ad else None,
        "elements": dict(ad.elements) if ad else {},
        "attribution": i.attribution,
    }


def _performance(session: Session, interactions: list[Interaction]) -> None:
    deltas = aggregate(interactions)
    if not deltas:
        return
    rows = [
        key._asdict()
        | {
            "impressions": c.impressions,
            "viewable": c.viewable,
            "clicks": c.clicks,
            "conversions": c.conversions,
            "spend": c.spend,
            "revenue": c.revenue,
        }
        for key, c in deltas.items()
    ]
    table: Table = Performance.__table__  # type: ignore[assignment]
    insert = _insert(session)
    key_columns = [c.name for c in table.primary_key.columns]
    for chunk in _chunks(rows):
        stmt = insert(table).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=key_columns,
            set_={
                m: table.c[m] + getattr(stmt.excluded, m)
                for m in ("impressions", "viewable", "clicks", "conversions", "spend", "revenue")
            },
        )
        session.execute(stmt)


def _profiles(session: Session, profiles: list[UserFeatures]) -> None:
    """Profiles follow the newest features record of each user (cumulative, so idempotent)."""
    latest: dict[str, UserFeatures] = {}
    for f in profiles:
        if f.last_seen is not None and f.first_seen is not None:
            latest[f.user_key] = f
    if not latest:
        return
    rows = [_profile_row(f) for f in latest.values()]
    table: Table = UserProfile.__table__  # type: ignore[assignment]
    insert = _insert(session)
    least = func.min if session.get_bind().dialect.name == "sqlite" else func.least
    for chunk in _chunks(rows):
        stmt = insert(table).values(chunk)
        newer = stmt.excluded.last_seen >= table.c.last_seen

        def pick(column: str, stmt: Any = stmt, newer: Any = newer) -> Any:
            return case((newer, getattr(stmt.excluded, column)), else_=table.c[column])

        stmt = stmt.on_conflict_do_update(
            index_elements=["user_key"],
            set_={
                "first_seen": least(table.c.first_seen, stmt.excluded.first_seen),
                "last_seen": pick("last_seen"),
                "event_count": pick("event_count"),
                "consent_personalization": pick("consent_personalization"),
                "interests": pick("interests"),
                "updated_at": func.now(),
            },
        )
        session.execute(stmt)


def _profile_row(f: UserFeatures) -> dict[str, Any]:
    assert f.last_seen is not None
    now, half_life = f.last_seen.timestamp(), FeatureConfig().half_life_s
    scores = {name: s.value_at(now, half_life) for name, s in f.interests.items()}
    top = sorted(scores, key=scores.__getitem__, reverse=True)[:TOP_INTERESTS]
    return {
        "user_key": f.user_key,
        "first_seen": f.first_seen,
        "last_seen": f.last_seen,
        "event_count": f.events,
        "consent_personalization": f.personalization,
        "consent_measurement": True,
        "interests": {name: round(scores[name], 6) for name in top},
    }


def _offsets(session: Session, group: str, offsets: dict[tuple[str, int], int]) -> None:
    if not offsets:
        return
    rows = [
        {"consumer_group": group, "topic": t, "partition": p, "next_offset": o}
        for (t, p), o in offsets.items()
    ]
    insert = _insert(session)
    stmt = insert(ConsumerOffset.__table__).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["consumer_group", "topic", "partition"],
        set_={"next_offset": stmt.excluded.next_offset},
    )
    session.execute(stmt)


def stored_offsets(
    session: Session, group: str, for_update: bool = False
) -> dict[tuple[str, int], int]:
    """Where the group's writers are; `for_update` locks the rows (PostgreSQL) so that two
    writers of the same partitions take turns instead of both writing."""
    query = select(
        ConsumerOffset.topic, ConsumerOffset.partition, ConsumerOffset.next_offset
    ).where(ConsumerOffset.consumer_group == group)
    if for_update:
        query = query.with_for_update()
    return {(t, p): o for t, p, o in session.execute(query)}


def delete_history_before(session: Session, cutoff: datetime) -> int:
    """Retention: raw history older than `cutoff` goes (roll-ups and profiles stay)."""
    result = session.execute(delete(InteractionRecord).where(InteractionRecord.ts < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
