"""interaction history, performance roll-ups, writer offsets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["advertiser_id", "campaign_id", "flight_id", "ad_id", "creative_id", "placement_id"]


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("user_key", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("page_url", sa.String(length=2048), nullable=True),
        sa.Column("category", sa.String(length=256), nullable=True),
        sa.Column("device", sa.String(length=32), nullable=True),
        sa.Column("os", sa.String(length=64), nullable=True),
        sa.Column("browser", sa.String(length=64), nullable=True),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("region", sa.String(length=16), nullable=True),
        sa.Column("local_hour", sa.SmallInteger(), nullable=True),
        sa.Column("weekday", sa.SmallInteger(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("decision_id", sa.String(length=128), nullable=True),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("ad_id", sa.String(length=128), nullable=True),
        sa.Column("creative_id", sa.String(length=128), nullable=True),
        sa.Column("placement_id", sa.String(length=128), nullable=True),
        sa.Column("elements", sa.JSON(), nullable=False),
        sa.Column("attribution", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("event_type", "event_id", name=op.f("pk_interactions")),
    )
    op.create_index(op.f("ix_interactions_user_key"), "interactions", ["user_key"])
    op.create_index(op.f("ix_interactions_ts"), "interactions", ["ts"])
    op.create_index(op.f("ix_interactions_decision_id"), "interactions", ["decision_id"])
    op.create_table(
        "performance",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.String(length=128), nullable=False) for name in _KEY),
        sa.Column("combination", sa.String(length=512), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=128), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("viewable", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("spend", sa.Float(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain",
            "bucket",
            *_KEY,
            "combination",
            "slot",
            "variant",
            name=op.f("pk_performance"),
        ),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "consumer_group", "topic", "partition", name=op.f("pk_consumer_offsets")
        ),
    )


def downgrade() -> None:
    op.drop_table("consumer_offsets")
    op.drop_table("performance")
    op.drop_index(op.f("ix_interactions_decision_id"), table_name="interactions")
    op.drop_index(op.f("ix_interactions_ts"), table_name="interactions")
    op.drop_index(op.f("ix_interactions_user_key"), table_name="interactions")
    op.drop_table("interactions")
