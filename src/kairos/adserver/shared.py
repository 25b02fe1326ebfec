"""The serves of one host's API workers, shared through memory, so that a frequency cap holds
across the workers of `kairos api --workers N` as it does inside one.

Without it a worker counts the decisions it made itself and what the stream has counted, and
learns of another worker's serve only once its impression has come back through the stream
(the pixel's delay in the browser, then the stream's lag: seconds). Two requests of one user
that the kernel hands to two workers could both pass a cap meanwhile.

The supervisor makes one anonymous memory file (`create`) that its workers map. Each worker
writes its own rings, one per stripe of users, of its latest serves to consented users (user,
time, ad), and bumps the stripe's count of writes after the serve. A decision for a user holds
the stripe's mutex (`locks`: no system call unless another worker holds it) from before it
takes in what the other workers wrote to the stripe since it last looked until its own serves
are written, so two decisions for one user on two workers at the same moment are made one
after the other: the second sees the first's serves. A worker that cannot have the mutex
within `LOCK_WAIT_S` (its holder stopped) decides without it, and counts it. A ring keeps the
newest `slots` serves of its stripe; one that falls out before the others read it is missed,
and the cap errs the other way, as before. A restarted worker takes in its own ring too, from
where it was. Across hosts, caps meet through the stream.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import struct
from dataclasses import dataclass

from prometheus_client import Counter

from kairos.adserver import locks
from kairos.logs import kv

log = logging.getLogger(__name__)
STRIPES = 4096
SLOTS = 64  # serves kept per stripe of a worker: at 2,000 capped serves/s, about 2 minutes
_COUNT = struct.Struct("<Q")  # a stripe's writes so far
_SERVE = struct.Struct("<QdQ")  # user, time, ad (digests, but the time)
LOCK_WAIT_S = 0.05  # a decision waits this long at most for its stripe's mutex
_PENDING_USERS = 100_000  # users whose serves were read but not asked for yet, kept at most
IMPORTED = Counter(
    "kairos_shared_serves_imported_total", "Serves of this host's other API workers taken in"
)
MISSED = Counter(
    "kairos_shared_serves_missed_total",
    "Serves of other workers overwritten in their ring before this worker read them",
)
UNLOCKED = Counter(
    "kairos_shared_serves_unlocked_total",
    "Decisions made without their stripe's mutex (another worker held it too long, or the "
    "mutex failed)",
)


def size(workers: int, stripes: int = STRIPES, slots: int = SLOTS) -> int:
    return stripes * locks.SIZE + workers * stripes * (_COUNT.size + slots * _SERVE.size)


def create(workers: int, stripes: int = STRIPES, slots: int = SLOTS) -> int:
    """An anonymous memory file for a host's workers (inheritable: pass it to them)."""
    fd = os.memfd_create("kairos-serves", 0)
    os.ftruncate(fd, size(workers, stripes, slots))
    with mmap.mmap(fd, size(workers, stripes, slots)) as memory:
        locks.Mutexes.init(memory, 0, stripes)  # the stripes' mutexes come first
    os.set_inheritable(fd, True)
    return fd


def digest(text: str) -> int:
    """A stable 64-bit hash (the same in every process), never 0 (an empty slot)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") or 1


@dataclass(frozen=True, slots=True)
class Serve:
    """Another worker's serve of an ad to the user: when, and which ad (its `digest`)."""

    at: float
    ad: int


