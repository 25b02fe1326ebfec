"""The model registry: every trained model version with its metrics, its validation data's
fingerprint and its snapshot; at most one promoted version per model name.

Pure rule in `kairos.learn.registry`; here, only the rows and their reads and writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kairos.db.models import Base
from kairos.db.timestamps import utcnow
from kairos.learn.registry import CANDIDATE, PROMOTED, REJECTED, RETIRED, Version


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    trained_on: Mapped[str] = mapped_column(Text)
    examples: Mapped[int] = mapped_column(Integer)
    validation: Mapped[str] = mapped_column(String(64))  # fingerprint of the validation data
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[bytes] = mapped_column(LargeBinary)


def _version(row: ModelVersionRow) -> Version:
    """The row's version (its columns are named as the version's fields)."""
    values = {f.name: getattr(row, f.name) for f in fields(Version)}
    return Version(**values | {"metrics": dict(row.metrics)})


def next_id(engine: Engine, name: str) -> str:
    with Session(engine) as session:
        count = len(
            session.scalars(select(ModelVersionRow.id).where(ModelVersionRow.name == name)).all()
        )
    return f"{name}-v{count + 1}"


def add(engine: Engine, version: Version, snapshot: bytes) -> None:
    """Record a version; when it is promoted, the previous promoted one is retired."""
    with Session(engine) as session, session.begin():
        if version.status == PROMOTED:
            for row in session.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.name == version.name, ModelVersionRow.status == PROMOTED
                )
            ):
                row.status = RETIRED
        session.add(ModelVersionRow(**asdict(version), snapshot=snapshot))


def promoted(engine: Engine, name: str) -> tuple[Version, bytes] | None:
    """The version of `name` in use, with its snapshot."""
    with Session(engine) as session:
        row = session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.name == name, ModelVersionRow.status == PROMOTED
            )
        ).first()
        return (_version(row), row.snapshot) if row else None


def get(engine: Engine, version_id: str) -> tuple[Version, bytes] | None:
    with Session(engine) as session:
        row = session.get(ModelVersionRow, version_id)
        return (_version(row), row.snapshot) if row else None


def versions(engine: Engine, name: str | None = None) -> Sequence[Version]:
    """Every version (of `name`), newest first."""
    with Session(engine) as session:
        query = select(ModelVersionRow).order_by(ModelVersionRow.created_at.desc())
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        return [_version(row) for row in session.scalars(query)]


__all__ = ["CANDIDATE", "PROMOTED", "REJECTED", "RETIRED", "ModelVersionRow"]
