"""Native rendering: the template's native fields as JSON for an app (or page) that draws the
ad itself; clicks still go through the signed click URLs."""

from __future__ import annotations

from typing import Any

from kairos.creative.assembly import Combination
from kairos.creative.links import Links, product_fields
from kairos.creative.model import SlotKind, Template

# (an enum member read from its class costs a call of the enum type's `__getattr__` hook)
_IMAGE, _PRICE, _PRODUCTS = SlotKind.IMAGE, SlotKind.PRICE, SlotKind.PRODUCTS


def render(template: Template, combination: Combination, links: Links) -> dict[str, Any]:
    slots = {slot.name: slot for slot in template.slots}
    fields: dict[str, Any] = {}
    for field_name, slot_name in template.native.items():
        slot = slots[slot_name]
        value = combination.values.get(slot_name, slot.default)
        kind = slot.kind
        if kind is _IMAGE:
            fields[field_name] = {"url": value, "width": slot.width, "height": slot.height}
        elif kind is _PRICE:
            fields[field_name] = {"amount": value, "currency": template.currency}
        elif kind is _PRODUCTS:
            fields[field_name] = [product_fields(p, links) for p in value or ()]
        else:
            fields[field_name] = value
    return {"fields": fields, "click_url": links.click}
