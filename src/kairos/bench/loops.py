"""Measuring the decision API: closed loops on the decisions and on the bare endpoint in turn,
with the API processes' CPU meanwhile, and what the decisions served."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import orjson

from kairos.bench import loadgen
from kairos.bench.cpu import tree_cpu_s


class Plan(Protocol):
    @property
    def duration_s(self) -> float: ...

    @property
    def rounds(self) -> int: ...

    @property
    def connections(self) -> int: ...


def fill_rate(base: str, bodies: list[bytes], samples: int = 200) -> tuple[float, float]:
    """Share of requested placements that got an ad (the inventory must really serve), and
    share of served ads that were dynamic (assembled and rendered per request)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    filled = asked = dynamic = 0
    try:
        for body in bodies[:samples]:
            conn.request("POST", "/v1/decisions", body, {"content-type": "application/json"})
            placements = orjson.loads(conn.getresponse().read())["placements"]
            asked += len(placements)
            filled += sum(1 for p in placements if p["ads"])
            dynamic += sum(1 for p in placements for ad in p["ads"] if "elements" in ad)
    finally:
        conn.close()
    return (filled / asked if asked else 0.0), (dynamic / filled if filled else 0.0)


@dataclass(frozen=True)
class Segment:
    per_s: float
    latencies: list[float]
    cpu_s: float | None  # the API processes' CPU meanwhile (None: not measurable here)


# between two closed loops: what the previous one left (the decision log's last batches, the
# broker's writes) is done before the next one is timed
_SETTLE_S = 0.5


def alternating(
    host: str, port: int, deciding: list[bytes], bare: list[bytes], plan: Plan, pid: int
) -> list[tuple[Segment, Segment]]:
    """Closed loops on the decisions and the bare endpoint in turn, `plan.rounds` times: a
    machine whose speed drifts (other tenants, the broker's compiler) slows both alike."""
    part = plan.duration_s / plan.rounds
    rounds = []
    for _ in range(plan.rounds):
        pair = []
        for requests in (deciding, bare):
            before = tree_cpu_s(pid)
            per_s, latencies = loadgen.closed_loop(host, port, requests, plan.connections, part)
            after = tree_cpu_s(pid)
            used = after - before if before is not None and after is not None else None
            pair.append(Segment(per_s, latencies, used))
            time.sleep(_SETTLE_S)
        rounds.append((pair[0], pair[1]))
    return rounds


def cpu_us(segments: list[Segment]) -> float | None:
    """The API's CPU per request over the segments, in µs (its workers and their threads:
    the load generator and the broker excluded)."""
    if any(s.cpu_s is None for s in segments):
        return None
    count = sum(len(s.latencies) for s in segments)
    return round(1e6 * sum(s.cpu_s or 0.0 for s in segments) / count, 1) if count else None


def rate(segments: list[Segment]) -> int:
    """Requests/s over the segments together (their requests over their time, which each
    segment's unrounded rate gives back)."""
    count = sum(len(s.latencies) for s in segments)
    seconds = sum(len(s.latencies) / s.per_s for s in segments if s.per_s)
    return int(count / seconds) if seconds else 0
