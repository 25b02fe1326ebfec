"""Counts in sliding windows, kept as time buckets: minutes (last hour), hours (last two days)
and days (last month). A window's count is exact to its resolution: minutes for windows up to an
hour, hours up to two days, days beyond."""

from __future__ import annotations

from datetime import datetime, timedelta

from msgspec import Struct, field

MINUTE, HOUR, DAY = 60, 3600, 86400
_KEEP = {MINUTE: 60, HOUR: 48, DAY: 31}  # buckets kept per resolution


def _resolution(window: timedelta) -> int:
    return _resolution_s(window.total_seconds())


def _resolution_s(seconds: float) -> int:
    if seconds <= HOUR:
        return MINUTE
    return HOUR if seconds <= 2 * DAY else DAY


class Buckets(Struct, gc=False):
    """Event counts by minute, hour and day index (epoch seconds // resolution)."""

    minutes: dict[int, int] = field(default_factory=dict)
    hours: dict[int, int] = field(default_factory=dict)
    days: dict[int, int] = field(default_factory=dict)

    def _tier(self, resolution: int) -> dict[int, int]:
        if resolution == MINUTE:
            return self.minutes
        return self.hours if resolution == HOUR else self.days

    def add(self, ts: datetime, n: int = 1) -> None:
        epoch = int(ts.timestamp())
        _bump(self.minutes, epoch // MINUTE, n, _KEEP[MINUTE])
        _bump(self.hours, epoch // HOUR, n, _KEEP[HOUR])
        _bump(self.days, epoch // DAY, n, _KEEP[DAY])

    def count(self, now: datetime, window: timedelta) -> int:
        """Events in (now - window, now], at the window's resolution."""
        return self.count_at(int(now.timestamp()), window.total_seconds())

    def count_at(self, epoch: int, window_s: float, cover: bool = False) -> int:
        """Events in the window at its resolution; `cover` adds the bucket the window's start
        falls in, so the count never misses an event of the window (frequency caps)."""
        resolution = _resolution_s(window_s)
        current = epoch // resolution
        span = max(1, round(window_s / resolution)) + (1 if cover else 0)
        tier = self._tier(resolution)
        if span < len(tier):  # fewer lookups than buckets kept: look the window up
            get = tier.get
            return sum(get(i, 0) for i in range(current - span + 1, current + 1))
        lowest = current - span
        return sum(n for i, n in tier.items() if lowest < i <= current)

    def latest(self) -> int | None:
        """Epoch minute of the most recent event, if any."""
        return max(self.minutes) if self.minutes else None


def _bump(tier: dict[int, int], index: int, n: int, keep: int) -> None:
    tier[index] = tier.get(index, 0) + n
    if len(tier) > keep + 8:  # now and then, forget buckets no window can reach
        newest = max(tier)
        for old in [i for i in tier if i <= newest - keep]:
            del tier[old]
