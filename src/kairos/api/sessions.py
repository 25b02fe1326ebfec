"""A database session per request, for routes that read or edit the database.

Routes that write commit themselves, before answering, so that a 2xx means it is stored.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends
from sqlalchemy.orm import Session

from kairos.api.state import Services, services


def db_session(svc: Services = Depends(services)) -> Iterator[Session]:
    with Session(svc.engine, expire_on_commit=False) as session:
        yield session
