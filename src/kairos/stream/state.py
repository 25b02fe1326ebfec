"""Per-user stream state: features, session, recently seen event ids, pending decisions.

Held in memory by the runtime and written to the changelog topic (compacted, one record per
user, in the same Kafka transaction as the outputs and input offsets), so that a restarted
or rebalanced processor resumes from exactly the state its committed outputs came from.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec
from msgspec import Struct, field

from kairos.stream.enrich import Session
from kairos.stream.features import UserFeatures
from kairos.stream.labels import Pending

MAX_SEEN = 2_000  # per user: ids beyond it (a bot, a replay storm) are forgotten oldest first


class UserState(Struct, kw_only=True, omit_defaults=True, gc=False):
    features: UserFeatures
    session: Session | None = None
    seen: dict[str, float] = field(default_factory=dict)  # "type:event_id" -> epoch seen
    pending: dict[str, Pending] = field(default_factory=dict)  # by decision id


def first_time(state: UserState, key: str, at: float, horizon: timedelta) -> bool:
    """True the first time `key` is seen within `horizon` (by event time) for this user."""
    seen = state.seen
    if key in seen:
        return False
    seen[key] = at
    if len(seen) > 64 and len(seen) % 64 == 0:
        _forget(seen, at - horizon.total_seconds())
    return True


def _forget(seen: dict[str, float], cutoff: float) -> None:
    old = [k for k, t in seen.items() if t < cutoff]
    for k in old:
        del seen[k]
    if len(seen) > MAX_SEEN:
        for k in sorted(seen, key=seen.__getitem__)[: len(seen) - MAX_SEEN]:
            del seen[k]


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(UserState)
_EMPTY = UserFeatures(user_key="")
_EMPTY_PREFIX = b'{"features":' + _ENCODER.encode(_EMPTY)


def encode(state: UserState) -> bytes:
    return _ENCODER.encode(state)


def encode_with(state: UserState, features: bytes) -> bytes:
    """`encode(state)` reusing the features already encoded for the features topic."""
    rest = _ENCODER.encode(
        UserState(features=_EMPTY, session=state.session, seen=state.seen, pending=state.pending)
    )
    # rest starts with '{"features":{...empty...}' — swap in the real encoding
    return b'{"features":' + features + rest[len(_EMPTY_PREFIX) :]


def decode(data: bytes) -> UserState:
    return _DECODER.decode(data)


def idle(state: UserState, cutoff: float) -> bool:
    """Whether a user's state can go: nothing seen since `cutoff` (epoch s), nothing pending."""
    if state.pending:
        return False
    last = state.features.last_seen
    return last is None or last.timestamp() < cutoff
