"""HTML rendering of a dynamic creative: the template's body in Jinja2's sandbox, auto-escaped.

What the body sees: each slot by name (text, URLs, colours, prices, images as checked by
`values`), product slots as lists of products (`id`, `title`, `price`, `category`,
`image_url`, `attributes`, and `click_url`: the signed click URL that lands on the product),
`click_url` (the signed click URL of the ad), `currency`, and the `money` filter
(`{{ product.price | money(currency) }}`). Every value is escaped where it is written, so feed
data cannot inject markup; the sandbox keeps the body away from Python internals; an unknown
name is an error, and output beyond `MAX_HTML` is refused rather than cut.

`render_memo` is the decision path's: a combination's HTML differs between decisions only by
the signed URLs, so it is rendered once with placeholders in their place and the URLs are put
in per decision (escaped where the body escaped them). A body that does anything to a URL but
write it out (slice it, change its case) is noticed — by rendering its first combinations once
more with a second, different set of placeholders — and then always rendered in full.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import jinja2
import markupsafe
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kairos.creative.assembly import Combination
from kairos.creative.links import Links, product_fields
from kairos.creative.model import SlotKind, Template

MAX_HTML = 64 * 1024  # characters


class RenderError(ValueError):
    """The creative cannot be rendered; the message says why (and where, for syntax)."""


def _money(amount: Any, currency: str = "") -> str:
    try:
        text = f"{float(amount):,.2f}"
    except (TypeError, ValueError):
        return ""
    return f"{text} {currency}".strip()


_ENV = ImmutableSandboxedEnvironment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_ENV.filters["money"] = _money


def render(template: Template, combination: Combination, links: Links) -> str:
    if template.html is None:
        raise RenderError(f"template {template.id} has no HTML body")
    body = compiled(template.html)
    try:
        html = body.render(context(template, combination, links))
    except jinja2.TemplateError as exc:  # unknown names, sandbox refusals
        raise RenderError(f"template {template.id}: {exc}") from exc
    if len(html) > MAX_HTML:
        raise RenderError(f"template {template.id}: {len(html)} characters, over {MAX_HTML}")
    return html


def context(template: Template, combination: Combination, links: Links) -> dict[str, Any]:
    """The names a template body (and the native renderer) sees."""
    names: dict[str, Any] = {"click_url": links.click, "currency": template.currency}
    for slot in template.slots:
        value = combination.values.get(slot.name, slot.default)
        if slot.kind is SlotKind.PRODUCTS:
            names[slot.name] = [product_fields(p, links) for p in value or ()]
        else:
            names[slot.name] = value
    return names


@lru_cache(maxsize=1024)  # bodies are few and change rarely: compile each once
def compiled(body: str) -> jinja2.Template:
    try:
        return _ENV.from_string(body)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"line {exc.lineno}: {exc.message}") from exc


MEMO_SIZE = 4096
CHECKS = 8  # combinations of a template checked with a second placeholder set
# template, its page as a format of the URLs (None: rendered in full), the products in URL
# order, and whether the page writes any URL escaped
_Found = tuple[Template, str | None, list[Any], bool]
_memo: OrderedDict[tuple[int, tuple[tuple[str, str], ...]], _Found] = OrderedDict()
_checked: dict[int, tuple[Template, int]] = {}  # template -> checks passed (-1: one failed)


def render_memo(template: Template, combination: Combination, links: Links) -> str:
    """`render`, remembered per template and combination with the URLs put in afterwards."""
    key = (id(template), combination.identity)
    found = _memo.get(key)
    if found is None or found[0] is not template:  # a new catalog's template: a new object
        found = _remember(key, template, combination)
    page = found[1]
    if page is None:  # this combination's page does more with a URL than write it
        return render(template, combination, links)
    urls = _urls(links, found[2])
    if found[3]:
        return page.format(*urls, *[escaped_url(url) for url in urls])
    return page.format(*urls)


def writes_urls_whole(template: Template, combination: Combination) -> bool:
    """Whether `render_memo` (once called for them) fills this combination's page, rendered
    once, with the URLs as they are, so that pages differ between decisions by URLs alone."""
    found = _memo.get((id(template), combination.identity))
    return found is not None and found[0] is template and found[1] is not None


def _remember(key: tuple[int, Any], template: Template, combination: Combination) -> _Found:
    checked = _checked.get(id(template))
    passed = checked[1] if checked is not None and checked[0] is template else 0
    products = _products(combination)
    if passed < 0:  # the body was seen to do more with a URL than write it
        return (template, None, products, False)
    found: _Found = (template, None, products, False)
    if passed >= CHECKS:  # trusted: its first combinations all wrote URLs out whole
        rendered = render(template, combination, _placeholders(combination, "z"))
        page, escapes = _as_format(rendered, _forms("z", len(products)))
        found = (template, page, products, escapes)
    else:
        opaque = _opaque_rendering(template, combination)
        if len(_checked) >= MEMO_SIZE:
            _checked.clear()
        _checked[id(template)] = (template, passed + 1 if opaque is not None else -1)
        if opaque is not None:
            page, escapes = _as_format(opaque, _forms("x", len(products)))
            found = (template, page, products, escapes)
    _memo[key] = found
    if len(_memo) > MEMO_SIZE:
        _memo.popitem(last=False)
    return found


def escaped_url(url: str) -> str:
    """`markupsafe.escape(url)`, quicker: a URL seldom holds more than `&` to escape."""
    if "<" in url or ">" in url or '"' in url or "'" in url:
        return str(markupsafe.escape(url))
    return url.replace("&", "&amp;")


@lru_cache(maxsize=64)
def _forms(mark: str, products: int) -> tuple[dict[str, tuple[int, bool]], re.Pattern[str]]:
    """Each placeholder of a page with this many products, as written (escaped or not), and
    a pattern that finds them (longest first: a shorter one may end a longer one)."""
    forms: dict[str, tuple[int, bool]] = {}
    for n in range(products + 1):
        token = _token(mark, n)
        forms[str(markupsafe.escape(token))] = (n, True)
        forms[token] = (n, False)
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
    return forms, pattern


def _as_format(
    rendered: str, found: tuple[dict[str, tuple[int, bool]], re.Pattern[str]]
) -> tuple[str, bool]:
    """The page as a `str.format` of its URLs, then of the same escaped (numbered after
    them), and whether it writes any escaped."""
    forms, pattern = found
    urls = max(n for n, _ in forms.values()) + 1
    escapes = False

    def field(match: re.Match[str]) -> str:
        nonlocal escapes
        n, escaped = forms[match.group()]
        escapes |= escaped
        return f"{{{n + urls if escaped else n}}}"

    braced = rendered.replace("{", "{{").replace("}", "}}")  # placeholders hold no braces
    return pattern.sub(field, braced), escapes


def _urls(links: Links, products: list[Any]) -> list[str]:
    """The ad's click URL, then each product's (`_products` order: the placeholders')."""
    return [links.click, *(links.for_product(p) for p in products)]


# Placeholders of the checking sets (x, y) share no character and differ in length, mix case,
# and are longer than any URL (2,048 characters at most), so that any transformation of a URL
# (a slice, its length, a change of case, …) shows up as a difference between the two
# renderings; '<' and '>' show whether the body escaped it. A trusted body's combinations are
# rendered with short ones (z): a random word of this process's, which feed data cannot write.
_SETS = {"x": ("xX", "<", 1050), "y": ("yY", ">", 1051)}
_WORD = f"kairos{secrets.token_hex(8)}url"


def _token(mark: str, n: int) -> str:
    if mark == "z":
        return f"{_WORD}{n}<"
    pair, end, extra = _SETS[mark]
    return pair * (n + extra) + end


def _tokens(combination: Combination, links: Links, mark: str) -> list[tuple[str, str]]:
    """(placeholder, real URL) of the ad's click and of each product's click (as `_urls`),
    longest placeholder first (a shorter one ends a longer one)."""
    urls = _urls(links, _products(combination))
    pairs = [(_token(mark, n), url) for n, url in enumerate(urls)]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def _placeholders(combination: Combination, mark: str) -> Links:
    numbered = {p.id: n for n, p in enumerate(_products(combination), start=1)}
    return Links(
        click=_token(mark, 0),
        product_click=lambda product: _token(mark, numbered[product.id]),
    )


def _products(combination: Combination) -> list[Any]:
    found: dict[str, Any] = {}
    for value in combination.values.values():
        if isinstance(value, list | tuple):
            for item in value:
                if hasattr(item, "landing_url"):
                    found.setdefault(item.id, item)
    return list(found.values())


def _opaque_rendering(template: Template, combination: Combination) -> str | None:
    """The page with placeholders when the body writes URLs out whole (escaped or not): two
    different placeholder sets give the same page up to the placeholders; else None."""
    first = render(template, combination, _placeholders(combination, "x"))
    second = render(template, combination, _placeholders(combination, "y"))
    swapped = first
    for (x, _), (y, _) in zip(
        _tokens(combination, _placeholders(combination, "x"), "x"),
        _tokens(combination, _placeholders(combination, "y"), "y"),
        strict=True,
    ):
        swapped = swapped.replace(str(markupsafe.escape(x)), str(markupsafe.escape(y)))
        swapped = swapped.replace(x, y)
    return first if swapped == second else None
