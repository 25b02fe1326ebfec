"""Shared fixtures: settings in a scratch directory, database URLs for every backend, and one
real Kafka broker and one real redis-server for the whole session."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from kairos.bench.harness import free_port
from kairos.featurestore.local import local_redis
from kairos.kafka.local import LocalBroker, fetch_jars
from kairos.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789abcdef")


# --- databases ------------------------------------------------------------------------------


def _postgres_admin_url() -> str | None:
    url = os.environ.get("KAIROS_TEST_POSTGRES_URL")
    if not url and os.environ.get("KAIROS_REQUIRE_POSTGRES") == "1":
        pytest.fail("KAIROS_REQUIRE_POSTGRES=1 but KAIROS_TEST_POSTGRES_URL is not set")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (PostgreSQL: a new database per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip("KAIROS_TEST_POSTGRES_URL not set (make test sets it)")
    name = f"kairos_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            _drop_database(admin, name)
        finally:
            admin.dispose()


def _drop_database(admin: Engine, name: str, tries: int = 5) -> None:
    """Drop a test database; a backend that is just starting or an autovacuum worker can
    make one attempt fail, so try a few times before giving up."""
    for attempt in range(1, tries + 1):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == tries:
                raise
            time.sleep(1.0)


# --- Kafka ----------------------------------------------------------------------------------


@dataclass
class KafkaUnderTest:
    bootstrap: str
    broker: LocalBroker | None  # None when an external cluster is used

    def settings(self, tmp_path: Path, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path,
            "kafka_bootstrap": self.bootstrap,
            "topic_prefix": f"t{uuid.uuid4().hex[:10]}",
            "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
            "produce_timeout_ms": 3000,
        }
        return Settings(**(values | overrides))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaUnderTest]:
    """The real broker: an external one from KAIROS_TEST_KAFKA_BOOTSTRAP, or a local one."""
    external = os.environ.get("KAIROS_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield KafkaUnderTest(external, None)
        return
    libs = Path(os.environ.get("KAIROS_KAFKA_LIBS_DIR", ROOT / ".kairos" / "kafka" / "libs"))
    fetch_jars(libs)
    broker = _started_broker(tmp_path_factory, libs)
    try:
        yield KafkaUnderTest(broker.bootstrap, broker)
    finally:
        broker.stop()


def _started_broker(factory: pytest.TempPathFactory, libs: Path, tries: int = 2) -> LocalBroker:
    """A broker on free ports; once more on other ports if a port was taken in between."""
    for attempt in range(1, tries + 1):
        home = factory.mktemp("kafka")
        broker = LocalBroker(home, libs, port=free_port(), controller_port=free_port(), heap="384m")
        try:
            broker.start(timeout_s=180)
            return broker
        except Exception as exc:
            broker.stop()
            if attempt == tries:
                raise
            print(f"local broker did not start ({exc!r}); trying other ports")
    raise AssertionError("unreachable")


# --- Redis ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port (no persistence), stopped by its PID at the
    end; or an external one from KAIROS_TEST_REDIS_URL (tests use their own namespaces)."""
    external = os.environ.get("KAIROS_TEST_REDIS_URL")
    if external:
        yield external
        return
    with local_redis(tmp_path_factory.mktemp("redis"), free_port()) as url:
        yield url


from tests.management import api  # noqa: E402, F401  (the management API fixture, for every test)
