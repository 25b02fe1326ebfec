"""Native rendering: the template's native fields as JSON for an app (or page) that draws the
ad itself; clicks still go through the signed click URLs."""

from __future__ import annotations

from typing import Any

from kairos.creative.assembly import Combination
from kairos.creative.links import Links, product_fields
from kairos.creative.model import SlotKind, Template


def render(template: Template, combination: Combination, links: Links) -> dict[str, Any]:
    slots = {slot.name: slot for slot in template.slots}
    fields: dict[str, Any] = {}
    for field_name, slot_name in template.native.items():
        slot = slots[slot_name]
        value = combination.values.get(slot_name, slot.default)
        match slot.kind:
            case SlotKind.IMAGE:
                fields[field_name] = {"url": value, "width": slot.width, "height": slot.height}
            case SlotKind.PRICE:
                fields[field_name] = {"amount": value, "currency": template.currency}
            case SlotKind.PRODUCTS:
                fields[field_name] = [product_fields(p, links) for p in value or ()]
            case _:
                fields[field_name] = value
    return {"fields": fields, "click_url": links.click}
