"""Evaluation: a syntax tree compiled to nested closures that never raise."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from kairos.adserver.targeting.syntax import (
    And,
    Comparison,
    Constant,
    ListConstant,
    Node,
    Not,
    Or,
    Scalar,
    Variable,
    Variables,
)

# -- evaluation --------------------------------------------------------------------------------

Test = Callable[[Variables], bool]
Getter = Callable[[Variables], object]

_NULL, _BOOL, _NUMBER, _STRING, _LIST, _OTHER = range(6)
_SCALARS = frozenset((_BOOL, _NUMBER, _STRING))
_KINDS: dict[type, int] = {type(None): _NULL, bool: _BOOL, int: _NUMBER, float: _NUMBER}
_KINDS |= {str: _STRING, list: _LIST, tuple: _LIST, set: _LIST, frozenset: _LIST}
_SUBCLASSES: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (bool, _BOOL),
    ((int, float), _NUMBER),
    (str, _STRING),
    ((list, tuple, set, frozenset), _LIST),
)


def _kind(x: object) -> int:
    kind = _KINDS.get(type(x))
    if kind is None:
        kind = next((k for cls, k in _SUBCLASSES if isinstance(x, cls)), _OTHER)
    return kind


def _truthy(x: Any) -> bool:
    kind = _kind(x)
    if kind in (_NULL, _OTHER):
        return False
    return bool(x != 0) if kind == _NUMBER else bool(x) if kind == _BOOL else len(x) > 0


def _scalar_equal(a: object, b: object) -> bool:
    kind = _kind(a)
    return kind in _SCALARS and kind == _kind(b) and a == b


def _equal(a: object, b: object) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(map(_scalar_equal, a, b))
    return _scalar_equal(a, b)


def _not_equal(a: object, b: object) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return not _equal(a, b)
    kind = _kind(a)
    return kind in _SCALARS and kind == _kind(b) and a != b


def _ordering(compare: Callable[[Any, Any], Any]) -> Callable[[object, object], bool]:
    def ordered(a: object, b: object) -> bool:
        kind = _kind(a)
        return kind in (_NUMBER, _STRING) and kind == _kind(b) and bool(compare(a, b))

    return ordered


def _member(x: object, container: Any) -> bool:
    kind = _kind(x)
    if kind not in _SCALARS or _kind(container) != _LIST:
        return False
    if kind == _STRING:  # a string only ever equals a string: no type check per item
        return x in container
    return any(_kind(item) == kind and item == x for item in container)


def _contains(container: object, x: object) -> bool:
    if _kind(container) == _STRING:
        return _kind(x) == _STRING and x in container  # type: ignore[operator]
    return _member(x, container)


_SCALAR_CHECKS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_CHECKS: dict[str, Callable[[object, object], bool]] = {
    "==": _equal,
    "!=": _not_equal,
    "<": _ordering(operator.lt),
    "<=": _ordering(operator.le),
    ">": _ordering(operator.gt),
    ">=": _ordering(operator.ge),
    "in": _member,
    "not in": lambda x, container: not _member(x, container),
    "contains": _contains,
}


def compile_node(node: Node) -> Test:
    match node:
        case Or(operands):
            return _any_of(tuple(map(compile_node, operands)))
        case And(operands):
            return _all_of(tuple(map(compile_node, operands)))
        case Not(operand):
            test = compile_node(operand)
            return lambda v: not test(v)
        case Comparison():
            return _compile_comparison(node)
        case _:
            get = _getter(node)
            return lambda v: _truthy(get(v))


def _any_of(tests: tuple[Test, ...]) -> Test:
    def any_of(v: Variables) -> bool:
        for test in tests:  # noqa: SIM110 -- a loop beats any() over a generator by a third
            if test(v):
                return True
        return False

    return any_of


def _all_of(tests: tuple[Test, ...]) -> Test:
    def all_of(v: Variables) -> bool:
        for test in tests:  # noqa: SIM110 -- as in _any_of
            if not test(v):
                return False
        return True

    return all_of


def _getter(node: Node) -> Getter:
    match node:
        case Variable(name):
            return lambda v: v.get(name)
        case Constant(value):
            return lambda v: value
        case ListConstant(items):
            return lambda v: items
        case _:
            return compile_node(node)


def _compile_comparison(node: Comparison) -> Test:
    op, left, right = node.op, node.left, node.right
    if op in ("==", "!=") and Constant(None) in (left, right):
        get = _getter(right if left == Constant(None) else left)
        return (lambda v: get(v) is None) if op == "==" else (lambda v: get(v) is not None)
    get_left, get_right = _getter(left), _getter(right)
    if op in ("in", "not in") and isinstance(right, ListConstant):
        buckets = _buckets(right.items)  # a set lookup instead of a scan

        def member(v: Variables) -> bool:
            x = get_left(v)
            bucket = buckets.get(_kind(x))
            return bucket is not None and x in bucket

        return member if op == "in" else lambda v: not member(v)
    if isinstance(left, Variable) and isinstance(right, Constant) and op in _SCALAR_CHECKS:
        return _variable_against_constant(op, left.name, right.value)
    check = _CHECKS[op]
    return lambda v: check(get_left(v), get_right(v))


def _variable_against_constant(op: str, name: str, constant: Scalar) -> Test:
    """The commonest comparison, `interest.eco > 0.3`, without the generic dispatch."""
    kind, compare = _kind(constant), _SCALAR_CHECKS[op]
    if kind not in (_NUMBER, _STRING) and (kind != _BOOL or op not in ("==", "!=")):
        return lambda v: False

    def test(v: Variables) -> bool:
        x = v.get(name)
        return _kind(x) == kind and bool(compare(x, constant))

    return test


def _buckets(items: tuple[Scalar, ...]) -> dict[int, frozenset[Scalar]]:
    kinds = {_kind(item) for item in items} & _SCALARS
    return {k: frozenset(item for item in items if _kind(item) == k) for k in kinds}
