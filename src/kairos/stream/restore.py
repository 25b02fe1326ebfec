"""Reading a stream group's per-user state back from its changelog topic."""

from __future__ import annotations

from kairos.kafka.compacted import read_to_end
from kairos.stream import state as user_state
from kairos.stream.state import UserState


def read_changelog(
    bootstrap: str, group: str, topic: str, numbers: set[int], timeout_s: float
) -> tuple[dict[int, dict[str, UserState]], int]:
    """The users of each changelog partition in `numbers`, read to its end (committed records
    only; a tombstone removes a user), and how many records that took."""
    latest, records = read_to_end(bootstrap, topic, numbers, timeout_s, f"{group}-restore")
    users = {
        n: {key.decode(): user_state.decode(value) for key, value in found.items()}
        for n, found in latest.items()
    }
    return users, records
