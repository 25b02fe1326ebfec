"""Every topic Kairos uses, declared once: name, partitions, retention and compaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from kairos.domain.events import EventType

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int = 1
    compacted: bool = False
    retention_ms: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    purpose: str = ""

    def config(self) -> dict[str, str]:
        cfg = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg | self.extra


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix, so several deployments can share a cluster."""

    prefix: str = "kairos"
    partitions: int = 3
    replication: int = 1

    def events(self, event_type: EventType) -> str:
        return f"{self.prefix}.events.{event_type.value}"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.events.dead_letter"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}.decisions"

    @property
    def user_features(self) -> str:
        return f"{self.prefix}.features.user"

    @property
    def labelled_examples(self) -> str:
        return f"{self.prefix}.examples.labelled"

    @property
    def interactions(self) -> str:
        return f"{self.prefix}.interactions"

    def stream_state(self, group: str) -> str:
        """The changelog of a stream consumer group's per-user state."""
        return f"{self.prefix}.stream.{group}.state"

    def stream_state_spec(self, group: str) -> TopicSpec:
        # as many partitions as the inputs: changelog partition p holds input partition p's users
        return TopicSpec(
            self.stream_state(group),
            self.partitions,
            self.replication,
            compacted=True,
            extra={"max.message.bytes": str(8 * 1024 * 1024)},
            purpose=f"per-user state of stream group {group} (compacted changelog)",
        )

    @property
    def models(self) -> str:
        return f"{self.prefix}.models"

    def specs(self) -> list[TopicSpec]:
        """The full declaration, created idempotently at start-up."""
        n, r = self.partitions, self.replication
        events = [
            TopicSpec(self.events(t), n, r, retention_ms=7 * DAY_MS, purpose=f"{t.value} events")
            for t in EventType
        ]
        return [
            *events,
            TopicSpec(
                self.dead_letter,
                n,
                r,
                retention_ms=30 * DAY_MS,
                purpose="invalid input, with the reason, for inspection and replay",
            ),
            TopicSpec(
                self.decisions,
                n,
                r,
                retention_ms=30 * DAY_MS,
                purpose="every ad decision with candidates, winner and propensity",
            ),
            TopicSpec(
                self.user_features,
                n,
                r,
                compacted=True,
                purpose="latest real-time features per user (compacted)",
            ),
            TopicSpec(
                self.interactions,
                n,
                r,
                retention_ms=7 * DAY_MS,
                purpose="cleaned, enriched, de-duplicated interactions with roll-up counts",
            ),
            TopicSpec(
                self.labelled_examples,
                n,
                r,
                retention_ms=30 * DAY_MS,
                purpose="impressions joined with clicks/conversions, for training",
            ),
            TopicSpec(
                self.models,
                1,
                r,
                compacted=True,
                extra={"max.message.bytes": str(16 * 1024 * 1024)},
                purpose="versioned model snapshots (compacted)",
            ),
        ]
