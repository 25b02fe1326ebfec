"""The catalog tables, their migration and repository, and API keys, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, inspect, select
from sqlalchemy.orm import Session

from kairos.adserver import catalog as engine_catalog
from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    CapScope,
    CapUnit,
    Creative,
    Flight,
    FrequencyCap,
    GoalType,
    PacingMode,
    Placement,
    RateType,
    SelectionMode,
    Site,
    Status,
    Targeting,
    Zone,
)
from kairos.db import apikeys, catalog, migrate
from kairos.db.apikeys import ApiKeyRow, Scope
from kairos.db.engine import make_engine
from kairos.db.exceptions import Conflict, NotFound
from kairos.db.models import Base

CATALOG_TABLES = {
    "advertisers",
    "campaigns",
    "flights",
    "creatives",
    "ads",
    "sites",
    "zones",
    "placements",
    "catalog_state",
    "api_keys",
}
T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _tree() -> list[Any]:
    """One of everything, with every field away from its default."""
    cap = FrequencyCap(scope=CapScope.CAMPAIGN, impressions=3, period=2, unit=CapUnit.HOUR)
    targeting = Targeting(
        countries=["PT", "ES"],
        exclude_countries=["FR"],
        regions=["PT-11"],
        devices=["mobile"],
        os=["iOS"],
        browsers=["Safari"],
        site_ids=["s1"],
        zone_ids=["z1"],
        keywords=["rain"],
        exclude_keywords=["sun"],
        days=[0, 6],
        hours=[8, 20],
        expression="interest.eco > 0.3",
    )
    return [
        Advertiser(id="a1", name="Acme", status=Status.PAUSED),
        Campaign(id="c1", advertiser_id="a1", name="Winter", caps=[cap]),
        Flight(
            id="f1",
            campaign_id="c1",
            name="Launch",
            start=T0,
            end=T0 + timedelta(days=30),
            timezone="Europe/Lisbon",
            priority=2,
            rate_type=RateType.CPC,
            price=0.35,
            goal_type=GoalType.CLICKS,
            goal_amount=1000,
            daily_budget=50.0,
            lifetime_budget=900.5,
            pacing=PacingMode.ASAP,
            caps=[FrequencyCap(scope=CapScope.FLIGHT, impressions=1)],
            targeting=targeting,
        ),
        Creative(
            id="cr1",
            advertiser_id="a1",
            name="Jacket",
            width=300,
            height=250,
            click_url="https://acme.example/jacket",
            html="<b>Jacket</b>",
            image_url="https://cdn.example/j.png",
            title="A jacket",
            body="Dry in any weather",
            cta="Buy",
            template_id="t1",
            fields={"price": "€99", "rating": 4.5},
        ),
        Ad(id="ad1", flight_id="f1", creative_id="cr1", weight=30),
        Site(id="s1", name="News", domain="news.example"),
        Zone(id="z1", site_id="s1", name="Top"),
        Placement(
            id="p1",
            zone_id="z1",
            name="Leaderboard",
            div_name="top-1",
            ad_types=["display", "native"],
            sizes=["728x90", "300x250"],
            floor_cpm=1.25,
            selection=SelectionMode.STATIC,
        ),
    ]


def _insert_all(engine: Engine, items: list[Any]) -> None:
    with Session(engine) as session:
        for item in items:
            catalog.insert(session, item)
        session.commit()


def test_upgrade_creates_the_tables_as_the_models_declare_and_downgrade_drops_them(
    engine: Engine,
) -> None:
    assert set(inspect(engine).get_table_names()) >= CATALOG_TABLES
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    with Session(engine) as session:
        assert catalog.catalog_version(session) == "0"
    fks = inspect(engine).get_foreign_keys("ads")
    assert {fk["referred_table"] for fk in fks} == {"flights", "creatives"}
    assert all(fk["options"].get("ondelete") == "RESTRICT" for fk in fks)
    assert {ix["column_names"][0] for ix in inspect(engine).get_indexes("ads")} == {
        "flight_id",
        "creative_id",
    }
    migrate.downgrade(engine, "0002")
    assert migrate.current_revision(engine) == "0002"
    assert not CATALOG_TABLES & set(inspect(engine).get_table_names())
    assert "interactions" in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= CATALOG_TABLES


def test_every_struct_round_trips_through_its_table(engine: Engine) -> None:
    items = _tree()
    _insert_all(engine, items)
    with Session(engine) as session:
        for item in items:
            record = catalog.get(session, type(item), item.id)
            assert record.item == item
            assert record.created_at.tzinfo is UTC
        with pytest.raises(NotFound, match="flight 'nope' does not exist"):
            catalog.get(session, Flight, "nope")


def test_times_are_stored_in_utc(engine: Engine) -> None:
    one_hour_east = datetime(2026, 7, 1, 2, 0, tzinfo=timezone(timedelta(hours=1)))
    items = _tree()[:2]
    flight = Flight(id="f9", campaign_id="c1", name="x", start=one_hour_east)
    _insert_all(engine, [*items, flight])
    with Session(engine) as session:
        start = catalog.get(session, Flight, "f9").item.start
    assert start == one_hour_east
    assert start.tzinfo is UTC


def test_load_catalog_rows_is_everything_not_archived_in_one_query_per_table(
    engine: Engine,
) -> None:
    items = _tree()
    _insert_all(engine, items)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    with Session(engine) as session:
        rows = catalog.load_catalog_rows(session)
    event.remove(engine, "before_cursor_execute", record)
    # the 8 ad server tables, templates and variants (no template uses a feed: no products)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 10
    loaded = [
        *rows.advertisers,
        *rows.campaigns,
        *rows.flights,
        *rows.creatives,
        *rows.ads,
        *rows.sites,
        *rows.zones,
        *rows.placements,
    ]
    assert loaded == items
    built = engine_catalog.build(version="1", **vars(rows))
    assert built.placement("top-1") is not None


def test_archiving_takes_a_row_and_everything_under_it_out_of_the_catalog(
    engine: Engine,
) -> None:
    items = _tree()
    _insert_all(engine, items)
    with Session(engine) as session:
        campaign = catalog.get(session, Campaign, "c1").item
        catalog.replace(session, _with(campaign, status=Status.ARCHIVED))
        site = catalog.get(session, Site, "s1").item
        catalog.replace(session, _with(site, status=Status.ARCHIVED))
        session.commit()
    with Session(engine) as session:
        rows = catalog.load_catalog_rows(session)
    assert [a.id for a in rows.advertisers] == ["a1"]
    assert [c.id for c in rows.creatives] == ["cr1"]
    emptied = [rows.campaigns, rows.flights, rows.ads, rows.sites, rows.zones, rows.placements]
    assert all(found == [] for found in emptied)


def _with(item: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(item, **changes)


def test_every_change_bumps_the_catalog_version(engine: Engine) -> None:
    versions = []
    with Session(engine) as session:
        versions.append(catalog.catalog_version(session))
        catalog.insert(session, Advertiser(id="a1", name="Acme"))
        session.commit()
        versions.append(catalog.catalog_version(session))
        catalog.replace(session, Advertiser(id="a1", name="Acme Corp"))
        session.commit()
        versions.append(catalog.catalog_version(session))
        catalog.delete(session, Advertiser, "a1")
        session.commit()
        versions.append(catalog.catalog_version(session))
    assert len(set(versions)) == 4


def test_deleting_a_row_with_children_is_a_conflict(engine: Engine) -> None:
    _insert_all(engine, _tree())
    with Session(engine) as session:
        with pytest.raises(Conflict, match=r"still has campaigns \(1\), creatives \(1\)") as exc:
            catalog.delete(session, Advertiser, "a1")
        assert exc.value.detail == {"children": {"campaigns": 1, "creatives": 1}}
        with pytest.raises(Conflict, match=r"delete them first$"):
            catalog.delete(session, Creative, "cr1")  # creatives cannot be archived
        catalog.delete(session, Ad, "ad1")
        catalog.delete(session, Flight, "f1")
        catalog.delete(session, Creative, "cr1")
        session.commit()
    with Session(engine) as session:
        assert catalog.load_catalog_rows(session).ads == []


def test_duplicates_are_conflicts(engine: Engine) -> None:
    _insert_all(engine, _tree())
    with Session(engine) as session:
        with pytest.raises(Conflict, match="advertiser 'a1' already exists"):
            catalog.insert(session, Advertiser(id="a1", name="again"))
        twin = Placement(id="p2", zone_id="z1", name="Twin", div_name="top-1")
        with pytest.raises(Conflict, match="div_name 'top-1' is already used by placement 'p1'"):
            catalog.insert(session, twin)


def test_reference_errors_name_the_field(engine: Engine) -> None:
    items = _tree()
    _insert_all(engine, [*items, Advertiser(id="a2", name="Other")])
    with Session(engine) as session:
        stray = Ad(id="x", flight_id="nope", creative_id="gone")
        assert catalog.reference_errors(session, stray) == {
            "flight_id": "flight 'nope' does not exist",
            "creative_id": "creative 'gone' does not exist",
        }
        catalog.insert(session, Creative(id="cr2", advertiser_id="a2", name="Theirs"))
        foreign = catalog.reference_errors(session, Ad(id="x", flight_id="f1", creative_id="cr2"))
        assert "belongs to advertiser 'a2'" in foreign["creative_id"]
        assert catalog.reference_errors(session, items[4]) == {}


def test_paging_walks_in_id_order_with_filters(engine: Engine) -> None:
    _insert_all(engine, [Advertiser(id=f"a{i}", name=str(i)) for i in range(7)])
    with Session(engine) as session:
        first = catalog.page(session, Advertiser, limit=3)
        rest = catalog.page(session, Advertiser, limit=10, after=first[-1].item.id)
        assert [r.item.id for r in first + rest] == [f"a{i}" for i in range(7)]
        assert catalog.page(session, Advertiser, limit=10, where={"status": "paused"}) == []


def test_api_keys_store_a_hash_and_authenticate_in_constant_time(engine: Engine) -> None:
    with Session(engine) as session:
        new = apikeys.create_key(session, "ci", [Scope.READ, Scope.WRITE])
        session.commit()
    assert new.secret.startswith("kairos_")
    with Session(engine) as session:
        row = session.scalars(select(ApiKeyRow)).one()
        assert new.secret not in {row.secret_hash, row.prefix, row.id}
        assert row.secret_hash == apikeys.hash_secret(new.secret)
        found = apikeys.authenticate(session, new.secret)
        assert found is not None
        assert found.allows(Scope.READ)
        assert not found.allows(Scope.ADMIN)
        assert found.last_used_at is not None
        assert apikeys.authenticate(session, new.secret[:-1] + "x") is None
        assert apikeys.authenticate(session, "nonsense") is None
        apikeys.revoke_key(session, new.key.id)
        assert apikeys.authenticate(session, new.secret) is None
        with pytest.raises(NotFound):
            apikeys.revoke_key(session, "key_missing")
        session.commit()
    with Session(engine) as session:
        (key,) = apikeys.list_keys(session)
        assert key.revoked_at is not None
        assert key.scopes == {Scope.READ, Scope.WRITE}


def test_admin_holds_every_scope() -> None:
    key = apikeys.ApiKey("k", "n", "p", frozenset({Scope.ADMIN}), T0)
    assert all(key.allows(scope) for scope in Scope)
