"""Measuring the decision API: closed loops on the decisions and on the bare endpoint in turn,
with the API processes' CPU meanwhile, and what the decisions served."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from kairos.bench import loadgen
from kairos.bench.cpu import tree_cpu_s
from kairos.bench.harness import percentiles_ms


@dataclass(frozen=True)
class Target:
    """The API under load: where it listens, its processes' root (for their CPU), and the
    decision requests and the bare endpoint's, ready to send."""

    base: str
    host: str
    port: int
    pid: int
    bodies: list[bytes]
    deciding: list[bytes]
    bare: list[bytes]

    @classmethod
    def of(cls, base: str, pid: int, bodies: list[bytes]) -> Target:
        url = urlsplit(base)
        return cls(
            base,
            url.hostname or "127.0.0.1",
            url.port or 80,
            pid,
            bodies,
            [loadgen.request("POST", "/v1/decisions", url.netloc, b) for b in bodies],
            [loadgen.request("GET", "/healthz", url.netloc)],
        )


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
    target: Target, rounds: int, duration_s: float, connections: int
) -> list[tuple[Segment, Segment]]:
    """Closed loops on the decisions and the bare endpoint in turn, `rounds` times over
    `duration_s` in all: a machine whose speed drifts (other tenants, the broker's compiler)
    slows both alike."""
    part = duration_s / rounds
    made = []
    for _ in range(rounds):
        pair = []
        for requests in (target.deciding, target.bare):
            before = tree_cpu_s(target.pid)
            per_s, latencies = loadgen.closed_loop(
                target.host, target.port, requests, connections, part
            )
            after = tree_cpu_s(target.pid)
            used = after - before if before is not None and after is not None else None
            pair.append(Segment(per_s, latencies, used))
            time.sleep(_SETTLE_S)
        made.append((pair[0], pair[1]))
    return made


@dataclass(frozen=True)
class Summary:
    """The closed loops' figures: requests/s of each endpoint and their ratio, the API's CPU
    per request of each (free of what the client and the broker take from the same cores,
    and of their noise; one core serves 1e6 / it requests/s), the decisions' latency."""

    requests_per_s: int
    bare_requests_per_s: int
    ratio: float
    api_cpu_us_per_request: float | None
    bare_api_cpu_us_per_request: float | None
    closed_loop_p50_ms: float
    closed_loop_p99_ms: float


def summary(rounds: list[tuple[Segment, Segment]]) -> Summary:
    rps = rate([decided for decided, _ in rounds])
    bare_rps = rate([answered for _, answered in rounds])
    closed = percentiles_ms([t for decided, _ in rounds for t in decided.latencies])
    return Summary(
        requests_per_s=rps,
        bare_requests_per_s=bare_rps,
        ratio=round(rps / bare_rps, 3) if bare_rps else 0.0,
        api_cpu_us_per_request=cpu_us([d for d, _ in rounds]),
        bare_api_cpu_us_per_request=cpu_us([b for _, b in rounds]),
        closed_loop_p50_ms=closed["p50_ms"],
        closed_loop_p99_ms=closed["p99_ms"],
    )


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
