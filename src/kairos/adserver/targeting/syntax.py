"""The targeting language's shared pieces: limits, the error, the syntax tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kairos.errors import KairosError

MAX_LENGTH = 2_000  # characters of text
MAX_DEPTH = 32  # nested parentheses and `not`s
MAX_LIST = 1_000  # items of a list literal

Scalar = str | int | float | bool | None
Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains"]
Variables = Mapping[str, object]


class ExpressionError(KairosError):
    """Text that is not a valid expression; `position` is the 0-based offset of the fault."""

    status = 422

    def __init__(self, message: str, position: int) -> None:
        detail = {"reason": message, "position": position}
        super().__init__(f"{message} (at character {position})", detail=detail)
        self.reason = message
        self.position = position


# -- the syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Constant:
    value: Scalar  # a finite number, a string, a bool or None


@dataclass(frozen=True, slots=True)
class Variable:
    name: str


@dataclass(frozen=True, slots=True)
class ListConstant:
    items: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    op: Operator
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]  # two or more


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]  # two or more


Node = Constant | Variable | ListConstant | Comparison | Not | And | Or


def names_of(node: Node) -> frozenset[str]:
    match node:
        case Variable(name):
            return frozenset((name,))
        case Comparison(_, left, right):
            return names_of(left) | names_of(right)
        case Not(operand):
            return names_of(operand)
        case And(operands) | Or(operands):
            return frozenset().union(*map(names_of, operands))
        case _:
            return frozenset()
