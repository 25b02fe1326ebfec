"""Counts in sliding windows, kept as time buckets: minutes (last hour), hours (last two days)
and days (last month). A window's count is exact to its resolution: minutes for windows up to an
hour, hours up to two days, days beyond."""

from __future__ import annotations

from datetime import datetime, timedelta

from msgspec import Struct, field

MINUTE, HOUR, DAY = 60, 3600, 86400
_KEEP = {MINUTE: 60, HOUR: 48, DAY: 31}  # buckets kept per resolution


def _resolution(window: timedelta) -> int:
    seconds = window.total_seconds()
    if seconds <= HOUR:
        return MINUTE
    return HOUR if seconds <= 2 * DAY else DAY


class Buckets(Struct, gc=False):
    """Event counts by minute, hour and day index (epoch seconds // resolution)."""

    minutes: dict[int, int] = field(default_factory=dict)
    hours: dict[int, int] = field(default_factory=dict)
    days: dict[int, int] = field(default_factory=dict)

    def _tier(self, resolution: int) -> dict[int, int]:
        return {MINUTE: self.minutes, HOUR: self.hours, DAY: self.days}[resolution]

    def add(self, ts: datetime, n: int = 1) -> None:
        epoch = int(ts.timestamp())
        for resolution, keep in _KEEP.items():
            tier = self._tier(resolution)
            index = epoch // resolution
            tier[index] = tier.get(index, 0) + n
            if len(tier) > keep + 8:  # now and then, forget buckets no window can reach
                newest = max(tier)
                for old in [i for i in tier if i <= newest - keep]:
                    del tier[old]

    def count(self, now: datetime, window: timedelta) -> int:
        """Events in (now - window, now], at the window's resolution."""
        resolution = _resolution(window)
        current = int(now.timestamp()) // resolution
        span = max(1, round(window.total_seconds() / resolution))
        tier = self._tier(resolution)
        return sum(n for i, n in tier.items() if current - span < i <= current)

    def latest(self) -> int | None:
        """Epoch minute of the most recent event, if any."""
        return max(self.minutes) if self.minutes else None
