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

from functools import lru_cache
from typing import NoReturn

from kairos.adserver.targeting.evaluate import compile_node
from kairos.adserver.targeting.syntax import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_LIST,
    And,
    Comparison,
    Constant,
    ExpressionError,
    ListConstant,
    Node,
    Not,
    Operator,
    Or,
    Scalar,
    Variable,
    Variables,
    names_of,
)
from kairos.adserver.targeting.tokens import CONSTANTS, Token, tokenize

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_LIST",
    "And",
    "Comparison",
    "Constant",
    "Expression",
    "ExpressionError",
    "ListConstant",
    "Node",
    "Not",
    "Or",
    "Variable",
    "parse",
]


class Expression:
    """A parsed and compiled expression; `str()` is its canonical text."""

    __slots__ = ("_test", "names", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.names: frozenset[str] = names_of(node)
        self._test = compile_node(node)

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


# -- the parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = tokenize(text)
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

    def _list(self, opening: Token) -> ListConstant:
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

    def _peek(self) -> Token:
        return self._tokens[self._i]

    def _next(self) -> Token:
        token = self._tokens[self._i]
        if token.kind != "end":
            self._i += 1
        return token

    def _accept(self, keyword: str) -> bool:
        if _is_keyword(self._tokens[self._i], keyword):
            self._i += 1
            return True
        return False

    def _enter(self, token: Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels", token.start)

    def _quote(self, token: Token) -> str:
        if token.kind == "end":
            return "the end"
        source = self._text[token.start : token.end]
        return repr(source if len(source) <= 24 else source[:21] + "...")

    def _fail(self, expected: str, found: Token) -> NoReturn:
        raise ExpressionError(f"{expected}, found {self._quote(found)}", found.start)


def _is_keyword(token: Token, *words: str) -> bool:
    return token.kind == "keyword" and token.value in words


def _is_operator(token: Token) -> bool:
    return token.kind == "op" or _is_keyword(token, "in", "contains")


def _is_literal(token: Token) -> bool:
    return token.kind in ("number", "string") or _is_keyword(token, *CONSTANTS)


def _literal_value(token: Token) -> Scalar:
    return CONSTANTS[str(token.value)] if token.kind == "keyword" else token.value


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
