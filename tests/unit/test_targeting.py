"""Targeting: the expression language (parser, errors, semantics, properties) and the filters."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kairos.adserver.context import RequestContext
from kairos.adserver.model import Targeting
from kairos.adserver.targeting import Expression, ExpressionError, check, parse
from kairos.adserver.targeting import expression as expression_module
from kairos.adserver.targeting.expression import (
    And,
    Comparison,
    Constant,
    ListConstant,
    Node,
    Not,
    Or,
    Variable,
)
from kairos.errors import KairosError

EXAMPLE = 'interest.eco > 0.3 and not segment in ["churned"]'

# -- parsing -----------------------------------------------------------------------------------


def a(name: str) -> Variable:
    return Variable(name)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("a or b and c", Or((a("a"), And((a("b"), a("c")))))),
        ("a and b or c", Or((And((a("a"), a("b"))), a("c")))),
        ("(a or b) and c", And((Or((a("a"), a("b"))), a("c")))),
        ("a or b or c", Or((a("a"), a("b"), a("c")))),
        ("not a and b", And((Not(a("a")), a("b")))),
        ("not a == 1", Not(Comparison("==", a("a"), Constant(1)))),
        ("not not a", Not(Not(a("a")))),
        (
            'not segment in ["churned"]',
            Not(Comparison("in", a("segment"), ListConstant(("churned",)))),
        ),
        (
            'segment not in ["churned"]',
            Comparison("not in", a("segment"), ListConstant(("churned",))),
        ),
        ("x in segments", Comparison("in", a("x"), a("segments"))),
        ('keywords contains "eco"', Comparison("contains", a("keywords"), Constant("eco"))),
        ("x in []", Comparison("in", a("x"), ListConstant(()))),
        (
            "x in [\"a\", 'b', 3, -1.5, true, false, null]",
            Comparison("in", a("x"), ListConstant(("a", "b", 3, -1.5, True, False, None))),
        ),
        ("A AND NOT B Or True", Or((And((a("A"), Not(a("B")))), Constant(True)))),
        (
            "(a == 1) == true",
            Comparison("==", Comparison("==", a("a"), Constant(1)), Constant(True)),
        ),
        ("interest.eco>=0.3", Comparison(">=", a("interest.eco"), Constant(0.3))),
        ("count.click.24h < 3", Comparison("<", a("count.click.24h"), Constant(3))),
        ("keyword.rain-jacket", a("keyword.rain-jacket")),
        ("and.x or null.y", Or((a("and.x"), a("null.y")))),  # a keyword inside a name is a name
        ('"true"', Constant("true")),
    ],
)
def test_parses(text: str, node: Node) -> None:
    assert parse(text).node == node


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("-3", -3),
        ("42", 42),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("1.5e3", 1500.0),
        ("2E-2", 0.02),
        ("1e+2", 100.0),
        ('"a\\"b"', 'a"b'),
        ("'it\\'s'", "it's"),
        ('"it\'s"', "it's"),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\n\\t\\r\\0"', "\n\t\r\0"),
        ('"caf\\u00e9 \\u20AC"', "café €"),
        ('"raw é and \' inside"', "raw é and ' inside"),
        ("''", ""),
    ],
)
def test_literals(text: str, value: object) -> None:
    node = parse(text).node
    assert isinstance(node, Constant)
    assert node.value == value
    assert type(node.value) is type(value)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (EXAMPLE, EXAMPLE),
        ("a OR (b AND c)", "a or b and c"),
        ("(a or b) and c", "(a or b) and c"),
        ("not (a and b)", "not (a and b)"),
        ("not(a == 1)", "not a == 1"),
        ("(not a) == false", "(not a) == false"),
        ("x  not  in  [ 1,2 ]", "x not in [1, 2]"),
        ("x == 'say \"hi\"\\n'", 'x == "say \\"hi\\"\\n"'),
        ('x == "\\u0001"', 'x == "\\u0001"'),
        ("x == 1.5e3", "x == 1500.0"),
        ("((a))", "a"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical
    assert str(parse(canonical)) == canonical
    assert repr(parse(text)) == f"Expression({canonical!r})"


def test_names_and_equality() -> None:
    expression = parse(EXAMPLE)
    assert expression.names == frozenset({"interest.eco", "segment"})
    assert parse('x in ["a"] or y contains z').names == frozenset({"x", "y", "z"})
    assert parse("true").names == frozenset()
    assert expression == parse(f"({EXAMPLE})")
    assert hash(expression) == hash(parse(f"({EXAMPLE})"))
    assert expression != parse("a")
    assert parse(EXAMPLE) is expression  # parses are cached by text


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ('x == "abc', 5, "unterminated string"),
        ("x == 'abc\\'", 5, "unterminated string"),
        ("a b", 2, "expected 'and', 'or' or the end, found 'b'"),
        ("a and", 5, "expected a value after 'and', found the end"),
        ("x ==", 4, "expected a value after '==', found the end"),
        ("", 0, "expected a value, found the end"),
        ("a or and b", 5, "expected a value after 'or', found 'and'"),
        ("not", 3, "expected a value after 'not', found the end"),
        ("x in", 4, "expected a value after 'in', found the end"),
        ("(a or b", 7, "expected ')' to close the '(' at character 0, found the end"),
        ("a)", 1, "unmatched ')'"),
        ("a == b == c", 7, "comparisons cannot be chained"),
        ("a in [b]", 6, "expected a string, number, true, false or null in the list"),
        ("a in [1 2]", 8, "expected ',' or ']' in the list opened at character 5"),
        ("a in [1,]", 8, "expected a string, number, true, false or null in the list"),
        ("a & b", 2, "unexpected character '&' (use 'and')"),
        ("a = 1", 2, "unexpected character '=' (use '==')"),
        ("!a", 0, "unexpected character '!'"),
        ("a == $", 5, "unexpected character '$'"),
        ("-a", 0, "unexpected character '-'"),
        ("a.", 1, "a name cannot end with '.'"),
        ("a- == 1", 1, "a name cannot end with '-'"),
        ("x == 1.", 7, "expected a digit after '.'"),
        ("x == 1e", 7, "expected digits in the exponent"),
        ("x == 3abc", 6, "unexpected 'a' after a number"),
        ("x == 1.5.2", 8, "unexpected '.' after a number"),
        ("x == 1e999", 5, "number out of range"),
        ('x == "\\q"', 6, "unknown escape '\\q'"),
        ('x == "\\u12"', 6, "expected 4 hex digits after '\\u'"),
        ("(" * 33 + "a" + ")" * 33, 32, "nested deeper than 32 levels"),
        ("not " * 33 + "a", 128, "nested deeper than 32 levels"),
        ("x" * 2001, 2000, "expression longer than 2000 characters"),
    ],
)
def test_errors_name_what_was_expected_where(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    error = caught.value
    assert error.position == position
    assert error.reason.startswith(message)
    assert error.message == f"{error.reason} (at character {position})"
    assert error.detail == {"reason": error.reason, "position": position}


def test_error_is_a_422_kairos_error() -> None:
    with pytest.raises(KairosError) as caught:
        parse("a and")
    assert isinstance(caught.value, ExpressionError)
    assert caught.value.status == 422


def test_limits_are_inclusive() -> None:
    assert parse("(" * 32 + "a" + ")" * 32).names == {"a"}
    assert parse("not " * 32 + "a").names == {"a"}
    assert parse("x" * 2000).names == {"x" * 2000}


def test_list_length_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2,000 characters hold at most 1,000 items, so the limit is tried on a smaller one
    monkeypatch.setattr(expression_module, "MAX_LIST", 3)
    parse.cache_clear()
    assert parse("x in [1, 2, 3]").names == {"x"}
    with pytest.raises(ExpressionError, match="list longer than 3 items") as caught:
        parse("x in [1, 2, 3, 4]")
    assert caught.value.position == 15


# -- evaluation --------------------------------------------------------------------------------

V: dict[str, object] = {
    "n": 5,
    "f": 0.5,
    "s": "eco",
    "t": True,
    "l": ["eco", "green", 3],
    "empty": [],
    "zero": 0,
    "nothing": None,
    "obj": object(),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n == 5", True),
        ("n == 5.0", True),
        ("f < 1", True),
        ("n >= 5 and n <= 5 and n > 4 and n < 6 and n != 4", True),
        ('s == "eco"', True),
        ('s < "fun"', True),
        ("t == true", True),
        ("t != false", True),
        # mismatched types are false, whichever the operator
        ('n == "5"', False),
        ('n != "5"', False),
        ("s > 1", False),
        ("t == 1", False),
        ("n == true", False),
        ("t > false", False),
        ("l > 1", False),
        ("obj == obj", False),
        # null: a missing variable is null; comparisons with it are false ...
        ("missing == 1", False),
        ("missing != 1", False),
        ("missing < 1", False),
        ("missing == missing", False),
        ("nothing > 0", False),
        ('missing in ["a"]', False),
        ("1 in missing", False),
        # ... but negating them is true, and `== null` tests presence
        ("not missing == 1", True),
        ('not missing in ["churned"]', True),
        ('missing not in ["churned"]', True),
        ("missing == null", True),
        ("nothing == null", True),
        ("null == missing", True),
        ("n == null", False),
        ("n != null", True),
        ("missing != null", False),
        # lists
        ('s in ["green", "eco"]', True),
        ("n in [1, 5]", True),
        ("n in [5.0]", True),
        ('n in ["5"]', False),
        ("t in [1]", False),
        ("t in [true]", True),
        ("zero in [false]", False),
        ("null in [null]", False),
        ("s in l", True),
        ("3 in l", True),
        ('"blue" in l', False),
        ("s in s", False),
        ("l in [1]", False),
        ('l == ["eco", "green", 3]', True),
        ('l != ["eco", "green", 3]', False),
        ('l != ["eco"]', True),
        ("empty == []", True),
        ("l == 3", False),
        # contains
        ('l contains "eco"', True),
        ("l contains 3", True),
        ('l contains "3"', False),
        ('s contains "c"', True),
        ("s contains 1", False),
        ("n contains 5", False),
        ('missing contains "a"', False),
        # bare values test truthiness
        ("t", True),
        ("n", True),
        ("zero", False),
        ("empty", False),
        ("l", True),
        ("missing", False),
        ("obj", False),
        ('""', False),
        ("[1]", True),
        ("not missing", True),
        # boolean structure
        ("missing or n == 5", True),
        ("n == 5 and missing", False),
        ("n == 4 or n == 3 or n == 5", True),
        ("n == 5 and s == 'eco' and t", True),
        ("(n == 5) == true", True),
        ("(n == 4) == false", True),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert parse(text).evaluate(V) is expected


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"interest.eco": 0.5}, True),
        ({"interest.eco": 0.5, "segment": "loyal"}, True),
        ({"interest.eco": 0.5, "segment": "churned"}, False),
        ({"interest.eco": 0.3}, False),
        ({"interest.eco": "0.5"}, False),
        ({"segment": "loyal"}, False),
        ({}, False),
    ],
)
def test_the_issue_example(variables: dict[str, object], expected: bool) -> None:
    assert parse(EXAMPLE).evaluate(variables) is expected


def test_dotted_names_are_looked_up_whole() -> None:
    expression = parse("interest.eco > 0.3")
    assert expression.evaluate({"interest.eco": 0.4})
    assert not expression.evaluate({"interest": {"eco": 0.4}})


def test_subclasses_of_plain_types_compare_as_them() -> None:
    class Device(str):
        pass

    assert parse('device in ["mobile"]').evaluate({"device": Device("mobile")})
    assert parse('device == "mobile"').evaluate({"device": Device("mobile")})


# -- properties --------------------------------------------------------------------------------

NAMES = ["a", "b", "segment", "interest.eco", "count.click.24h", "keyword.rain-jacket", "x_1"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains"]
ATOMS = st.one_of(
    SCALARS.map(Constant),
    st.sampled_from(NAMES).map(Variable),
    st.lists(SCALARS, max_size=4).map(lambda items: ListConstant(tuple(items))),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(Not, children),
        st.builds(And, many),
        st.builds(Or, many),
        st.builds(Comparison, st.sampled_from(OPERATORS), children, children),
    )


NODES = st.recursive(ATOMS, _extend, max_leaves=10)
VALUES = SCALARS | st.floats() | st.lists(SCALARS, max_size=4)
VARIABLES = st.dictionaries(st.sampled_from(NAMES), VALUES)


def _depth(node: Node) -> int:
    match node:
        case Not(operand):
            return 1 + _depth(operand)
        case And(operands) | Or(operands):
            return 1 + max(map(_depth, operands))
        case Comparison(_, left, right):
            return 1 + max(_depth(left), _depth(right))
        case _:
            return 0


@given(NODES, st.lists(VARIABLES, min_size=1, max_size=4))
def test_the_canonical_form_parses_to_an_equivalent_expression(
    node: Node, variables: list[dict[str, object]]
) -> None:
    assume(_depth(node) <= 16)  # brackets and `not`s stay within the nesting limit
    expression = Expression(node)
    again = parse(str(expression))
    assert str(again) == str(expression)
    assert again.names == expression.names
    for v in variables:
        assert again.evaluate(v) is expression.evaluate(v)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}([.-][A-Za-z0-9_]{1,4}){0,3}", fullmatch=True))
def test_names_with_dots_and_dashes_are_one_variable(name: str) -> None:
    assume(name.lower() not in {"and", "or", "not", "in", "contains", "true", "false", "null"})
    assert parse(f"{name} == 1").names == {name}
    assert parse(f"{name} == 1").evaluate({name: 1})


FRAGMENTS = st.sampled_from(
    ["a", "b.c", "x-1", "1", "-2.5", "1e3", '"s"', "'t'", '"\\', "\\u00", "(", ")", "[", "]",
     ",", "==", "!=", "<", ">=", "=", "!", "and", "or", "not", "in", "contains", "true",
     "null", " ", "\n", "é", "-", "."]
)  # fmt: skip


@given(st.text(max_size=60) | st.lists(FRAGMENTS, max_size=25).map("".join))
def test_parse_raises_nothing_but_expression_errors(text: str) -> None:
    try:
        expression = parse(text)
    except ExpressionError as error:
        position = error.position
    else:
        assert str(parse(str(expression))) == str(expression)
        return
    assert 0 <= position <= len(text)


ODD_VALUES = st.recursive(
    SCALARS
    | st.floats()
    | st.complex_numbers()
    | st.decimals()
    | st.binary(max_size=4)
    | st.builds(object)
    | st.datetimes(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.frozensets(SCALARS, max_size=3)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@given(NODES, st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), ODD_VALUES))
def test_evaluation_never_raises(node: Node, variables: dict[str, Any]) -> None:
    assert isinstance(Expression(node).evaluate(variables), bool)


# -- filters -----------------------------------------------------------------------------------

NOON = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)  # a Wednesday


def ctx(**changes: Any) -> RequestContext:
    base: dict[str, Any] = {
        "now": NOON,
        "country": "ES",
        "region": "ES-MD",
        "device": "mobile",
        "os": "Android",
        "browser": "Chrome",
        "site_id": "site-1",
        "zone_id": "zone-1",
        "keywords": frozenset({"eco", "travel"}),
        "features": {"interest.eco": 0.5},
        "properties": {"segment": "loyal"},
    }
    return RequestContext(**(base | changes))


@pytest.mark.parametrize(
    ("targeting", "request_changes", "reason"),
    [
        (Targeting(), {}, None),
        (Targeting(site_ids=["site-1", "site-2"]), {}, None),
        (Targeting(site_ids=["site-2"]), {}, "site site-1 not in [site-2]"),
        (Targeting(site_ids=["SITE-1"]), {}, "site site-1 not in [SITE-1]"),  # ids are exact
        (Targeting(zone_ids=["zone-1"]), {}, None),
        (Targeting(zone_ids=["zone-9"]), {}, "zone zone-1 not in [zone-9]"),
        (Targeting(zone_ids=["zone-9"]), {"zone_id": None}, "zone unknown not in [zone-9]"),
        (Targeting(countries=["ES", "PT"]), {}, None),
        (Targeting(countries=["es"]), {}, None),
        (Targeting(countries=["ES", "PT"]), {"country": "DE"}, "country DE not in [ES, PT]"),
        (Targeting(countries=["ES", "PT"]), {"country": None}, "country unknown not in [ES, PT]"),
        (Targeting(exclude_countries=["DE"]), {}, None),
        (Targeting(exclude_countries=["DE"]), {"country": "DE"}, "country excluded: DE"),
        (Targeting(exclude_countries=["de"]), {"country": "DE"}, "country excluded: DE"),
        (Targeting(exclude_countries=["DE"]), {"country": None}, None),
        (Targeting(regions=["ES-MD"]), {}, None),
        (Targeting(regions=["PT-11"]), {}, "region ES-MD not in [PT-11]"),
        (Targeting(regions=["PT-11"]), {"region": None}, "region unknown not in [PT-11]"),
        (Targeting(devices=["mobile", "tablet"]), {}, None),
        (Targeting(devices=["desktop"]), {}, "device mobile not in [desktop]"),
        (Targeting(os=["android", "iOS"]), {}, None),
        (Targeting(os=["iOS"]), {}, "os Android not in [iOS]"),
        (Targeting(browsers=["chrome"]), {}, None),
        (Targeting(browsers=["CHROME"]), {"browser": "chrome"}, None),
        (Targeting(browsers=["Firefox"]), {}, "browser Chrome not in [Firefox]"),
        (Targeting(browsers=["Firefox"]), {"browser": None}, "browser unknown not in [Firefox]"),
        (Targeting(keywords=["Eco", "green"]), {}, None),
        (Targeting(keywords=["green", "solar"]), {}, "no keyword of [green, solar] on the page"),
        (Targeting(keywords=["eco"]), {"keywords": frozenset()}, "no keyword of [eco] on the page"),
        (Targeting(exclude_keywords=["casino"]), {}, None),
        (
            Targeting(exclude_keywords=["poker", "casino"]),
            {"keywords": frozenset({"casino", "eco"})},
            "keyword excluded: casino",
        ),
        (Targeting(expression=EXAMPLE), {}, None),
        (Targeting(expression=""), {}, None),
        (
            Targeting(expression="interest.eco > 0.6"),
            {},
            "expression false: interest.eco > 0.6",
        ),
        (
            Targeting(expression=EXAMPLE),
            {"properties": {"segment": "churned"}},
            f"expression false: {EXAMPLE}",
        ),
        (Targeting(expression='country == "ES" and device in ["mobile"]'), {}, None),
        (Targeting(expression="keywords contains 'travel'"), {}, None),
        (
            Targeting(expression="interest.eco >"),
            {},
            "invalid expression: expected a value after '>', found the end (at character 14)",
        ),
        (Targeting(hours=list(range(9, 18))), {}, None),
        (Targeting(hours=[9, 10, 11, 15]), {}, "hour 12 not in [9..11, 15]"),
        (Targeting(days=[0, 1, 2, 3, 4]), {}, None),
        (Targeting(days=[5, 6]), {}, "day Wed not in [Sat..Sun]"),
        # the first failing check answers, the cheap ones first
        (
            Targeting(countries=["PT"], devices=["desktop"], expression="false"),
            {},
            "country ES not in [PT]",
        ),
    ],
)
def test_checks(targeting: Targeting, request_changes: dict[str, Any], reason: str | None) -> None:
    assert check(targeting, "UTC", ctx(**request_changes)) == reason


@pytest.mark.parametrize(
    ("now", "timezone", "targeting", "reason"),
    [
        # 03:00 UTC on a Tuesday is 23:00 on Monday in New York in summer (UTC-4) ...
        (datetime(2026, 5, 5, 3, tzinfo=UTC), "America/New_York", Targeting(hours=[23]), None),
        (datetime(2026, 5, 5, 3, tzinfo=UTC), "America/New_York", Targeting(days=[0]), None),
        (
            datetime(2026, 5, 5, 3, tzinfo=UTC),
            "America/New_York",
            Targeting(hours=list(range(9, 18))),
            "hour 23 not in [9..17]",
        ),
        (
            datetime(2026, 5, 5, 3, tzinfo=UTC),
            "America/New_York",
            Targeting(days=[1, 2, 3, 4, 6]),
            "day Mon not in [Tue..Fri, Sun]",
        ),
        (datetime(2026, 5, 5, 3, tzinfo=UTC), "UTC", Targeting(days=[1], hours=[3]), None),
        # ... and 22:00 in winter (UTC-5)
        (datetime(2026, 1, 6, 3, tzinfo=UTC), "America/New_York", Targeting(hours=[22]), None),
        (
            datetime(2026, 1, 6, 3, tzinfo=UTC),
            "America/New_York",
            Targeting(days=[0], hours=[23]),
            "hour 22 not in [23]",
        ),
        # east of UTC the day starts earlier: 23:30 UTC Sunday is Monday 08:30 in Tokyo
        (datetime(2026, 5, 3, 23, 30, tzinfo=UTC), "Asia/Tokyo", Targeting(days=[0]), None),
        (datetime(2026, 5, 3, 23, 30), "Asia/Tokyo", Targeting(hours=[8]), None),  # naive: UTC
        (NOON, "Mars/Olympus_Mons", Targeting(hours=[12]), "unknown time zone: Mars/Olympus_Mons"),
        (NOON, "Mars/Olympus_Mons", Targeting(), None),  # no day-parting, no time zone needed
    ],
)
def test_day_parting_in_the_flights_time_zone(
    now: datetime, timezone: str, targeting: Targeting, reason: str | None
) -> None:
    assert check(targeting, timezone, ctx(now=now)) == reason


def test_each_request_is_judged_on_its_own_variables() -> None:
    targeting = Targeting(expression="interest.eco > 0.3")
    keen, indifferent = ctx(), ctx(features={"interest.eco": 0.1})
    assert check(targeting, "UTC", keen) is None
    assert check(targeting, "UTC", indifferent) == "expression false: interest.eco > 0.3"
    assert check(targeting, "UTC", keen) is None


def test_context_values_win_over_key_values_and_features() -> None:
    request = ctx(properties={"country": "XX"}, features={"device": "tv"})
    targeting = Targeting(expression='country == "ES" and device == "mobile"')
    assert check(targeting, "UTC", request) is None


def test_numbers_round_trip_exactly() -> None:
    for value in (0.1, 1e-05, 1e16, -0.0, 5e-324, 1.7976931348623157e308, 10**18):
        again = parse(str(Expression(Constant(value)))).node
        assert isinstance(again, Constant)
        assert again.value == value
        assert math.copysign(1, again.value) == math.copysign(1, value)
