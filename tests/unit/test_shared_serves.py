"""The serves a host's API workers share (`adserver.shared`): taken in once, newest kept, and a
cap exact across real processes deciding for one user, one after another or at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import PIPE, Popen

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from kairos.adserver import locks, shared
from kairos.adserver.caps import RecentDecisions
from kairos.adserver.decision import DecisionRequest, PlacementRequest
from kairos.adserver.model import CapScope, CapUnit, FrequencyCap
from kairos.adserver.server import AdServer
from kairos.adserver.shared import SharedServes, digest
from tests.unit.test_adserver_engine import USER, build, context, engine, flight

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


HOLDER = """
import os, time
from tests.unit.test_adserver_engine import NOW, USER
from tests.unit.test_shared_serves import view
worker = view({fd}, 0)
worker.lock(USER)
print("held", flush=True)
time.sleep({hold_s})
worker.add(USER, NOW.timestamp(), "capped-ad0")
{end}
"""


@contextmanager
def holding(fd: int, hold_s: float, end: str = "worker.unlock()") -> Iterator[Popen[str]]:
    """A worker process that holds the user's stripe, serves the capped ad after `hold_s`,
    then runs `end` (unlocks, or dies holding it); yielded once it holds the stripe, killed
    on exit if still running."""
    code = HOLDER.format(fd=fd, hold_s=hold_s, end=end)
    with Popen(
        [sys.executable, "-c", code], cwd=ROOT, pass_fds=(fd,), stdout=PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "held\n"
            yield child
        finally:
            child.kill()


def capped_server(fd: int, lock_wait_s: float) -> AdServer:
    """Worker 1 of 3, deciding for the user between a flight capped at one serve and another."""
    cap = FrequencyCap(scope=CapScope.FLIGHT, impressions=1, period=1, unit=CapUnit.HOUR)
    catalog = build([flight("capped", caps=[cap], price=9.0), flight("other", price=1.0)])
    worker = SharedServes(fd, 3, 1, stripes=16, slots=8, lock_wait_s=lock_wait_s)
    server = AdServer(None, None, shared=worker)  # type: ignore[arg-type]
    server.engine = engine(catalog)
    return server


def flight_chosen(server: AdServer) -> str:
    (result,) = server.decide(DecisionRequest([PlacementRequest("p1")], context()), None)
    return result.choices[0].candidate.flight.id


def test_a_decision_waits_for_another_workers_decision_for_the_user(fd: int) -> None:
    """Two decisions for one user at once on two workers: the second is made once the first
    has written its serves, so it sees them (without the lock it would serve the capped
    flight a second time, as `hold_s` outlasts it)."""
    server = capped_server(fd, lock_wait_s=30.0)
    with holding(fd, hold_s=0.5) as holder:
        assert flight_chosen(server) == "other"
        assert holder.wait(timeout=30) == 0


def test_a_worker_that_holds_a_stripe_too_long_is_passed_by(fd: int) -> None:
    server = capped_server(fd, lock_wait_s=0.2)
    passed = REGISTRY.get_sample_value("kairos_shared_serves_unlocked_total") or 0.0
    with holding(fd, hold_s=60.0):
        assert flight_chosen(server) == "capped"  # decided alone, after its wait
    assert REGISTRY.get_sample_value("kairos_shared_serves_unlocked_total") == passed + 1
    assert flight_chosen(server) == "other"  # the holder died holding it: the lock is ours


def test_a_worker_that_dies_holding_a_stripe_leaves_it_to_the_next(fd: int) -> None:
    server = capped_server(fd, lock_wait_s=30.0)
    with holding(fd, hold_s=0.0, end="os._exit(0)") as holder:
        assert holder.wait(timeout=30) == 0
    passed = REGISTRY.get_sample_value("kairos_shared_serves_unlocked_total") or 0.0
    assert flight_chosen(server) == "other"  # its serve counts, and the stripe is free
    assert REGISTRY.get_sample_value("kairos_shared_serves_unlocked_total") == passed


def test_every_stripes_mutex_count_and_ring_keep_to_their_own_bytes(fd: int) -> None:
    """Serves of many users from every worker, rings wrapped: every mutex still locks, every
    count says how many were written, and each user's newest serves come back whole."""
    workers = [view(fd, index) for index in range(3)]
    written: dict[tuple[int, int], int] = {}
    for n in range(400):
        worker, user = workers[n % 3], f"user-{n % 40}"
        worker.add(user, 1000.0 + n, f"ad-{n}")
        stripe = digest(user) % 16
        written[(worker.index, stripe)] = written.get((worker.index, stripe), 0) + 1
    reader = SharedServes(fd, 3, 0, stripes=16, slots=8, lock_wait_s=0.0)
    assert reader._slot_offset(2, 15, 7) + shared._SERVE.size == shared.size(3, 16, 8)
    for stripe in range(16):
        assert reader._locks.lock(stripe, 0.0)  # free, and still a mutex
        reader._locks.unlock(stripe)
        for index in range(3):
            at = reader._count_offset(index, stripe)
            assert shared._COUNT.unpack_from(reader._map, at)[0] == written.get((index, stripe), 0)
    # (worker 0's ring too: a new view of its index reads it, as a restarted worker does)
    newest = {n % 40: n for n in range(400)}
    user = 39  # written last: its stripe's ring still holds it
    (*_, last) = reader.take(f"user-{user}", 0.0)
    assert (last.at, last.ad) == (1000.0 + newest[user], digest(f"ad-{newest[user]}"))
    for worker in (*workers, reader):
        worker.close()


def test_a_broken_mutex_leaves_the_decision_to_go_on_and_says_so(
    fd: int, caplog: pytest.LogCaptureFixture
) -> None:
    server = capped_server(fd, lock_wait_s=0.2)
    assert server.shared is not None
    stripe = digest(USER) % 16
    server.shared._map[stripe * locks.SIZE : (stripe + 1) * locks.SIZE] = b"\xff" * locks.SIZE
    passed = REGISTRY.get_sample_value("kairos_shared_serves_unlocked_total") or 0.0
    assert flight_chosen(server) == "capped"
    assert REGISTRY.get_sample_value("kairos_shared_serves_unlocked_total") == passed + 1
    assert "stripe mutex failed" in caplog.text