class SharedServes:
    """Worker `index` of `workers`' view of the host's shared serves (`fd` from `create`)."""

    def __init__(
        self,
        fd: int,
        workers: int,
        index: int,
        stripes: int = STRIPES,
        slots: int = SLOTS,
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> None:
        if not 0 <= index < workers:
            raise ValueError(f"worker {index} of {workers}")
        self.workers, self.index, self.stripes, self.slots = workers, index, stripes, slots
        self.lock_wait_s = lock_wait_s
        self._map = mmap.mmap(fd, size(workers, stripes, slots))
        self._locks = locks.Mutexes(self._map, 0, stripes)
        self._held: int | None = None  # the stripe whose mutex this worker holds
        # the map: the stripes' mutexes, then each worker's count of writes per stripe, then
        # each worker's rings, one per stripe
        self._counts = stripes * locks.SIZE
        self._rings = self._counts + workers * stripes * _COUNT.size
        # per worker, per stripe: how many of its writes this worker has looked at (its own
        # ring from the start too: a restarted worker takes in what it served before)
        self._seen = [[0] * stripes for _ in range(workers)]
        self._pending: dict[int, list[Serve]] = {}  # user -> serves read, not yet taken
        self._digests: dict[str, int] = {}  # ad id -> digest
        self._last = ("", 0)  # the last user and its digest

    def close(self) -> None:
        self._locks.close()
        self._map.close()

    def lock(self, user_key: str) -> None:
        """Hold the user's stripe until `unlock`: the other workers' decisions for its users
        wait meanwhile (at most `lock_wait_s`: then this one goes on without it)."""
        stripe = self._user(user_key) % self.stripes
        try:
            held = self._locks.lock(stripe, self.lock_wait_s)
        except OSError as exc:  # never seen: the decision still goes on, and it is told
            log.error("stripe mutex failed", extra=kv(stripe=stripe, error=exc))
            held = False
        if held:
            self._held = stripe
        else:
            UNLOCKED.inc()

    def unlock(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._locks.unlock(held)

    def take(self, user_key: str, since: float) -> list[Serve]:
        """The serves of the user by the other workers (and by this one before a restart)
        since `since` that were not taken before, oldest first."""
        user = self._user(user_key)
        stripe = user % self.stripes
        for worker in range(self.workers):
            self._read(worker, stripe, since)
        found = self._pending.pop(user, None)
        if not found:
            return []
        taken = sorted((s for s in found if s.at >= since), key=lambda s: s.at)
        IMPORTED.inc(len(taken))
        return taken

    def add(self, user_key: str, at: float, ad_id: str) -> None:
        """This worker served `ad_id` to the user at `at`."""
        ad = self._digests.get(ad_id)
        if ad is None:
            if len(self._digests) > 100_000:
                self._digests.clear()
            ad = self._digests[ad_id] = digest(ad_id)
        user = self._user(user_key)
        stripe = user % self.stripes
        count_at = self._count_offset(self.index, stripe)
        (written,) = _COUNT.unpack_from(self._map, count_at)
        if self._seen[self.index][stripe] < written:  # what it served before a restart
            self._read(self.index, stripe, 0.0)
        slot = self._slot_offset(self.index, stripe, written % self.slots)
        _SERVE.pack_into(self._map, slot, user, at, ad)
        _COUNT.pack_into(self._map, count_at, written + 1)  # after the serve: then it is read
        self._seen[self.index][stripe] = written + 1

    def _user(self, user_key: str) -> int:
        """The user's digest (the last one remembered: a decision adds after it takes)."""
        if self._last[0] != user_key:
            self._last = (user_key, digest(user_key))
        return self._last[1]

    def _read(self, worker: int, stripe: int, since: float) -> None:
        (written,) = _COUNT.unpack_from(self._map, self._count_offset(worker, stripe))
        seen = self._seen[worker][stripe]
        if written <= seen:
            return
        first = max(seen, written - self.slots)
        if first > seen:
            MISSED.inc(first - seen)
        pending = self._pending
        while len(pending) > _PENDING_USERS:  # the users read longest ago go first (this
            del pending[next(iter(pending))]  # errs away from the cap, as a ring's wrap does)
        for n in range(first, written):
            user, at, ad = _SERVE.unpack_from(self._map, self._slot_offset(worker, stripe, n))
            if at >= since:
                pending.setdefault(user, []).append(Serve(at, ad))
        self._seen[worker][stripe] = written

    def _count_offset(self, worker: int, stripe: int) -> int:
        return self._counts + (worker * self.stripes + stripe) * _COUNT.size

    def _slot_offset(self, worker: int, stripe: int, n: int) -> int:
        slot = (worker * self.stripes + stripe) * self.slots + n % self.slots
        return self._rings + slot * _SERVE.size
