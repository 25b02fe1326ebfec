"""A bounded memory of values made from their keys, for hot paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """`memo[key]` is the value `make(key)` made the first time; when `size` values are held,
    the next new one forgets them all. A dict underneath, so a value already made costs a
    plain dict read (no Python call): `make` runs only for a missing key."""

    __slots__ = ("_make", "_size")

    def __init__(self, make: Callable[[K], V], size: int) -> None:
        super().__init__()
        self._make, self._size = make, size

    def __missing__(self, key: K) -> V:
        value = self._make(key)
        if len(self) >= self._size:
            self.clear()
        self[key] = value
        return value
