"""The garbage collector's pauses reach the metrics; start-up objects leave its scans."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from kairos.api import gcpauses


def _pauses() -> float:
    return sum(
        REGISTRY.get_sample_value("kairos_gc_pause_seconds_count", {"generation": str(g)}) or 0.0
        for g in range(3)
    )


def test_every_collection_is_measured_and_start_up_objects_are_frozen() -> None:
    survivor = [[] for _ in range(1000)]  # built "at start-up"
    gcpauses.install((700, 10, 10))
    gcpauses.install((700, 10, 10))  # twice: still one callback
    assert gc.callbacks.count(gcpauses._observe) == 1
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() >= len(survivor)
    before = _pauses()
    gc.collect(0)
    gc.collect()
    assert _pauses() == before + 2
