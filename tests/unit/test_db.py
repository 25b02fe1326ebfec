"""Migrations and the profile repository, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from kairos.db import migrate
from kairos.db.engine import make_engine, ping, session_factory
from kairos.db.profiles import Sighting, delete_profile, get_profile, record_sightings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_upgrade_and_downgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    assert ping(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert "user_profiles" in inspect(engine).get_table_names()
    migrate.upgrade(engine)  # idempotent
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert "user_profiles" not in inspect(engine).get_table_names()
    engine.dispose()


def test_sightings_upsert_and_merge(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        record_sightings(
            session,
            [
                Sighting("a" * 32, T0 + timedelta(minutes=5), personalization=True),
                Sighting("a" * 32, T0, personalization=False),
                Sighting("b" * 32, T0, events=3),
            ],
        )
    with sessions.begin() as session:
        record_sightings(session, [Sighting("a" * 32, T0 - timedelta(days=1), events=2)])
    with sessions() as session:
        a = get_profile(session, "a" * 32)
        b = get_profile(session, "b" * 32)
        assert a is not None
        assert b is not None
        assert a.event_count == 4
        assert a.first_seen.replace(tzinfo=UTC) == T0 - timedelta(days=1)
        assert a.last_seen.replace(tzinfo=UTC) == T0 + timedelta(minutes=5)
        assert a.consent_personalization is True  # the newest sighting wins, not the last
        assert b.event_count == 3
    with sessions.begin() as session:
        assert delete_profile(session, "a" * 32)
        assert not delete_profile(session, "a" * 32)
    with sessions() as session:
        assert get_profile(session, "a" * 32) is None
    engine.dispose()
