"""Bounded memories of values made from their keys (or from objects themselves), for hot
paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")
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


class ByIdentity(Generic[T, V]):
    """`memo(obj)` is the value `make(obj)` made the first time for this very object (not an
    equal one): for objects that are expensive to hash or compare but shared, such as a
    catalog's candidates or a pool's ids. Each object is held while remembered, so its id
    cannot pass to another; when `size` are held, the next new one forgets them all."""

    __slots__ = ("_found", "_make", "_size")

    def __init__(self, make: Callable[[T], V], size: int) -> None:
        self._make, self._size = make, size
        self._found: dict[int, tuple[T, V]] = {}

    def __call__(self, obj: T) -> V:
        found = self._found.get(id(obj))
        if found is None or found[0] is not obj:
            found = (obj, self._make(obj))
            if len(self._found) >= self._size:
                self._found.clear()
            self._found[id(obj)] = found
        return found[1]

    def __len__(self) -> int:
        return len(self._found)

    def clear(self) -> None:
        """Forget every object (and let it go)."""
        self._found.clear()
