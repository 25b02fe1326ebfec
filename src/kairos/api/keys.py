"""`/v1/keys`: API keys managed over HTTP by an admin key (the first one comes from the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session
from starlette.responses import Response

from kairos.api.auth import require
from kairos.api.sessions import db_session
from kairos.db import apikeys
from kairos.db.apikeys import Scope

router = APIRouter(prefix="/v1/keys", tags=["keys"], dependencies=[Depends(require(Scope.ADMIN))])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    scopes: list[Scope] = Field(min_length=1, description="read (GET), write, admin (all)")


class Key(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The secret's first characters, to recognise it")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKey(Key):
    secret: str = Field(description="Shown once: only its SHA-256 is stored")


@router.post("", status_code=201, response_model=NewKey, summary="Create a key")
def create_key(body: KeyCreate, session: Session = Depends(db_session)) -> NewKey:
    new = apikeys.create_key(session, body.name, body.scopes)
    session.commit()
    return NewKey(**new.key.as_dict(), secret=new.secret)


@router.get("", response_model=list[Key], summary="List keys (never their secrets)")
def list_keys(session: Session = Depends(db_session)) -> list[Key]:
    return [Key(**key.as_dict()) for key in apikeys.list_keys(session)]


@router.delete("/{key_id}", status_code=204, summary="Revoke a key")
def revoke_key(key_id: str, session: Session = Depends(db_session)) -> Response:
    apikeys.revoke_key(session, key_id)
    session.commit()
    return Response(status_code=204)
