"""Checking what goes into a slot: every value a template renders passes through here first,
whether an advertiser's variant, a slot's default or a product from a feed.

Text is bounded, URLs are absolute http(s) without control characters (no `javascript:`),
colours are `#rrggbb`, prices are non-negative numbers. A value that fails says why.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from kairos.creative.model import Slot, SlotKind, Template

MAX_TEXT = 1000  # characters of a text slot without its own limit
MAX_URL = 2048
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidValue(ValueError):
    """A value that may not fill a slot; the message says which and why."""


def check(slot: Slot, value: Any) -> Any:
    """The value as the slot holds it (normalised), or InvalidValue."""
    match slot.kind:
        case SlotKind.TEXT:
            return _text(slot, value)
        case SlotKind.IMAGE | SlotKind.URL:
            return url(value, what=f"slot {slot.name!r}")
        case SlotKind.COLOR:
            if not isinstance(value, str) or not _COLOR.match(value):
                raise InvalidValue(
                    f"slot {slot.name!r}: a colour is #rgb or #rrggbb, not {value!r}"
                )
            return _long_color(value.lower())
        case SlotKind.PRICE:
            return price(value, what=f"slot {slot.name!r}")
        case SlotKind.PRODUCTS:
            raise InvalidValue(f"slot {slot.name!r} takes products from a feed, not a value")


def url(value: Any, *, what: str = "URL") -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValue(f"{what}: a URL is a non-empty string")
    if len(value) > MAX_URL:
        raise InvalidValue(f"{what}: a URL is at most {MAX_URL} characters")
    if _CONTROL.search(value) or " " in value:
        raise InvalidValue(f"{what}: a URL has no spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidValue(f"{what}: only absolute http(s) URLs, not {value[:60]!r}")
    return value


def price(value: Any, *, what: str = "price") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValue(f"{what}: a price is a number")
    try:
        amount = float(value)
    except ValueError:
        raise InvalidValue(f"{what}: a price is a number, not {value!r}") from None
    if not math.isfinite(amount) or amount < 0:
        raise InvalidValue(f"{what}: a price is a finite amount of at least 0")
    return round(amount, 2)


def check_template(template: Template) -> None:
    """Slots well formed with valid defaults, references to slots that exist."""
    names = [s.name for s in template.slots]
    if len(set(names)) != len(names):
        raise InvalidValue("slot names must be unique")
    if not template.slots:
        raise InvalidValue("a template has at least one slot")
    for slot in template.slots:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", slot.name):
            raise InvalidValue(f"slot name {slot.name!r}: lower case letters, digits and _")
        if slot.kind is SlotKind.PRODUCTS:
            if template.feed_id is None:
                raise InvalidValue(f"slot {slot.name!r} needs the template's feed_id")
            if not 1 <= slot.count <= 20:
                raise InvalidValue(f"slot {slot.name!r}: 1 to 20 products")
        elif slot.default is None:
            raise InvalidValue(f"slot {slot.name!r} needs a default")
        else:
            check(slot, slot.default)
    by_name = {s.name: s for s in template.slots}
    for field_name, slot_name in template.native.items():
        if slot_name not in by_name:
            raise InvalidValue(f"native field {field_name!r} names no slot ({slot_name!r})")
    if template.video is not None:
        media = by_name.get(template.video.media_url_slot)
        if media is None or media.kind is not SlotKind.URL:
            raise InvalidValue("video.media_url_slot must name a url slot")
        if not 0 < template.video.duration_s <= 3600:
            raise InvalidValue("video.duration_s is between 0 and 3600 seconds")
    if template.html is None and not template.native and template.video is None:
        raise InvalidValue("a template renders as html, native fields or video (VAST)")
    if not 1 <= template.max_combinations <= 10_000:
        raise InvalidValue("max_combinations is between 1 and 10000")


def _text(slot: Slot, value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidValue(f"slot {slot.name!r}: text, not {type(value).__name__}")
    text = _CONTROL.sub(" ", str(value)).strip()
    limit = slot.max_length or MAX_TEXT
    if len(text) > limit:
        raise InvalidValue(f"slot {slot.name!r}: at most {limit} characters, got {len(text)}")
    return text


def _long_color(value: str) -> str:
    return value if len(value) == 7 else "#" + "".join(c * 2 for c in value[1:])
