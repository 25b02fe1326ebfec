"""Hashed features: what a model sees of an example, as indices into a fixed weight vector.

An example is a mapping of field -> value (numbers, strings, booleans, lists of strings).
Each (field, value) becomes one index — strings and booleans as `field=value` with weight 1,
numbers as `field` weighted sign(x)·log(1 + |x|), each item of a list as `field=item` —
plus chosen crosses (`a x b`: every pair of their items), all hashed with CRC-32 (stable across
processes and machines, so that a snapshot means the same everywhere) into `2**bits` slots.
Index 0 is the bias, always on.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

Example = Mapping[str, Any]


@dataclass(frozen=True)
class Hasher:
    bits: int = 20
    crosses: tuple[tuple[str, str], ...] = ()  # field pairs whose items are crossed
    ignore: frozenset[str] = field(default_factory=frozenset)
    # field -> factor on its values: a small factor is a tight prior on that field's weights
    # (e.g. the words of a headline, many of them, each weak evidence)
    scales: tuple[tuple[str, float], ...] = ()

    @property
    def size(self) -> int:
        return 1 << self.bits

    def features(self, example: Example) -> tuple[list[int], list[float]]:
        """(indices, values) of one example; the bias first."""
        part = self.part(example)
        return [0, *part.indices], [1.0, *part.values]

    def part(self, example: Example) -> Part:
        """Part of an example, hashed on its own: its fields' features and the crosses
        between them (no bias). Parts of disjoint fields join (`joined`, `crossed`) into what
        `features` makes of them together: a shared part (the user) is hashed once for all
        the candidates it meets."""
        mask = self.size - 1
        indices: list[int] = []
        values: list[float] = []
        tokens: dict[str, list[str]] = {}
        scales = self._scales
        for name, value in example.items():
            if name in self.ignore or value is None:
                continue
            scale = scales.get(name, 1.0)
            for token, weight in _tokens(name, value):
                indices.append((_hash(token) & mask) or 1)
                values.append(weight * scale)
                tokens.setdefault(name, []).append(token)
        for left, right in self.crosses:
            if left in tokens and right in tokens:
                self._cross(tokens[left], tokens[right], left == right, indices, values)
        return Part(indices, values, tokens)

    def crossed(self, shared: Part, own: Part) -> tuple[list[int], list[float]]:
        """`own`'s features and the crosses between its fields and `shared`'s (neither the
        bias nor `shared`'s own features)."""
        indices, values = list(own.indices), list(own.values)
        for left, right in self.crosses:
            if left == right:  # a field crossed with itself: within one part
                continue
            if left in shared.tokens and right in own.tokens:
                self._cross(shared.tokens[left], own.tokens[right], False, indices, values)
            elif left in own.tokens and right in shared.tokens:
                self._cross(own.tokens[left], shared.tokens[right], False, indices, values)
        return indices, values

    def joined(self, shared: Part, own: Part) -> tuple[list[int], list[float]]:
        """`features` of the two parts' fields together: the bias, `shared`'s features, then
        `crossed`."""
        indices, values = self.crossed(shared, own)
        return [0, *shared.indices, *indices], [1.0, *shared.values, *values]

    def _cross(
        self,
        lefts: list[str],
        rights: list[str],
        same: bool,
        indices: list[int],
        values: list[float],
    ) -> None:
        mask = self.size - 1
        for i, a in enumerate(lefts):
            # a field crossed with itself: each unordered pair once (combination effects)
            for b in rights[i + 1 :] if same else rights:
                indices.append((_hash(f"{a}^{b}") & mask) or 1)
                values.append(1.0)

    @cached_property
    def _scales(self) -> dict[str, float]:
        return dict(self.scales)

    def batch(
        self, examples: Sequence[Example]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """CSR-style arrays of a batch: row of each entry, its index, its value."""
        rows: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        for row, example in enumerate(examples):
            idx, val = self.features(example)
            rows.extend([row] * len(idx))
            indices.extend(idx)
            values.extend(val)
        return (
            np.asarray(rows, dtype=np.intp),
            np.asarray(indices, dtype=np.intp),
            np.asarray(values, dtype=np.float64),
        )


@dataclass(frozen=True, slots=True)
class Part:
    """Some fields of an example, hashed (`Hasher.part`)."""

    indices: list[int]
    values: list[float]
    tokens: dict[str, list[str]]  # each field's tokens, for crosses with another part


def _tokens(name: str, value: Any) -> Iterable[tuple[str, float]]:
    if isinstance(value, bool):
        yield f"{name}={'true' if value else 'false'}", 1.0
    elif isinstance(value, int | float):
        if math.isfinite(value) and value != 0:  # compressed: counts and prices vary a lot
            yield name, math.copysign(math.log1p(abs(value)), value)
    elif isinstance(value, str):
        yield f"{name}={value}", 1.0
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            if isinstance(item, str | int | bool):
                yield f"{name}={item}", 1.0


def _hash(token: str) -> int:
    return zlib.crc32(token.encode())
