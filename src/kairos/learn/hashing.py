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
        mask = self.size - 1
        indices, values = [0], [1.0]
        tokens: dict[str, list[str]] = {}
        scales = self._scales
        for name, value in example.items():
            if name in self.ignore or value is None:
                continue
            scale = scales.get(name, 1.0)
            for token, weight in _tokens(name, value):
                indices.append((_hash(token) & mask) or 1)  # 0 is the bias's
                values.append(weight * scale)
                tokens.setdefault(name, []).append(token)
        for left, right in self.crosses:
            lefts, rights = tokens.get(left, ()), tokens.get(right, ())
            for i, a in enumerate(lefts):
                # a field crossed with itself: each unordered pair once (combination effects)
                for b in rights[i + 1 :] if left == right else rights:
                    indices.append((_hash(f"{a}^{b}") & mask) or 1)
                    values.append(1.0)
        return indices, values

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
