"""Typed settings, read once at start-up from `KAIROS_*` environment variables and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Kairos has. Unknown `KAIROS_*` keys in a `.env` file are rejected."""

    model_config = SettingsConfigDict(
        env_prefix="KAIROS_", env_file=".env", extra="forbid", frozen=True
    )

    data_dir: Path = Field(default=Path(".kairos"), description="Local state: broker, SQLite, keys")

    # Kafka
    kafka_bootstrap: str | None = Field(
        default=None, description="A cluster's bootstrap servers; unset = start the local broker"
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_libs_dir: Path | None = Field(
        default=None, description="Kafka jars; default DATA_DIR/kafka/libs"
    )
    kafka_heap: str = Field(default="512m", description="Max heap of the local broker")
    topic_prefix: str = Field(default="kairos", pattern=r"^[A-Za-z0-9._-]+$")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of each event topic")
    topic_replication: int = Field(default=1, ge=1)
    produce_timeout_ms: int = Field(default=5000, ge=100, description="Delivery deadline per event")
    produce_linger_ms: int = Field(default=20, ge=0, le=1000, description="Producer batching wait")
    log_linger_ms: int = Field(
        default=100,
        ge=0,
        le=1000,
        # KAIROS_DECISION_LOG_LINGER_MS: its name before it batched tracking hits too
        validation_alias=AliasChoices(
            "log_linger_ms", "KAIROS_LOG_LINGER_MS", "KAIROS_DECISION_LOG_LINGER_MS"
        ),
        description="Batching wait of decision logs and tracking hits (never awaited)",
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Messages Kafka could not take, until it can; default DATA_DIR/spool",
    )
    spool_replay_every_s: float = Field(
        default=5.0, gt=0, description="How often the API tries to deliver what it spooled"
    )

    # Stream processing
    stream_group: str = Field(default="kairos-stream", description="Consumer group of processors")
    stream_state_dir: Path | None = Field(default=None, description="default DATA_DIR/stream")
    stream_commit_interval_s: float = Field(
        default=0.1, gt=0, description="Longest commit period under load (caught up: at once)"
    )
    stream_instance: str | None = Field(
        default=None,
        description="Stable id of this processor (transactions); default host name + free slot",
    )
    stream_user_ttl_days: float = Field(
        default=30, gt=0, description="A user idle this long leaves the stream's state and store"
    )
    click_window_s: float = Field(
        default=30 * 60, gt=0, description="Attribution window impression → click"
    )
    conversion_window_s: float = Field(
        default=7 * 24 * 3600, gt=0, description="Attribution window impression → conversion"
    )
    interest_half_life_s: float = Field(
        default=3 * 24 * 3600, gt=0, description="Half-life of decayed interest scores"
    )
    history_retention_days: float = Field(
        default=90, gt=0, description="Raw interaction history older than this is deleted"
    )
    persist_group: str = Field(
        default="kairos-persist", description="Consumer group of the database writers"
    )
    persist_metrics_port: int = Field(
        default=9465, ge=0, le=65535, description="Prometheus /metrics of a writer; 0 = off"
    )

    stream_metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Prometheus /metrics of a processor; 0 = off"
    )
    geoip_db: Path | None = Field(
        default=None, description="GeoLite2/GeoIP2 Country or City .mmdb file; unset = no geo"
    )

    # Online feature store
    feature_store: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory = each server follows the features topic; redis = shared, via sync",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis of the feature store (redis mode)"
    )

    # Database
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset = SQLite file DATA_DIR/kairos.db"
    )

    # API
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_batch_events: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    pseudonym_key: SecretStr | None = Field(
        default=None, description="Key of the user-id hash; unset = generated once in DATA_DIR"
    )

    public_url: str | None = Field(
        default=None, description="The API's public base URL, for tracking links"
    )
    tracking_key: SecretStr | None = Field(
        default=None, description="Secret that signs tracking URLs; default: from the pseudonym key"
    )
    scorer: Literal["historical", "model"] = Field(
        default="model",
        description="pCTR of the auction: the published click model once there is one "
        "(`model`), or always the smoothed historical CTR (`historical`)",
    )
    personalize_top: int = Field(
        default=0,
        ge=0,
        le=200,
        description="Rescore this many best candidates per request with the user's features "
        "(0: the model scores ads once per catalog and model)",
    )
    native: bool = Field(
        default=True,
        description="Write ads' answers with the compiled decision path (`kairos_native`, "
        "built by `make setup`) where it is installed; false: in Python (the same bytes)",
    )
    compiled: bool = Field(
        default=True,
        description="Run the decision path's modules compiled by mypyc (`kairos compile`, "
        "run by `make setup`) where they are built from their source as it is; false: the "
        "source. Read when `kairos` is imported, from the environment or `.env`",
    )
    gc_thresholds: tuple[int, int, int] = Field(
        default=(700, 10, 1000),
        description="The API's garbage-collector thresholds (generations 0, 1, 2; start-up "
        "objects are frozen out of every scan): higher collects less often but pauses longer "
        "(`kairos_gc_pause_seconds`); the third makes automatic full collections rare",
    )
    gc_full_every_s: float = Field(
        default=300.0,
        gt=0,
        description="The API collects every generation this often (each a pause of tens of "
        "milliseconds on a warm server)",
    )
    log_level: str = "INFO"

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def local_kafka(self) -> bool:
        """True when Kairos runs its own broker (no cluster configured)."""
        return not self.kafka_bootstrap

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def resolved_kafka_libs(self) -> Path:
        return (self.kafka_libs_dir or self.kafka_dir / "libs").expanduser().resolve()

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_stream_state_dir(self) -> Path:
        return (self.stream_state_dir or self.data_dir / "stream").expanduser().resolve()

    @property
    def resolved_spool_dir(self) -> Path:
        return (self.spool_dir or self.data_dir / "spool").expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'kairos.db'}"
