"""user profiles

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_profiles",
        sa.Column("user_key", sa.String(length=32), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("consent_personalization", sa.Boolean(), nullable=False),
        sa.Column("consent_measurement", sa.Boolean(), nullable=False),
        sa.Column("interests", sa.JSON(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("user_key", name=op.f("pk_user_profiles")),
    )
    op.create_index(op.f("ix_user_profiles_last_seen"), "user_profiles", ["last_seen"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_profiles_last_seen"), table_name="user_profiles")
    op.drop_table("user_profiles")
