"""The targeting language's tokenizer."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from kairos.adserver.targeting.syntax import ExpressionError, Scalar

# -- tokens ------------------------------------------------------------------------------------

_KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "true", "false", "null"})
CONSTANTS: dict[str, Scalar] = {"true": True, "false": False, "null": None}
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_PART = _NAME_START | frozenset(string.digits + ".-")
_DIGITS = frozenset(string.digits)
_HEX = frozenset(string.hexdigits)
_SPACE = frozenset(" \t\r\n")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_HINTS = {"=": " (use '==')", "!": " (use '!=' or 'not')", "&": " (use 'and')", "|": " (use 'or')"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name keyword number string op ( ) [ ] , end
    value: Scalar
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
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
            token = Token(c, c, i, i + 1)
        else:
            token = _operator(text, i)
        tokens.append(token)
        i = token.end
    tokens.append(Token("end", None, len(text), len(text)))
    return tokens


def _name(text: str, i: int) -> Token:
    j = i + 1
    while j < len(text) and text[j] in _NAME_PART:
        j += 1
    word = text[i:j]
    if word[-1] in ".-":
        raise ExpressionError(f"a name cannot end with {word[-1]!r}", j - 1)
    if word.lower() in _KEYWORDS:
        return Token("keyword", word.lower(), i, j)
    return Token("name", word, i, j)


def _digits(text: str, i: int) -> int:
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    return i


def _number(text: str, i: int) -> Token:
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
    return Token("number", value, i, j)


def _string(text: str, i: int) -> Token:
    quote, parts = text[i], list[str]()
    start = j = i + 1
    while j < len(text):
        c = text[j]
        if c == quote:
            parts.append(text[start:j])
            return Token("string", "".join(parts), i, j + 1)
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


def _operator(text: str, i: int) -> Token:
    for op in _OPERATORS:
        if text.startswith(op, i):
            return Token("op", op, i, i + len(op))
    hint = _HINTS.get(text[i], "")
    raise ExpressionError(f"unexpected character {text[i]!r}{hint}", i)
