"""dynamic creatives: feeds, templates, element variants, products, feed import reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _catalog_columns(name: str, *parents: tuple[str, str, bool]) -> list[Any]:
    """id, parent references (column, table, nullable) with their keys, timestamps."""
    items: list[Any] = [sa.Column("id", sa.String(length=64), nullable=False)]
    for column, table, nullable in parents:
        items.append(sa.Column(column, sa.String(length=64), nullable=nullable))
        items.append(
            sa.ForeignKeyConstraint(
                [column],
                [f"{table}.id"],
                name=op.f(f"fk_{name}_{column}_{table}"),
                ondelete="RESTRICT",
            )
        )
    items += [
        sa.Column(stamp, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)
        for stamp in ("created_at", "updated_at")
    ]
    items.append(sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")))
    return items


def _indexes(name: str, *columns: str) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{name}_{column}"), name, [column])


def upgrade() -> None:
    op.create_table(
        "feeds",
        *_catalog_columns("feeds", ("advertiser_id", "advertisers", False)),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=True),
        sa.Column("refresh_s", sa.Integer(), nullable=True),
    )
    _indexes("feeds", "advertiser_id")
    op.create_table(
        "templates",
        *_catalog_columns(
            "templates", ("advertiser_id", "advertisers", False), ("feed_id", "feeds", True)
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("native", sa.JSON(), nullable=False),
        sa.Column("video", sa.JSON(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("product_filter", sa.Text(), nullable=True),
        sa.Column("max_combinations", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
    )
    _indexes("templates", "advertiser_id", "feed_id")
    op.create_table(
        "element_variants",
        *_catalog_columns("element_variants", ("advertiser_id", "advertisers", False)),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
    )
    _indexes("element_variants", "advertiser_id")
    op.create_table(
        "products",
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("landing_url", sa.String(length=2048), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_products_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("feed_id", "id", name=op.f("pk_products")),
    )
    op.create_table(
        "feed_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_feed_imports_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_imports")),
    )
    _indexes("feed_imports", "feed_id")


def downgrade() -> None:
    for name in ("feed_imports", "products", "element_variants", "templates", "feeds"):
        op.drop_table(name)
