from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from kairos.logs import KeyValueFormatter, kv
from kairos.runtime import pseudonym_key
from kairos.settings import Settings


def test_defaults_use_the_local_broker_and_sqlite(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.local_kafka
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'kairos.db'}"
    assert settings.host == "127.0.0.1"


def test_environment_configures_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("KAIROS_DATABASE_URL", "postgresql+psycopg://u:p@db/kairos")
    settings = Settings()
    assert not settings.local_kafka
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.resolved_database_url.startswith("postgresql")


def test_the_log_producers_linger_keeps_its_former_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_linger_ms == 100
    monkeypatch.setenv("KAIROS_DECISION_LOG_LINGER_MS", "40")  # before it batched tracking too
    assert Settings().log_linger_ms == 40
    monkeypatch.setenv("KAIROS_LOG_LINGER_MS", "30")  # the name of now wins
    assert Settings().log_linger_ms == 30


def test_generated_pseudonym_key_is_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = pseudonym_key(settings)
    assert first == pseudonym_key(settings)
    assert len(first) == 64
    key_file = tmp_path / "secrets" / "pseudonym.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_workers_starting_at_once_generate_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    start, keys = threading.Barrier(8), []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # take turns between any two steps, as racing processes would

    def worker() -> None:
        start.wait()
        keys.append(pseudonym_key(settings))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(set(keys)) == 1
    assert len(keys[0]) == 64  # nobody read the file while it was being written
    assert [f.name for f in (tmp_path / "secrets").iterdir()] == ["pseudonym.key"]


def test_key_value_log_lines() -> None:
    record = logging.LogRecord("kairos.x", logging.INFO, __file__, 1, "topics created", None, None)
    record.__dict__.update(kv(count=3, topics="a b"))
    line = KeyValueFormatter().format(record)
    assert 'level=info logger=kairos.x msg="topics created" count=3 topics="a b"' in line
