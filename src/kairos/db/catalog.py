"""The catalog repository: the ad server's object model (`kairos.adserver.model`) in and out
of its tables, the catalog version, and the bulk load the decision engine indexes in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    Creative,
    Flight,
    Placement,
    Site,
    Status,
    Zone,
)
from kairos.creative import values
from kairos.creative.model import Feed, Product, Template, Variant
from kairos.db.adserver import (
    AdRow,
    AdvertiserRow,
    CampaignRow,
    CatalogRecord,
    CatalogState,
    CreativeRow,
    FlightRow,
    PlacementRow,
    SiteRow,
    ZoneRow,
)
from kairos.db.creatives import FeedRow, TemplateRow, VariantRow
from kairos.db.exceptions import Conflict, NotFound
from kairos.db.feeds import available_products
from kairos.db.timestamps import as_utc, utcnow

Item = TypeVar(
    "Item",
    Advertiser,
    Campaign,
    Flight,
    Creative,
    Ad,
    Site,
    Zone,
    Placement,
    Feed,
    Template,
    Variant,
)


Owned = Creative | Template | Variant | Feed  # items with an advertiser_id


@dataclass(frozen=True)
class Ref:
    """A column holding the id of a parent of kind `kind`."""

    field: str
    kind: type[Any]
    optional: bool = False  # may be null; an archived optional parent does not hide the child


@dataclass(frozen=True)
class Table:
    kind: type[Any]
    row: type[CatalogRecord]
    noun: str
    plural: str
    refs: tuple[Ref, ...] = ()
    unique: tuple[str, ...] = ()  # columns unique across the table (besides the id)

    @property
    def archivable(self) -> bool:
        return "status" in self.kind.__struct_fields__


TABLES: dict[type[Any], Table] = {
    t.kind: t
    for t in (
        Table(Advertiser, AdvertiserRow, "advertiser", "advertisers"),
        Table(Campaign, CampaignRow, "campaign", "campaigns", (Ref("advertiser_id", Advertiser),)),
        Table(Flight, FlightRow, "flight", "flights", (Ref("campaign_id", Campaign),)),
        Table(Creative, CreativeRow, "creative", "creatives", (Ref("advertiser_id", Advertiser),)),
        Table(Ad, AdRow, "ad", "ads", (Ref("flight_id", Flight), Ref("creative_id", Creative))),
        Table(Site, SiteRow, "site", "sites"),
        Table(Zone, ZoneRow, "zone", "zones", (Ref("site_id", Site),)),
        Table(
            Placement,
            PlacementRow,
            "placement",
            "placements",
            (Ref("zone_id", Zone),),
            unique=("div_name",),
        ),
        Table(Feed, FeedRow, "feed", "feeds", (Ref("advertiser_id", Advertiser),)),
        Table(
            Template,
            TemplateRow,
            "template",
            "templates",
            (Ref("advertiser_id", Advertiser), Ref("feed_id", Feed, optional=True)),
        ),
        Table(Variant, VariantRow, "variant", "variants", (Ref("advertiser_id", Advertiser),)),
    )
}


@dataclass(frozen=True)
class Record(Generic[Item]):
    """A stored item with the times the database keeps for it."""

    item: Item
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CatalogRows:
    """Everything not archived (nor under an archived parent), as the decision engine's
    `kairos.adserver.catalog.build(version=…, **vars(rows))` takes it."""

    advertisers: list[Advertiser]
    campaigns: list[Campaign]
    flights: list[Flight]
    creatives: list[Creative]
    ads: list[Ad]
    sites: list[Site]
    zones: list[Zone]
    placements: list[Placement]
    templates: list[Template]
    variants: list[Variant]
    products: list[Product]  # available ones, of the feeds the live templates use


# --- rows <-> structs -----------------------------------------------------------------------


def _column(entity: Any, name: str) -> Any:
    return getattr(entity, name)


def to_struct(kind: type[Item], row: CatalogRecord) -> Item:
    values = {name: _column(row, name) for name in kind.__struct_fields__}
    plain = {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}
    return msgspec.convert(plain, kind)


def to_values(item: Item) -> dict[str, Any]:
    """Column values of `item`: enums as strings, nested structs as JSON, datetimes in UTC."""
    values: dict[str, Any] = msgspec.to_builtins(item, builtin_types=(datetime,))
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


def _record(kind: type[Item], row: CatalogRecord) -> Record[Item]:
    return Record(to_struct(kind, row), as_utc(row.created_at), as_utc(row.updated_at))


# --- reads ----------------------------------------------------------------------------------


def get(session: Session, kind: type[Item], item_id: str) -> Record[Item]:
    table = TABLES[kind]
    row = session.get(table.row, item_id)
    if row is None:
        raise NotFound(f"{table.noun} {item_id!r} does not exist")
    return _record(kind, row)


def page(
    session: Session,
    kind: type[Item],
    *,
    limit: int,
    after: str | None = None,
    where: Mapping[str, str] | None = None,
) -> list[Record[Item]]:
    """Up to `limit` items in id order, after the id `after`, with columns equal to `where`."""
    row = TABLES[kind].row
    stmt = select(row).order_by(row.id).limit(limit)
    if after is not None:
        stmt = stmt.where(row.id > after)
    for name, value in (where or {}).items():
        stmt = stmt.where(_column(row, name) == value)
    return [_record(kind, r) for r in session.scalars(stmt)]


def reference_errors(session: Session, item: Item) -> dict[str, str]:
    """Field → why it is wrong, for references to parents that do not exist (or that do not
    fit together: an ad's creative must belong to the advertiser of the ad's flight)."""
    errors: dict[str, str] = {}
    for ref in TABLES[type(item)].refs:
        parent = TABLES[ref.kind]
        value = _column(item, ref.field)
        if value is None and ref.optional:
            continue
        if session.get(parent.row, value) is None:
            errors[ref.field] = f"{parent.noun} {value!r} does not exist"
    if isinstance(item, Owned) and not errors:
        errors |= _same_advertiser(session, item)
    if isinstance(item, Ad) and not errors:
        owner = session.scalar(
            select(CampaignRow.advertiser_id)
            .join(FlightRow, FlightRow.campaign_id == CampaignRow.id)
            .where(FlightRow.id == item.flight_id)
        )
        creative = session.get(CreativeRow, item.creative_id)
        if creative is not None and creative.advertiser_id != owner:
            errors["creative_id"] = (
                f"creative {item.creative_id!r} belongs to advertiser {creative.advertiser_id!r}, "
                f"the flight {item.flight_id!r} to advertiser {owner!r}"
            )
    return errors


def _same_advertiser(
    session: Session, item: Creative | Template | Variant | Feed
) -> dict[str, str]:
    """A creative's template and a template's feed belong to the same advertiser."""
    pairs: list[tuple[str, Any, str | None]] = []
    if isinstance(item, Creative) and item.template_id is not None:
        pairs.append(("template_id", TemplateRow, item.template_id))
    if isinstance(item, Template):
        pairs.append(("feed_id", FeedRow, item.feed_id))
    errors = {}
    for field, row_type, value in pairs:
        if value is None:
            continue
        row = session.get(row_type, value)
        if row is None:
            errors[field] = f"{field.removesuffix('_id')} {value!r} does not exist"
        elif row.advertiser_id != item.advertiser_id:
            errors[field] = f"{value!r} belongs to advertiser {row.advertiser_id!r}"
    return errors


def variant_errors(session: Session, variant: Variant) -> dict[str, str]:
    """A variant's value must fit its slot in each of the advertiser's templates that have it."""
    stmt = select(TemplateRow).where(TemplateRow.advertiser_id == variant.advertiser_id)
    for row in session.scalars(stmt):
        template = to_struct(Template, row)
        for slot in template.slots:
            if slot.name == variant.slot:
                try:
                    values.check(slot, variant.value)
                except values.InvalidValue as exc:
                    return {"value": f"template {template.id!r}: {exc}"}
    return {}


# --- writes (each bumps the catalog version in the same transaction) --------------------------


def insert(session: Session, item: Item) -> Record[Item]:
    table = TABLES[type(item)]
    if session.get(table.row, item.id) is not None:
        raise Conflict(f"{table.noun} {item.id!r} already exists")
    _check_unique(session, table, item)
    now = utcnow()
    row = table.row(**to_values(item), created_at=now, updated_at=now)
    session.add(row)
    _flush(session, table)
    bump_version(session)
    return _record(type(item), row)


def replace(session: Session, item: Item) -> Record[Item]:
    """Store `item` over the stored one with the same id."""
    table = TABLES[type(item)]
    row = session.get(table.row, item.id)
    if row is None:
        raise NotFound(f"{table.noun} {item.id!r} does not exist")
    _check_unique(session, table, item)
    for name, value in to_values(item).items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    _flush(session, table)
    bump_version(session)
    return _record(type(item), row)


def delete(session: Session, kind: type[Item], item_id: str) -> None:
    """Delete a row that nothing references; otherwise Conflict (archive it instead)."""
    table = TABLES[kind]
    row = session.get(table.row, item_id)
    if row is None:
        raise NotFound(f"{table.noun} {item_id!r} does not exist")
    children = _children(session, kind, item_id)
    if children:
        listed = ", ".join(f"{plural} ({n})" for plural, n in children.items())
        hint = f", or archive the {table.noun} instead" if table.archivable else ""
        raise Conflict(
            f"{table.noun} {item_id!r} still has {listed}: delete them first{hint}",
            detail={"children": children},
        )
    session.delete(row)
    _flush(session, table)
    bump_version(session)


def _children(session: Session, kind: type[Any], item_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for child in TABLES.values():
        for ref in child.refs:
            if ref.kind is kind:
                stmt = select(func.count()).where(_column(child.row, ref.field) == item_id)
                if n := session.scalar(stmt) or 0:
                    counts[child.plural] = n
    return counts


def _check_unique(session: Session, table: Table, item: Any) -> None:
    for name in table.unique:
        value = _column(item, name)
        if value is None:
            continue
        stmt = select(table.row.id).where(_column(table.row, name) == value)
        holder = session.scalar(stmt.where(table.row.id != item.id))
        if holder is not None:
            raise Conflict(f"{name} {value!r} is already used by {table.noun} {holder!r}")


def _flush(session: Session, table: Table) -> None:
    """Flush, turning a constraint the checks above raced with into a Conflict."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"the {table.noun} conflicts with stored data: {exc.orig}") from exc


