"""Frequency caps, honoured in real time.

A user's impressions of an ad, flight, campaign or advertiser are the stream's counters (the
`frequency` buckets of the user's features) plus the decisions this server made that the
stream may not have seen yet, so two fast requests cannot both slip past a cap. Recent
decisions overlapping the stream's newest minute count twice: that errs on the side of the
cap. Caps are keyed only on users who consented; without consent they cannot be applied.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Mapping

from kairos.adserver.catalog import Candidate
from kairos.adserver.model import CapScope, FrequencyCap
from kairos.stream.features import UserFeatures

MINUTE = 60


# an enum's member read from its class goes through the enum type's `__getattr__` hook (a
# fifth of a microsecond): the decision path compares with these
_AD, _FLIGHT, _CAMPAIGN = CapScope.AD, CapScope.FLIGHT, CapScope.CAMPAIGN


def scope_key(candidate: Candidate, scope: CapScope) -> str:
    """The frequency counter name shared with the stream ("ad:ID", "flight:ID", …)."""
    if scope is _AD:
        return f"ad:{candidate.ad.id}"
    if scope is _FLIGHT:
        return f"flight:{candidate.flight.id}"
    if scope is _CAMPAIGN:
        return f"campaign:{candidate.campaign.id}"
    return f"advertiser:{candidate.advertiser.id}"


def served_keys(candidate: Candidate) -> tuple[str, ...]:
    return tuple(scope_key(candidate, scope) for scope in CapScope)


def ad_level(candidate: Candidate) -> bool:
    """Whether a cap of its campaign or flight counts each of its ads on its own."""
    return any(cap.scope is _AD for cap in (*candidate.campaign.caps, *candidate.flight.caps))


class RecentDecisions:
    """What this server showed each user lately (bounded by time and count, in memory), and
    when each of the user's counters was served, oldest first, so that counting a counter
    since a time is a binary search however much the user saw. This process records its
    decisions in the order it makes them; another worker's (`adserver.shared`) may come in
    older than the newest, and take their place in time."""

    def __init__(self, horizon_s: float = 600.0, per_user: int = 200) -> None:
        self.horizon_s = horizon_s
        self.per_user = per_user
        self._by_user: dict[str, deque[tuple[float, tuple[str, ...]]]] = {}
        self._times: dict[str, dict[str, deque[float]]] = {}
        # `forget_idle` runs in the refresh thread while requests record: they take turns
        self._lock = threading.Lock()

    def record(self, user_key: str, at: float, keys: tuple[str, ...]) -> None:
        with self._lock:
            self._record(user_key, at, keys)

    def _record(self, user_key: str, at: float, keys: tuple[str, ...]) -> None:
        recent = self._by_user.get(user_key)
        if recent is None:
            recent = self._by_user[user_key] = deque()
            self._times[user_key] = {}
        times = self._times[user_key]
        in_order = not recent or at >= recent[-1][0]
        if in_order:
            recent.append((at, keys))
        else:  # another worker's, older than the newest: in its place
            recent.insert(bisect_right(recent, at, key=_at), (at, keys))
        for key in keys:
            stamps = times.get(key)
            if stamps is None:
                times[key] = deque((at,))
            elif in_order or at >= stamps[-1]:
                stamps.append(at)
            else:
                stamps.insert(bisect_right(stamps, at), at)
        newest = recent[-1][0]
        while recent and (len(recent) > self.per_user or recent[0][0] < newest - self.horizon_s):
            for key in recent.popleft()[1]:
                stamps = times[key]
                stamps.popleft()  # the oldest time of each of its counters
                if not stamps:
                    del times[key]

    def count(self, user_key: str, key: str, since: float) -> int:
        stamps = self._times.get(user_key, _NONE).get(key)
        if not stamps:
            return 0
        if stamps[0] >= since:
            return len(stamps)
        return len(stamps) - bisect_left(stamps, since)

    def keys(self, user_key: str) -> Mapping[str, object]:
        """The counters of this user's recent decisions (a view: do not change it)."""
        return self._times.get(user_key, _NONE)

    def forget_idle(self, now: float) -> None:
        """Drop users with nothing inside the horizon (call now and then)."""
        cutoff = now - self.horizon_s
        with self._lock:
            for user_key in [u for u, r in self._by_user.items() if not r or r[-1][0] < cutoff]:
                del self._by_user[user_key]
                del self._times[user_key]

    def __len__(self) -> int:
        return len(self._by_user)


_NONE: dict[str, deque[float]] = {}


def _at(decision: tuple[float, tuple[str, ...]]) -> float:
    return decision[0]


def impressions(
    key: str,
    cap: FrequencyCap,
    features: UserFeatures | None,
    recent: RecentDecisions,
    user_key: str,
    now: float,
) -> int:
    since = now - cap.window_s
    seen, stream_latest = 0, None
    if features is not None:
        buckets = features.frequency.get(key)
        if buckets is not None:
            seen = buckets.count_at(int(now), cap.window_s, cover=True)  # err towards the cap
            stream_latest = buckets.latest()
    if stream_latest is not None:
        since = max(since, stream_latest * MINUTE)  # what the stream has not counted yet
    return seen + recent.count(user_key, key, since)


def check(
    candidate: Candidate,
    features: UserFeatures | None,
    recent: RecentDecisions,
    user_key: str | None,
    now: float,
    ad_level: bool | None = None,
) -> str | None:
    """None when every cap of the candidate's campaign and flight leaves room, else why not.
    `ad_level` True checks only ad-scope caps, False only the others, None all."""
    if user_key is None:
        return None  # no consented id: caps cannot be keyed (documented limit)
    for cap in (*candidate.campaign.caps, *candidate.flight.caps):
        if ad_level is not None and (cap.scope is _AD) != ad_level:
            continue
        key = scope_key(candidate, cap.scope)
        shown = impressions(key, cap, features, recent, user_key, now)
        if shown >= cap.impressions:
            return f"cap {key} reached: {shown}/{cap.impressions} per {cap.period} {cap.unit}"
    return None
