"""ad server catalog (advertisers … placements), its version counter, API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents first; downgrade drops in reverse.
_TABLES = [
    "advertisers",
    "campaigns",
    "flights",
    "creatives",
    "ads",
    "sites",
    "zones",
    "placements",
]


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.String(length=64), nullable=False)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)
        for name in ("created_at", "updated_at")
    ]


def _parent(column: str, table: str, owner: str) -> tuple[sa.Column[Any], sa.ForeignKeyConstraint]:
    fk = sa.ForeignKeyConstraint(
        [column], [f"{table}.id"], name=op.f(f"fk_{owner}_{column}_{table}"), ondelete="RESTRICT"
    )
    return sa.Column(column, sa.String(length=64), nullable=False), fk


def _table(name: str, *items: SchemaItem, parents: Sequence[tuple[str, str]] = ()) -> None:
    refs = [_parent(column, table, name) for column, table in parents]
    op.create_table(
        name,
        _id(),
        *(column for column, _ in refs),
        *items,
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        *(fk for _, fk in refs),
    )
    for column, _ in parents:
        op.create_index(op.f(f"ix_{name}_{column}"), name, [column])


def _status() -> sa.Column[Any]:
    return sa.Column("status", sa.String(length=16), nullable=False)


def _name() -> sa.Column[Any]:
    return sa.Column("name", sa.String(length=255), nullable=False)


def upgrade() -> None:
    _table("advertisers", _name(), _status())
    _table(
        "campaigns",
        _name(),
        _status(),
        sa.Column("caps", sa.JSON(), nullable=False),
        parents=[("advertiser_id", "advertisers")],
    )
    _table(
        "flights",
        _name(),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        _status(),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("rate_type", sa.String(length=8), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("goal_type", sa.String(length=16), nullable=False),
        sa.Column("goal_amount", sa.BigInteger(), nullable=True),
        sa.Column("daily_budget", sa.Float(), nullable=True),
        sa.Column("lifetime_budget", sa.Float(), nullable=True),
        sa.Column("pacing", sa.String(length=8), nullable=False),
        sa.Column("caps", sa.JSON(), nullable=False),
        sa.Column("targeting", sa.JSON(), nullable=False),
        parents=[("campaign_id", "campaigns")],
    )
    _table(
        "creatives",
        _name(),
        sa.Column("ad_type", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("click_url", sa.String(length=2048), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.String(length=512), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("cta", sa.String(length=255), nullable=True),
        sa.Column("template_id", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        parents=[("advertiser_id", "advertisers")],
    )
    _table(
        "ads",
        sa.Column("weight", sa.Integer(), nullable=False),
        _status(),
        parents=[("flight_id", "flights"), ("creative_id", "creatives")],
    )
    _table("sites", _name(), sa.Column("domain", sa.String(length=253), nullable=False), _status())
    _table("zones", _name(), parents=[("site_id", "sites")])
    _table(
        "placements",
        _name(),
        sa.Column("div_name", sa.String(length=128), nullable=True),
        sa.Column("ad_types", sa.JSON(), nullable=False),
        sa.Column("sizes", sa.JSON(), nullable=False),
        sa.Column("floor_cpm", sa.Float(), nullable=False),
        sa.Column("selection", sa.String(length=16), nullable=False),
        _status(),
        sa.UniqueConstraint("div_name", name=op.f("uq_placements_div_name")),
        parents=[("zone_id", "zones")],
    )
    state = op.create_table(
        "catalog_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_state")),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"])


def downgrade() -> None:
    op.drop_table("api_keys")  # its index goes with it
    op.drop_table("catalog_state")
    for name in reversed(_TABLES):
        op.drop_table(name)