# --- version and bulk load ------------------------------------------------------------------


def catalog_version(session: Session) -> str:
    """An opaque string that changes whenever the catalog does."""
    version = session.scalar(select(CatalogState.version).where(CatalogState.id == 1))
    return str(version or 0)


def bump_version(session: Session) -> None:
    # The UPDATE's row lock also orders concurrent writers, so versions never repeat.
    bumped = session.execute(
        update(CatalogState)
        .where(CatalogState.id == 1)
        .values(version=CatalogState.version + 1, updated_at=utcnow())
    )
    if getattr(bumped, "rowcount", 0) == 0:
        session.add(CatalogState(id=1, version=1, updated_at=utcnow()))
        session.flush()


def load_catalog_rows(session: Session) -> CatalogRows:
    """One query per table; rows archived themselves or under an archived parent are left out."""
    return CatalogRows(
        advertisers=_live(session, Advertiser),
        campaigns=_live(session, Campaign),
        flights=_live(session, Flight),
        creatives=_live(session, Creative),
        ads=_live(session, Ad),
        sites=_live(session, Site),
        zones=_live(session, Zone),
        placements=_live(session, Placement),
        templates=(templates := _live(session, Template)),
        variants=_live(session, Variant),
        products=available_products(session, {t.feed_id for t in templates if t.feed_id}),
    )


def _live(session: Session, kind: type[Item]) -> list[Item]:
    table = TABLES[kind]
    stmt = select(table.row).order_by(table.row.id)
    stmt = _not_archived(stmt, table.row, table)
    return [to_struct(kind, row) for row in session.scalars(stmt)]


def _not_archived(stmt: Select[Any], entity: Any, table: Table) -> Select[Any]:
    """Filter out archived rows of `entity` and, by joins, rows under archived ancestors."""
    if table.archivable:
        stmt = stmt.where(entity.status != Status.ARCHIVED.value)
    for ref in table.refs:
        if ref.optional:
            continue
        parent_table = TABLES[ref.kind]
        parent = aliased(parent_table.row)
        stmt = stmt.join(parent, _column(entity, ref.field) == parent.id)
        stmt = _not_archived(stmt, parent, parent_table)
    return stmt
