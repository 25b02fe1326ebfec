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
from typing import Any, overload

import numpy as np

Example = Mapping[str, Any]
_MEMORY = 65_536  # fields' features and crosses remembered per hasher (then forgotten at once)


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
        between them (no bias). Parts of disjoint fields join (`joined`, `rows`) into what
        `features` makes of them together: a shared part (the user) is hashed once for all
        the candidates it meets."""
        indices: list[int] = []
        values: list[float] = []
        tokens: dict[str, list[str]] = {}
        fields = self._fields
        for name, value in example.items():
            if name in self.ignore or value is None:
                continue
            # examples repeat most of their fields (the user's, the ad's): each field's
            # features are remembered by its value
            key = (name, type(value), tuple(value) if isinstance(value, list) else value)
            try:
                found = fields.get(key)
            except TypeError:  # a value that cannot be a key (a set): hashed each time
                found = self._field(name, value)
            if found is None:
                found = self._field(name, value)
                if len(fields) >= _MEMORY:
                    fields.clear()
                fields[key] = found
            indices += found[0]
            values += found[1]
            if found[2]:
                tokens[name] = found[2]
        for left, right in self.crosses:
            if left in tokens and right in tokens:
                self._cross(tokens[left], tokens[right], left == right, indices, values)
        return Part(indices, values, tokens)

    def rows(self, shared: Part, owns: Sequence[Part]) -> list[tuple[list[int], list[float]]]:
        """Each of `owns` (its fields disjoint from `shared`'s) with the crosses between its
        fields and `shared`'s: what `features` adds to the bias and `shared`'s features for
        the two together. Each cross of an own token with the shared part's tokens is hashed
        once for all the parts that have it."""
        spans = []  # (the shared field, the own field, whether the shared one is the left)
        for left, right in self.crosses:
            if left != right and left in shared.tokens:
                spans.append((left, right, True))
            elif left != right and right in shared.tokens:
                spans.append((right, left, False))
        crossed: dict[tuple[int, str], list[int]] = {}
        rows = []
        for own in owns:
            indices, values = list(own.indices), list(own.values)
            for n, (shared_field, own_field, shared_left) in enumerate(spans):
                for b in own.tokens.get(own_field, ()):
                    found = crossed.get((n, b))
                    if found is None:
                        found = crossed[(n, b)] = [
                            self._cross_index(a, b) if shared_left else self._cross_index(b, a)
                            for a in shared.tokens[shared_field]
                        ]
                    indices += found
            values += [1.0] * (len(indices) - len(values))
            rows.append((indices, values))
        return rows

    def joined(self, shared: Part, own: Part) -> tuple[list[int], list[float]]:
        """`features` of the two parts' fields together: the bias, `shared`'s features, then
        `rows`."""
        ((indices, values),) = self.rows(shared, [own])
        return [0, *shared.indices, *indices], [1.0, *shared.values, *values]

    def _cross_index(self, a: str, b: str) -> int:
        crossed = self._crossed
        index = crossed.get((a, b))
        if index is None:
            if len(crossed) >= _MEMORY:
                crossed.clear()
            index = crossed[(a, b)] = (_hash(f"{a}^{b}") & (self.size - 1)) or 1
        return index

    def _field(self, name: str, value: Any) -> tuple[list[int], list[float], list[str]]:
        """One field's indices, values and tokens."""
        mask, scale = self.size - 1, self._scales.get(name, 1.0)
        made = list(_tokens(name, value))
        indices = [(_hash(token) & mask) or 1 for token, _ in made]  # 0 is the bias's
        return indices, [weight * scale for _, weight in made], [token for token, _ in made]

    def _cross(
        self,
        lefts: list[str],
        rights: list[str],
        same: bool,
        indices: list[int],
        values: list[float],
    ) -> None:
        for i, a in enumerate(lefts):
            # a field crossed with itself: each unordered pair once (combination effects)
            for b in rights[i + 1 :] if same else rights:
                indices.append(self._cross_index(a, b))
                values.append(1.0)

    @cached_property
    def _fields(self) -> dict[tuple[str, type, Any], tuple[list[int], list[float], list[str]]]:
        return {}

    @cached_property
    def _crossed(self) -> dict[tuple[str, str], int]:
        return {}

    @cached_property
    def _scales(self) -> dict[str, float]:
        return dict(self.scales)

    def batch(
        self, examples: Sequence[Example]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """CSR-style arrays of a batch: row of each entry, its index, its value. `Joined`
        examples have their shared fields hashed once."""
        rows: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        if isinstance(examples, Joined):
            shared = self.part(examples.shared)
            own = self.rows(shared, [self.part(example) for example in examples.own])
            head, head_values = [0, *shared.indices], [1.0, *shared.values]
            made = [(head + idx, head_values + val) for idx, val in own]
        else:
            made = [self.features(example) for example in examples]
        for row, (idx, val) in enumerate(made):
            rows.extend([row] * len(idx))
            indices.extend(idx)
            values.extend(val)
        return (
            np.asarray(rows, dtype=np.intp),
            np.asarray(indices, dtype=np.intp),
            np.asarray(values, dtype=np.float64),
        )


@dataclass(frozen=True)
class Joined(Sequence[Example]):
    """Examples that share most of their fields: `shared | own` for each of `own` (their
    fields disjoint), e.g. one user and one ad with each of its combinations."""

    shared: Example
    own: Sequence[Example]

    def __len__(self) -> int:
        return len(self.own)

    @overload
    def __getitem__(self, index: int) -> Example: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Example]: ...

    def __getitem__(self, index: int | slice) -> Example | Sequence[Example]:
        if isinstance(index, slice):
            return Joined(self.shared, self.own[index])
        return {**self.shared, **self.own[index]}


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
