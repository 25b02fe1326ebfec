"""A small, safe boolean language for targeting, e.g.
`interest.eco > 0.3 and not segment in ["churned"]`: a hand-written tokenizer and
recursive-descent parser (never `eval`), compiled to nested closures and cached by text.

Precedence, loosest first: `or`, `and`, `not`, then one comparison (`== != < <= > >= in`,
`not in`, `contains`) between values: names, literals (numbers, quoted strings, `true`,
`false`, `null`), list literals of literals, or a parenthesised expression. Keywords are case
insensitive. A name such as `interest.eco` or `keyword.rain-jacket` is one key of the variables.

Evaluation never raises: a missing variable is null; a comparison involving null or values of
different types (string vs number, bool vs number, or any type but these and lists) is false,
except that `== null` and `!= null` test whether a value is missing; `a not in L` is exactly
`not a in L`, so it is true for a missing `a`; `contains` tests a list's items or a string's
substrings; a bare value is true unless it is null, false, 0, "", an empty list or of another type.
"""

from __future__ import annotations

import math
import operator
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NoReturn

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


class Expression:
    """A parsed and compiled expression; `str()` is its canonical text."""

    __slots__ = ("_test", "names", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.names: frozenset[str] = _names(node)
        self._test = _compile(node)

    def evaluate(self, variables: Variables) -> bool:
        return self._test(variables)

    def __str__(self) -> str:
        return _render(self.node)

    def __repr__(self) -> str:
        return f"Expression({_render(self.node)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.node == self.node

    def __hash__(self) -> int:
        return hash(self.node)


@lru_cache(maxsize=4096)
def parse(text: str) -> Expression:
    """The expression `text` denotes; raises ExpressionError naming what was expected where."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    return Expression(_Parser(text).parse())


def _names(node: Node) -> frozenset[str]:
    match node:
        case Variable(name):
            return frozenset((name,))
        case Comparison(_, left, right):
            return _names(left) | _names(right)
        case Not(operand):
            return _names(operand)
        case And(operands) | Or(operands):
            return frozenset().union(*map(_names, operands))
        case _:
            return frozenset()


# -- tokens ------------------------------------------------------------------------------------

_KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "true", "false", "null"})
_CONSTANTS: dict[str, Scalar] = {"true": True, "false": False, "null": None}
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_PART = _NAME_START | frozenset(string.digits + ".-")
_DIGITS = frozenset(string.digits)
_HEX = frozenset(string.hexdigits)
_SPACE = frozenset(" \t\r\n")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_HINTS = {"=": " (use '==')", "!": " (use '!=' or 'not')", "&": " (use 'and')", "|": " (use 'or')"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name keyword number string op ( ) [ ] , end
    value: Scalar
    start: int
    end: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in _SPACE:
            i += 1
            continue
        if c in _NAME_START:
            token = _name(text, i)
        elif c in _DIGITS or (c == "-" and text[i + 1 : i + 2] in _DIGITS):
            token = _number(text, i)
        elif c in "\"'":
            token = _string(text, i)
        elif c in "()[],":
            token = _Token(c, c, i, i + 1)
        else:
            token = _operator(text, i)
        tokens.append(token)
        i = token.end
    tokens.append(_Token("end", None, len(text), len(text)))
    return tokens


def _name(text: str, i: int) -> _Token:
    j = i + 1
    while j < len(text) and text[j] in _NAME_PART:
        j += 1
    word = text[i:j]
    if word[-1] in ".-":
        raise ExpressionError(f"a name cannot end with {word[-1]!r}", j - 1)
    if word.lower() in _KEYWORDS:
        return _Token("keyword", word.lower(), i, j)
    return _Token("name", word, i, j)


def _digits(text: str, i: int) -> int:
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    return i


def _number(text: str, i: int) -> _Token:
    j = _digits(text, i + (text[i] == "-"))
    fractional = j < len(text) and text[j] in ".eE"
    if j < len(text) and text[j] == ".":
        if (k := _digits(text, j + 1)) == j + 1:
            raise ExpressionError("expected a digit after '.'", j + 1)
        j = k
    if j < len(text) and text[j] in "eE":
        k = j + 1 + (text[j + 1 : j + 2] in ("+", "-"))
        if (j := _digits(text, k)) == k:
            raise ExpressionError("expected digits in the exponent", k)
    if j < len(text) and text[j] in _NAME_PART:
        raise ExpressionError(f"unexpected {text[j]!r} after a number", j)
    value = float(text[i:j]) if fractional else int(text[i:j])
    if not math.isfinite(value):
        raise ExpressionError("number out of range", i)
    return _Token("number", value, i, j)


def _string(text: str, i: int) -> _Token:
    quote, parts = text[i], list[str]()
    start = j = i + 1
    while j < len(text):
        c = text[j]
        if c == quote:
            parts.append(text[start:j])
            return _Token("string", "".join(parts), i, j + 1)
        if c != "\\":
            j += 1
            continue
        parts.append(text[start:j])
        escape = text[j + 1 : j + 2]
        if escape == "u":
            digits = text[j + 2 : j + 6]
            if len(digits) < 4 or not _HEX.issuperset(digits):
                raise ExpressionError("expected 4 hex digits after '\\u'", j)
            parts.append(chr(int(digits, 16)))
            j += 6
        elif escape in _ESCAPES:
            parts.append(_ESCAPES[escape])
            j += 2
        elif escape:
            raise ExpressionError(f"unknown escape '\\{escape}'", j)
        else:
            break
        start = j
    raise ExpressionError("unterminated string", i)


def _operator(text: str, i: int) -> _Token:
    for op in _OPERATORS:
        if text.startswith(op, i):
            return _Token("op", op, i, i + len(op))
    hint = _HINTS.get(text[i], "")
    raise ExpressionError(f"unexpected character {text[i]!r}{hint}", i)


# -- the parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = _tokenize(text)
        self._i = 0
        self._depth = 0

    def parse(self) -> Node:
        node = self._or()
        token = self._peek()
        if token.kind == "end":
            return node
        if _is_operator(token):
            raise ExpressionError("comparisons cannot be chained (use 'and')", token.start)
        if token.kind == ")":
            raise ExpressionError("unmatched ')'", token.start)
        self._fail("expected 'and', 'or' or the end", token)

    def _or(self) -> Node:
        operands = [self._and()]
        while self._accept("or"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Node:
        operands = [self._not()]
        while self._accept("and"):
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self) -> Node:
        token = self._peek()
        if not self._accept("not"):
            return self._comparison()
        self._enter(token)
        node = Not(self._not())
        self._depth -= 1
        return node

    def _comparison(self) -> Node:
        left = self._primary()
        token = self._peek()
        op: Operator
        if _is_operator(token):
            op = token.value  # type: ignore[assignment]  # the tokenizer only makes Operators
        elif _is_keyword(token, "not") and _is_keyword(self._tokens[self._i + 1], "in"):
            op = "not in"
            self._i += 1
        else:
            return left
        self._i += 1
        return Comparison(op, left, self._primary())

    def _primary(self) -> Node:
        before = self._i - 1
        token = self._next()
        if token.kind == "name":
            return Variable(str(token.value))
        if _is_literal(token):
            return Constant(_literal_value(token))
        if token.kind == "[":
            return self._list(token)
        if token.kind != "(":
            after = f" after {self._quote(self._tokens[before])}" if before >= 0 else ""
            self._fail(f"expected a value{after}", token)
        self._enter(token)
        node = self._or()
        if (close := self._next()).kind != ")":
            self._fail(f"expected ')' to close the '(' at character {token.start}", close)
        self._depth -= 1
        return node

    def _list(self, opening: _Token) -> ListConstant:
        items: list[Scalar] = []
        if self._peek().kind == "]":
            self._next()
            return ListConstant(())
        while True:
            token = self._next()
            if not _is_literal(token):
                self._fail("expected a string, number, true, false or null in the list", token)
            if len(items) == MAX_LIST:
                raise ExpressionError(f"list longer than {MAX_LIST} items", token.start)
            items.append(_literal_value(token))
            token = self._next()
            if token.kind == "]":
                return ListConstant(tuple(items))
            if token.kind != ",":
                where = f"the list opened at character {opening.start}"
                self._fail(f"expected ',' or ']' in {where}", token)

    def _peek(self) -> _Token:
        return self._tokens[self._i]

    def _next(self) -> _Token:
        token = self._tokens[self._i]
        if token.kind != "end":
            self._i += 1
        return token

    def _accept(self, keyword: str) -> bool:
        if _is_keyword(self._tokens[self._i], keyword):
            self._i += 1
            return True
        return False

    def _enter(self, token: _Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels", token.start)

    def _quote(self, token: _Token) -> str:
        if token.kind == "end":
            return "the end"
        source = self._text[token.start : token.end]
        return repr(source if len(source) <= 24 else source[:21] + "...")

    def _fail(self, expected: str, found: _Token) -> NoReturn:
        raise ExpressionError(f"{expected}, found {self._quote(found)}", found.start)


def _is_keyword(token: _Token, *words: str) -> bool:
    return token.kind == "keyword" and token.value in words


def _is_operator(token: _Token) -> bool:
    return token.kind == "op" or _is_keyword(token, "in", "contains")


def _is_literal(token: _Token) -> bool:
    return token.kind in ("number", "string") or _is_keyword(token, *_CONSTANTS)


def _literal_value(token: _Token) -> Scalar:
    return _CONSTANTS[str(token.value)] if token.kind == "keyword" else token.value


# -- the canonical text ------------------------------------------------------------------------

_ESCAPE_TABLE = {ord(c): f"\\u{ord(c):04x}" for c in map(chr, [*range(0x20), 0x7F])}
_ESCAPE_TABLE |= {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\t"): "\\t"}
_ESCAPE_TABLE |= {ord("\r"): "\\r"}


def _literal(value: Scalar) -> str:
    if isinstance(value, str):
        return f'"{value.translate(_ESCAPE_TABLE)}"'
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def _binding(node: Node) -> int:
    """How tightly a node binds: children that bind less tightly than a parent need brackets."""
    return {Or: 1, And: 2, Not: 3, Comparison: 4}.get(type(node), 5)


def _render(node: Node, loosest: int = 1) -> str:
    if _binding(node) < loosest:
        return f"({_render(node)})"
    match node:
        case Or(operands):
            return " or ".join(_render(o, 1) for o in operands)
        case And(operands):
            return " and ".join(_render(o, 2) for o in operands)
        case Not(operand):
            return f"not {_render(operand, 3)}"
        case Comparison(op, left, right):
            return f"{_render(left, 5)} {op} {_render(right, 5)}"
        case Variable(name):
            return name
        case ListConstant(items):
            return f"[{', '.join(map(_literal, items))}]"
        case Constant(value):
            return _literal(value)


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


def _compile(node: Node) -> Test:
    match node:
        case Or(operands):
            return _any_of(tuple(map(_compile, operands)))
        case And(operands):
            return _all_of(tuple(map(_compile, operands)))
        case Not(operand):
            test = _compile(operand)
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
            return _compile(node)


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
