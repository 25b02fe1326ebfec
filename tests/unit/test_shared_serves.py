"""The serves a host's API workers share (`adserver.shared`): taken in once, newest kept, and a
cap exact across real processes deciding for one user at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from kairos.adserver import shared
from kairos.adserver.caps import RecentDecisions
from kairos.adserver.engine import DecisionRequest, PlacementRequest
from kairos.adserver.model import CapScope, CapUnit, FrequencyCap
from kairos.adserver.server import AdServer
from kairos.adserver.shared import SharedServes, digest
from tests.unit.test_adserver_engine import build, context, engine, flight

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fd() -> Iterator[int]:
    fd = shared.create(3, stripes=16, slots=8)
    yield fd
    os.close(fd)


def view(fd: int, index: int) -> SharedServes:
    return SharedServes(fd, 3, index, stripes=16, slots=8)


def test_a_worker_takes_in_another_workers_serves_of_the_user_once(fd: int) -> None:
    one, two, three = view(fd, 0), view(fd, 1), view(fd, 2)
    assert one.take("u1", 0.0) == []
    one.add("u1", 100.0, "ad-a")
    one.add("u1", 101.0, "ad-b")
    two.add("u2", 102.0, "ad-c")
    assert [(s.at, s.ad) for s in two.take("u1", 0.0)] == [
        (100.0, digest("ad-a")),
        (101.0, digest("ad-b")),
    ]
    assert two.take("u1", 0.0) == []  # taken already
    assert one.take("u1", 0.0) == []  # its own
    assert [s.ad for s in one.take("u2", 0.0)] == [digest("ad-c")]
    assert [s.ad for s in three.take("u1", 100.5)] == [digest("ad-b")]  # older: no cap's concern
    for worker in (one, two, three):
        worker.close()


def test_a_restarted_worker_takes_in_what_it_served_before(fd: int) -> None:
    before = view(fd, 1)
    before.add("u1", 100.0, "ad-a")
    before.close()
    again = view(fd, 1)  # the same index: its rings
    assert [s.ad for s in again.take("u1", 0.0)] == [digest("ad-a")]
    again.add("u1", 101.0, "ad-b")
    assert again.take("u1", 0.0) == []  # what it serves now, it knows
    again.close()


def test_a_ring_keeps_its_newest_serves_and_counts_the_ones_missed(fd: int) -> None:
    one, two = view(fd, 0), view(fd, 1)
    missed = _missed()
    for n in range(20):
        one.add("u1", float(n), f"ad-{n}")
    assert [s.at for s in two.take("u1", 0.0)] == [float(n) for n in range(12, 20)]
    assert _missed() - missed == 12
    one.close()
    two.close()


def _missed() -> float:
    return REGISTRY.get_sample_value("kairos_shared_serves_missed_total") or 0.0


def test_a_worker_outside_its_supervisors_count_is_refused(fd: int) -> None:
    with pytest.raises(ValueError, match="worker 3 of 3"):
        view(fd, 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=40
    ),
    st.integers(0, 1000),
)
def test_serves_recorded_out_of_order_count_as_in_order(
    serves: list[tuple[int, str]], since: int
) -> None:
    recent = RecentDecisions(horizon_s=10_000, per_user=1000)
    for at, key in serves:  # another worker's may be older than the newest
        recent.record("u", float(at), (key, "all"))
    for key in ("a", "b", "c", "all"):
        expected = sum(1 for at, k in serves if at >= since and key in (k, "all"))
        assert recent.count("u", key, float(since)) == expected


def test_recent_decisions_out_of_order_still_forget_the_oldest() -> None:
    recent = RecentDecisions(horizon_s=100, per_user=3)
    for at in (50.0, 10.0, 40.0, 30.0):
        recent.record("u", at, ("k",))
    assert recent.count("u", "k", 0.0) == 3  # 10 went first: the oldest
    assert recent.count("u", "k", 35.0) == 2
    recent.record("u", 200.0, ("k",))  # beyond the horizon of 50 and 40 and 30
    assert recent.count("u", "k", 0.0) == 1


CAP = 3


def serve_in_child(fd: int, index: int, decisions: int) -> int:
    """In worker `index`: `decisions` decisions for one user; how many were the capped
    flight's."""
    cap = FrequencyCap(scope=CapScope.FLIGHT, impressions=CAP, period=1, unit=CapUnit.HOUR)
    catalog = build([flight("capped", caps=[cap], price=9.0), flight("other", price=1.0)])
    server = AdServer(None, None, shared=view(fd, index))  # type: ignore[arg-type]
    server.engine = engine(catalog)
    capped = 0
    for _ in range(decisions):
        (result,) = server.decide(DecisionRequest([PlacementRequest("p1")], context()), None)
        capped += result.choices[0].candidate.flight.id == "capped"
    return capped


def test_a_cap_holds_across_worker_processes(fd: int) -> None:
    """Three worker processes, one after another, decide for one user: each would serve the
    capped flight CAP times on its own."""
    served = []
    for index in range(3):
        code = (
            "from tests.unit.test_shared_serves import serve_in_child; "
            f"print(serve_in_child({fd}, {index}, 20))"
        )
        worker = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            pass_fds=(fd,),
            capture_output=True,
            check=True,
            timeout=120,
        )
        served.append(int(worker.stdout))
    assert served == [CAP, 0, 0]


def test_without_other_workers_the_server_decides_alone() -> None:
    cap = FrequencyCap(scope=CapScope.FLIGHT, impressions=1, period=1, unit=CapUnit.HOUR)
    server = AdServer(None, None)  # type: ignore[arg-type]
    server.engine = engine(build([flight("capped", caps=[cap], price=9.0), flight("other")]))
    decide = [PlacementRequest("p1")]
    first, second = (server.decide(DecisionRequest(decide, context()), None) for _ in range(2))
    assert first[0].choices[0].candidate.flight.id == "capped"
    assert second[0].choices[0].candidate.flight.id == "other"
