"""The users of one partition number as the stream runtime keeps them: their states, what
changed since the last commit (and who left, for tombstones), their window timers and the
partition's stream time. Pure."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from kairos.stream import state as user_state
from kairos.stream.state import UserState


@dataclass
class PartitionState:
    """The users of one partition number, what changed since the last commit, their timers."""

    number: int
    users: dict[str, UserState] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    timers: list[tuple[float, str]] = field(default_factory=list)
    scheduled: dict[str, float] = field(default_factory=dict)
    clock: float = 0.0  # stream time, epoch seconds
    evicted: set[str] = field(default_factory=set)  # gone since the last commit: tombstones

    def evict_idle(self, cutoff: float) -> int:
        """Forget users idle since `cutoff`; their changelog and features get tombstones."""
        gone = [k for k, u in self.users.items() if user_state.idle(u, cutoff)]
        for user_key in gone:
            del self.users[user_key]
            self.dirty.discard(user_key)
            self.scheduled.pop(user_key, None)
            self.evicted.add(user_key)
        return len(gone)

    def get(self, user_key: str) -> UserState | None:
        return self.users.get(user_key)

    def put(self, user_key: str, value: UserState) -> None:
        self.users[user_key] = value
        self.dirty.add(user_key)
        self.evicted.discard(user_key)  # back before the tombstone went out: no tombstone

    def schedule(self, user_key: str, at: float) -> None:
        current = self.scheduled.get(user_key)
        if current is None or at < current:
            self.scheduled[user_key] = at
            heapq.heappush(self.timers, (at, user_key))

    def due(self, now: float) -> list[str]:
        users = []
        while self.timers and self.timers[0][0] <= now:
            at, user_key = heapq.heappop(self.timers)
            if self.scheduled.get(user_key) == at:  # not superseded by an earlier timer
                del self.scheduled[user_key]
                users.append(user_key)
        return users
