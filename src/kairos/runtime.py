"""The composition root: builds the real edges (Kafka, database, keys) from settings."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from sqlalchemy import Engine

from kairos.db.engine import make_engine
from kairos.domain.identity import Pseudonymizer
from kairos.kafka.sink import KafkaLog, KafkaSink
from kairos.kafka.topics import Topics
from kairos.settings import Settings


def topics(settings: Settings) -> Topics:
    return Topics(settings.topic_prefix, settings.topic_partitions, settings.topic_replication)


def pseudonym_key(settings: Settings) -> bytes:
    """The configured key, or one generated on first use and kept in DATA_DIR (mode 0600)."""
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key.get_secret_value().encode()
    path = settings.data_dir / "secrets" / "pseudonym.key"
    return _read_or_create_key(path)


def _read_or_create_key(path: Path) -> bytes:
    """Several processes (API workers) may start at once on a fresh data directory: each writes
    a key of its own aside and links it into place, which only the first can do, so that no
    one ever reads a file still being written and all use the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(aside, path)  # atomic; refused when another process got there first
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_text().strip().encode()


def pseudonymizer(settings: Settings) -> Pseudonymizer:
    return Pseudonymizer(pseudonym_key(settings))


def kafka_sink(settings: Settings) -> KafkaSink:
    """The producer of accepted events: each request waits for its delivery reports."""
    return KafkaSink(
        settings.bootstrap_servers,
        timeout_ms=settings.produce_timeout_ms,
        linger_ms=settings.produce_linger_ms,
    )


def log_producer(settings: Settings) -> KafkaLog:
    """The producer of what nothing waits for, decision logs and tracking hits: batches
    longer (`KAIROS_LOG_LINGER_MS`), a failed delivery told to the caller's
    `failed`."""
    return KafkaLog(
        settings.bootstrap_servers,
        timeout_ms=settings.produce_timeout_ms,
        linger_ms=settings.log_linger_ms,
    )


def database(settings: Settings) -> Engine:
    return make_engine(settings.resolved_database_url)


def tracking_key(settings: Settings) -> bytes:
    """The secret that signs tracking URLs: configured, or derived from the pseudonym key."""
    if settings.tracking_key is not None:
        return settings.tracking_key.get_secret_value().encode()
    return hmac.new(pseudonym_key(settings), b"kairos tracking urls", hashlib.sha256).digest()
