"""API keys of the management API: the table and its repository.

The secret (`kairos_<random>`) is shown once, at creation; only its SHA-256 is stored, with a
short prefix that finds the candidate row so that the hashes themselves are compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kairos.db.exceptions import NotFound
from kairos.db.models import Base
from kairos.db.timestamps import as_utc, utcnow

SECRET_PREFIX = "kairos_"
_LOOKUP_CHARS = len(SECRET_PREFIX) + 8
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is a hint, not an audit log: few writes


class Scope(StrEnum):
    READ = "read"  # GET
    WRITE = "write"  # POST, PATCH, DELETE
    ADMIN = "admin"  # API keys; implies read and write


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(32), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class ApiKey:
    """A key as the API and the CLI see it: never the secret."""

    id: str
    name: str
    prefix: str
    scopes: frozenset[Scope]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, name: str, scopes: Iterable[Scope]) -> NewKey:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=f"key_{secrets.token_hex(6)}",
        name=name,
        prefix=secret[:_LOOKUP_CHARS],
        secret_hash=hash_secret(secret),
        scopes=sorted({Scope(s).value for s in scopes}),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return NewKey(_key(row), secret)


def list_keys(session: Session) -> list[ApiKey]:
    rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
    return [_key(row) for row in rows]


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time)."""
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFound(f"API key {key_id!r} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return _key(row)


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The live key whose secret this is, or None (unknown or revoked)."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    digest = hash_secret(secret)
    candidates = session.scalars(
        select(ApiKeyRow).where(ApiKeyRow.prefix == secret[:_LOOKUP_CHARS])
    ).all()
    found = next((r for r in candidates if hmac.compare_digest(r.secret_hash, digest)), None)
    if found is None or found.revoked_at is not None:
        return None
    now = utcnow()
    if found.last_used_at is None or as_utc(found.last_used_at) < now - _TOUCH_EVERY:
        found.last_used_at = now
        session.flush()
    return _key(found)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=frozenset(Scope(s) for s in row.scopes),
        created_at=as_utc(row.created_at),
        last_used_at=None if row.last_used_at is None else as_utc(row.last_used_at),
        revoked_at=None if row.revoked_at is None else as_utc(row.revoked_at),
    )
