"""The management API under test: a client on a migrated database with keys of each scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kairos.api.app import create_app
from kairos.db import apikeys, migrate
from kairos.db.apikeys import Scope
from kairos.db.engine import make_engine
from kairos.kafka.sink import MemorySink
from kairos.settings import Settings


@dataclass
class Api:
    client: TestClient
    engine: Engine
    keys: dict[str, str]  # "admin", "read", "write", "rw" -> secret

    def headers(self, key: str = "rw") -> dict[str, str]:
        return {"X-Api-Key": self.keys[key]}

    def post(self, path: str, body: dict[str, Any], key: str = "rw") -> Any:
        response = self.client.post(path, json=body, headers=self.headers(key))
        assert response.status_code == 201, response.text
        return response.json()


SCOPES = {
    "admin": [Scope.ADMIN],
    "read": [Scope.READ],
    "write": [Scope.WRITE],
    "rw": [Scope.READ, Scope.WRITE],
}


@pytest.fixture
def api(database_url: str, settings: Settings) -> Iterator[Api]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        keys = {n: apikeys.create_key(session, n, s).secret for n, s in SCOPES.items()}
        session.commit()
    with TestClient(create_app(settings, sink=MemorySink(), engine=engine)) as client:
        yield Api(client, engine, keys)
    engine.dispose()
