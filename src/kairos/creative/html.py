"""HTML rendering of a dynamic creative: the template's body in Jinja2's sandbox, auto-escaped.

What the body sees: each slot by name (text, URLs, colours, prices, images as checked by
`values`), product slots as lists of products (`id`, `title`, `price`, `category`,
`image_url`, `attributes`, and `click_url`: the signed click URL that lands on the product),
`click_url` (the signed click URL of the ad), `currency`, and the `money` filter
(`{{ product.price | money(currency) }}`). Every value is escaped where it is written, so feed
data cannot inject markup; the sandbox keeps the body away from Python internals; an unknown
name is an error, and output beyond `MAX_HTML` is refused rather than cut.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
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
