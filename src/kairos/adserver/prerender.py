"""An ad's part of a decision's answer, written once per candidate and combination as JSON with
marks where each decision's own values go, and filled in per decision.

Between two decisions of the same ad (and combination), the answer differs only by the signed
tail of its tracking URLs (written as it is, and escaped where HTML escapes it), the decision
id, the eCPM and the propensity; writing the rest again (ids, contents, a dynamic creative's
HTML, native fields and VAST, URLs, JSON) took a third of a decision. A page is written at an
ad's second decision (one seen once costs what it did). It is kept only when two writings with
different marks (of different lengths and letters) agree but for the marks (a template's
first pages are all checked so, then, once they agreed, its others are written once, as
`html.render_memo` trusts a body), and when its dynamic HTML, if any, is one that
`html.render_memo` fills with URLs as they are: contents that do anything else with a URL are
written in full each time.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import orjson

from kairos.creative import html

if TYPE_CHECKING:
    from kairos.adserver.decision import Choice
    from kairos.adserver.render import Links

SIZE = 16_384  # pages kept (per candidate and combination); the next new one forgets them all
CHECKS = 8  # pages of a template (or of plain creatives) checked by a second writing

# `render._body`: an ad's answer for a choice whose URLs end with a tail, with the decision's
# id, eCPM and propensity as given
Body = Callable[["Choice", "Links", str, str, Any, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Page:
    """An ad's answer as the text between a decision's values, and which value goes in each
    gap: 0 its tail, 1 its tail escaped as HTML, 2 its id, 3 its eCPM, 4 its propensity (the
    two as JSON numbers)."""

    pieces: tuple[str, ...]  # one more than the gaps
    slots: bytes
    escapes: bool  # whether it writes the tail escaped

    def filled(self, tail: str, decision_id: str, ecpm: float, propensity: float) -> str:
        escaped = tail.replace("&", "&amp;") if self.escapes else ""
        values = (tail, escaped, decision_id, _number(ecpm), _number(propensity))
        pieces = self.pieces
        out = [pieces[0]]  # (a loop: quicker than `str.format` over the braces of JSON)
        for slot, piece in zip(self.slots, pieces[1:], strict=True):
            out.append(values[slot])
            out.append(piece)
        return "".join(out)


@dataclass(frozen=True)
class _Marks:
    """What stands for a decision's values in a writing: the tail holds an `&` so that its
    escaped form can be told from it; eCPM and propensity are JSON strings (quotes and all)
    where a number goes."""

    word: str

    @property
    def tail(self) -> str:
        return f"{self.word}&{self.word}"

    @cached_property
    def forms(self) -> dict[str, int]:
        """Each mark as written, to the number of its value (`Page.slots`)."""
        tail = self.tail
        return {
            tail: 0,
            tail.replace("&", "&amp;"): 1,
            f"d{self.word}d": 2,
            orjson.dumps(f"e{self.word}e").decode(): 3,
            orjson.dumps(f"p{self.word}p").decode(): 4,
        }


# random words of this process's, which no feed or advertiser can write; of different lengths
# and cases, so that a slice, a length or a change of case of a URL shows as a difference
_SETS = (_Marks(f"k{secrets.token_hex(6)}q"), _Marks(f"K{secrets.token_hex(10)}Q"))
_PATTERNS = tuple(  # a group: `split` keeps the marks
    re.compile("(" + "|".join(re.escape(f) for f in sorted(m.forms, key=len, reverse=True)) + ")")
    for m in _SETS
)
# (links, candidate, combination's elements) -> (links, candidate, template, page, None when
# written in full, or `_FIRST` when seen once)
_pages: dict[tuple[int, int, Any], tuple[Any, Any, Any, Page | str | None]] = {}
_FIRST = "seen once"
# (body, template or None for plain creatives) -> its pages checked by a second writing, and
# whether all agreed: -1 when one did not
_checked: dict[tuple[int, int], tuple[Body, Any, int]] = {}


def page(choice: Choice, links: Links, body: Body) -> Page | None:
    """The choice's page, or None when its contents must be written in full: at the first
    decision of its ad and combination (a page is written at the second, so that ads and
    combinations seen once, more than `SIZE` can hold, cost no more than before), and
    whenever they do more with a URL than write it out."""
    c, combination = choice.candidate, choice.combination
    key = (id(links), id(c), combination.identity if combination is not None else None)
    found = _pages.get(key)
    template = choice.template
    if found is None or found[0] is not links or found[1] is not c or found[2] is not template:
        _keep(key, (links, c, template, _FIRST))
        return None
    made = found[3]
    if made is _FIRST:
        made = _made(choice, links, body)
        _keep(key, (links, c, template, made))
    return cast(Page | None, made)


def forget() -> None:
    """Forget every page and check (a replaced catalog's candidates and templates with them)."""
    _pages.clear()
    _checked.clear()


def _keep(key: tuple[int, int, Any], found: tuple[Any, Any, Any, Page | str | None]) -> None:
    if len(_pages) >= SIZE and key not in _pages:
        _pages.clear()
    _pages[key] = found


def _made(choice: Choice, links: Links, body: Body) -> Page | None:
    """The page, written twice with different marks until `CHECKS` pages of its template (or
    of plain creatives) agreed, then once; None when the two writings differ (and its
    template is then always written twice) or its HTML does more with a URL."""
    template, combination = choice.template, choice.combination
    trust = (id(body), id(template))
    held = _checked.get(trust)
    passed = held[2] if held is not None and held[0] is body and held[1] is template else 0
    first = _written(choice, links, body, 0)
    if passed < CHECKS:  # (-1 too: always checked)
        agreed = first == _written(choice, links, body, 1)
        if len(_checked) >= SIZE:
            _checked.clear()
        _checked[trust] = (body, template, passed + 1 if agreed and passed >= 0 else -1)
        if not agreed:  # the contents do more with a value than write it out
            return None
    if (
        template is not None
        and combination is not None
        and template.html is not None
        and not html.writes_urls_whole(template, combination)
    ):
        return None
    return first


def _written(choice: Choice, links: Links, body: Body, n: int) -> Page:
    marks, pattern = _SETS[n], _PATTERNS[n]
    forms = marks.forms
    written = orjson.dumps(
        body(choice, links, marks.tail, f"d{marks.word}d", f"e{marks.word}e", f"p{marks.word}p")
    ).decode()
    parts = pattern.split(written)  # text, a mark, text, …, text
    slots = bytes([forms[mark] for mark in parts[1::2]])
    return Page(tuple(parts[0::2]), slots, 1 in slots)


def _number(value: float) -> str:
    """A number as JSON writes it (NaN and infinities as null, as orjson does)."""
    number = float(value)
    return repr(number) if math.isfinite(number) else "null"
