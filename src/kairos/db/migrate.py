"""Alembic, driven from code: `kairos db upgrade` and start-up both call `upgrade`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SCRIPT_LOCATION = "kairos.db:migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def _bound(engine: Engine) -> Iterator[Config]:
    """An Alembic config that runs on one transaction of `engine`."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        yield cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _bound(engine) as cfg:
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _bound(engine) as cfg:
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def revision(engine: Engine, message: str, *, autogenerate: bool = True) -> None:
    """Write a new migration script (for developers extending the schema)."""
    with _bound(engine) as cfg:
        command.revision(cfg, message=message, autogenerate=autogenerate)
