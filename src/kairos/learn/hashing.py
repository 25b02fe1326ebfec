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

from kairos.memo import ByIdentity

Example = Mapping[str, Any]
Array = np.ndarray[Any, Any]
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
        spans = self._spans(shared)
        crossed: dict[tuple[int, str], list[int]] = {}
        rows = []
        for own in owns:
            indices, values = list(own.indices), list(own.values)
            for n, (shared_field, own_field, shared_left) in enumerate(spans):
                for b in own.tokens.get(own_field, ()):
                    found = crossed.get((n, b))
                    if found is None:
                        found = crossed[(n, b)] = self._crossed_with(
                            shared.tokens[shared_field], b, shared_left
                        )
                    indices += found
            values += [1.0] * (len(indices) - len(values))
            rows.append((indices, values))
        return rows

    def _spans(self, shared: Part) -> list[tuple[str, str, bool]]:
        """The crosses of a shared part's fields with another part's: (the shared field, the
        other field, whether the shared one is the left)."""
        spans = []
        for left, right in self.crosses:
            if left != right and left in shared.tokens:
                spans.append((left, right, True))
            elif left != right and right in shared.tokens:
                spans.append((right, left, False))
        return spans

    def _crossed_with(self, shared: list[str], b: str, shared_left: bool) -> list[int]:
        """The indices of one own token's crosses with a shared field's tokens."""
        if shared_left:
            return [self._cross_index(a, b) for a in shared]
        return [self._cross_index(b, a) for a in shared]

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

    def dense(self, examples: Sequence[Example]) -> tuple[Array, Array]:
        """The examples as a dense (len(examples), coordinates) matrix over the coordinates
        they use, in increasing order, and those coordinates."""
        joined = self.shared_and_block(examples)
        if joined is not None:
            return self.joined_dense(*joined)
        rows, idx, values = self.batch(examples)
        coords = np.unique(idx)
        size = len(examples) * len(coords)  # (summed in order, as `np.add.at` would)
        where = rows * len(coords) + np.searchsorted(coords, idx)
        dense = np.bincount(where, weights=values, minlength=size)
        return dense.reshape(len(examples), len(coords)), coords

    def shared_and_block(
        self, examples: Sequence[Example]
    ) -> tuple[Part, Block, list[tuple[Array, Array, Array]]] | None:
        """A recurring `Joined`'s shared part, own block and the crosses of the two (`_crosses`);
        None for other examples."""
        if not (isinstance(examples, Joined) and isinstance(examples.own, tuple)):
            return None
        shared, block = self.part(examples.shared), self._block(examples.own)
        return shared, block, self._crosses(shared, block)

    def joined_dense(
        self, shared: Part, block: Block, crosses: list[tuple[Array, Array, Array]]
    ) -> tuple[Array, Array]:
        """`dense` of a `Joined` whose own examples are `block`'s (`shared_and_block`): the
        bias and the shared part's entries summed once into a row that every row starts from,
        the block's own matrix added, then the crosses."""
        head = np.asarray([0, *shared.indices], dtype=np.intp)
        used = [head, block.distinct, *(table for _, _, table in crosses)]
        coords = np.unique(np.concatenate(used))
        width = len(coords)
        dense = np.empty((block.size, width))
        dense[:] = np.bincount(
            np.searchsorted(coords, head), weights=[1.0, *shared.values], minlength=width
        )
        dense[:, np.searchsorted(coords, block.distinct)] += block.matrix
        for rows, indices, _ in crosses:
            np.add.at(dense, (rows, np.searchsorted(coords, indices)), 1.0)
        return dense, coords

    def _joined_batch(self, shared: Part, block: Block) -> tuple[Array, Array, Array]:
        """`batch` of a `Joined` whose own examples are `block`'s: the same entries per row,
        made with arrays."""
        n = block.size
        head = np.asarray([0, *shared.indices], dtype=np.intp)
        head_values = np.asarray([1.0, *shared.values])
        rows = [np.repeat(np.arange(n, dtype=np.intp), len(head)), block.rows]
        indices = [np.tile(head, n), block.indices]
        values = [np.tile(head_values, n), block.values]
        for cross_rows, crossed, _ in self._crosses(shared, block):
            rows.append(cross_rows)
            indices.append(crossed)
            values.append(np.ones(len(crossed)))
        return np.concatenate(rows), np.concatenate(indices), np.concatenate(values)

    def _crosses(self, shared: Part, block: Block) -> list[tuple[Array, Array, Array]]:
        """The crosses of the shared part's tokens with the block's, per pair of fields:
        each entry's row and index, and the distinct indices (each distinct own token's
        crosses hashed once)."""
        found = []
        for shared_field, own_field, shared_left in self._spans(shared):
            tokens = block.tokens.get(own_field)
            if tokens is None:
                continue
            distinct, token_rows, which = tokens
            across = shared.tokens[shared_field]
            table = np.asarray(
                [self._crossed_with(across, b, shared_left) for b in distinct], dtype=np.intp
            ).reshape(len(distinct), len(across))
            found.append((np.repeat(token_rows, len(across)), table[which].ravel(), table.ravel()))
        return found

    @cached_property
    def _block(self) -> ByIdentity[tuple[Example, ...], Block]:
        """The own examples of a `Joined`, hashed; remembered by the tuple's identity (a
        tuple that recurs, such as a dynamic ad's every combination, is hashed once)."""
        return ByIdentity(lambda owns: Block.of([self.part(e) for e in owns]), 4096)

    def batch(
        self, examples: Sequence[Example]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """CSR-style arrays of a batch: row of each entry, its index, its value. `Joined`
        examples have their shared fields hashed once."""
        if isinstance(examples, Joined) and isinstance(examples.own, tuple):
            shared = self.part(examples.shared)
            return self._joined_batch(shared, self._block(examples.own))
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
    fields disjoint), e.g. one user and one ad with each of its combinations. A tuple `own`
    is one that recurs (an assembly's every combination): a hasher keeps its hashed parts,
    by its identity; a list is hashed each time."""

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


@dataclass(frozen=True)
class Block:
    """Own parts of `Joined` examples as arrays: each entry's row, index and value, and per
    field of tokens, its distinct tokens and each occurrence's row and token number."""

    size: int
    rows: Array
    indices: Array
    values: Array
    tokens: dict[str, tuple[list[str], Array, Array]]

    @cached_property
    def distinct(self) -> Array:
        """The indices the own parts use, each once, in increasing order."""
        return np.unique(self.indices)

    @cached_property
    def matrix(self) -> Array:
        """The own parts as a dense (size, len(distinct)) matrix."""
        matrix = np.zeros((self.size, len(self.distinct)))
        np.add.at(matrix, (self.rows, np.searchsorted(self.distinct, self.indices)), self.values)
        return matrix

    @classmethod
    def of(cls, parts: Sequence[Part]) -> Block:
        rows = [row for row, part in enumerate(parts) for _ in part.indices]
        tokens: dict[str, tuple[list[str], Array, Array]] = {}
        for name in {name for part in parts for name in part.tokens}:
            numbers: dict[str, int] = {}
            occurrences = [
                (row, numbers.setdefault(token, len(numbers)))
                for row, part in enumerate(parts)
                for token in part.tokens.get(name, ())
            ]
            token_rows, which = zip(*occurrences, strict=True) if occurrences else ((), ())
            tokens[name] = (
                list(numbers),
                np.asarray(token_rows, dtype=np.intp),
                np.asarray(which, dtype=np.intp),
            )
        return cls(
            len(parts),
            np.asarray(rows, dtype=np.intp),
            np.asarray([i for part in parts for i in part.indices], dtype=np.intp),
            np.asarray([v for part in parts for v in part.values], dtype=np.float64),
            tokens,
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
