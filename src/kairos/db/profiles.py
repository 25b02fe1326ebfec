"""User profile repository: idempotent upserts of what was seen of a pseudonymous visitor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kairos.db.models import UserProfile


@dataclass(frozen=True)
class Sighting:
    """A visitor seen at `ts` with `events` events and the consent they last gave."""

    user_key: str
    ts: datetime
    events: int = 1
    personalization: bool = False
    measurement: bool = True


def record_sightings(session: Session, sightings: list[Sighting]) -> None:
    """Insert new profiles or advance existing ones, in one statement per batch."""
    if not sightings:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = _rows(sightings)
    stmt = insert(UserProfile).values(rows)
    table = UserProfile.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.user_key],
        set_={
            "first_seen": func.min(table.c.first_seen, stmt.excluded.first_seen)
            if dialect == "sqlite"
            else func.least(table.c.first_seen, stmt.excluded.first_seen),
            "last_seen": func.max(table.c.last_seen, stmt.excluded.last_seen)
            if dialect == "sqlite"
            else func.greatest(table.c.last_seen, stmt.excluded.last_seen),
            "event_count": table.c.event_count + stmt.excluded.event_count,
            # consent follows the newest sighting; a late, older batch does not roll it back
            "consent_personalization": _newer(stmt, "consent_personalization"),
            "consent_measurement": _newer(stmt, "consent_measurement"),
            "updated_at": func.now(),
        },
    )
    session.execute(stmt)


def _newer(stmt: Any, column: str) -> Any:
    table = UserProfile.__table__
    return case(
        (stmt.excluded.last_seen >= table.c.last_seen, getattr(stmt.excluded, column)),
        else_=table.c[column],
    )


def _rows(sightings: list[Sighting]) -> list[dict[str, object]]:
    """One row per user (a statement cannot upsert the same key twice); latest consent wins."""
    merged: dict[str, tuple[datetime, datetime, int, Sighting]] = {}
    for s in sightings:
        first, last, count, newest = merged.get(s.user_key, (s.ts, s.ts, 0, s))
        newest = s if s.ts >= newest.ts else newest
        merged[s.user_key] = (min(first, s.ts), max(last, s.ts), count + s.events, newest)
    return [
        {
            "user_key": key,
            "first_seen": first,
            "last_seen": last,
            "event_count": count,
            "consent_personalization": newest.personalization,
            "consent_measurement": newest.measurement,
            "interests": {},
        }
        for key, (first, last, count, newest) in merged.items()
    ]


def get_profile(session: Session, user_key: str) -> UserProfile | None:
    return session.scalar(select(UserProfile).where(UserProfile.user_key == user_key))


def delete_profile(session: Session, user_key: str) -> bool:
    """Erasure: remove a visitor's profile. True if there was one."""
    profile = get_profile(session, user_key)
    if profile is None:
        return False
    session.delete(profile)
    return True
