"""The cyclic garbage collector's pauses as a metric, and its tuning for a serving process.

A collection stops every request of the process while it runs; its length depends on how many
objects there are to scan, so the thresholds trade CPU for tail latency. A collection of the
oldest generation scans everything the process made since start-up, the ad server's memories
included: 20-50 ms on a warm decision server, where a young one takes under a millisecond.
So the serving defaults make automatic full collections rare (the third threshold) and run
one every few minutes instead (`full_collections`): cycles that grew old are still freed, and
a fixed-rate load meets one such pause in minutes, not one every half-minute. Prometheus gets
each pause by generation (`kairos_gc_pause_seconds`).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import Histogram

PAUSES = Histogram(
    "kairos_gc_pause_seconds",
    "Pauses of the cyclic garbage collector, by the oldest generation collected",
    ["generation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
)
_BY_GENERATION = [PAUSES.labels(str(g)) for g in range(3)]
_started = [0.0]


def _observe(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _BY_GENERATION[info["generation"]].observe(time.perf_counter() - _started[0])


def install(thresholds: tuple[int, int, int]) -> None:
    """Freeze what start-up built (modules, the catalog: out of every later scan), collect
    with these thresholds from now on and measure each pause. Idempotent."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    if _observe not in gc.callbacks:
        gc.callbacks.append(_observe)


async def full_collections(every_s: float) -> None:
    """Collect every generation every `every_s` seconds (a task of the serving process)."""
    while True:
        await asyncio.sleep(every_s)
        gc.collect()
