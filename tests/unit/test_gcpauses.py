"""The garbage collector's pauses reach the metrics; start-up objects leave its scans; the
API collects every generation on its own schedule."""

from __future__ import annotations

import gc
import time

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from kairos.api import gcpauses
from kairos.api.app import create_app
from kairos.db.engine import make_engine
from kairos.kafka.sink import MemorySink
from kairos.settings import Settings


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


def _full_collections() -> float:
    return REGISTRY.get_sample_value("kairos_gc_pause_seconds_count", {"generation": "2"}) or 0.0


def test_the_api_collects_every_generation_on_its_schedule(settings: Settings) -> None:
    tuned = settings.model_copy(update={"gc_full_every_s": 0.05})
    engine = make_engine(settings.resolved_database_url)
    try:
        with TestClient(create_app(tuned, sink=MemorySink(), engine=engine)):
            assert gc.get_threshold() == tuned.gc_thresholds  # automatic full ones are rare
            before = _full_collections()
            deadline = time.monotonic() + 10
            while _full_collections() < before + 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _full_collections() >= before + 2
    finally:
        engine.dispose()
