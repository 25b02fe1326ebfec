"""Bodies of the dynamic-creative management API (templates, element variants, feeds): pydantic
mirrors of `kairos.creative.model`, checked as a whole so that a template that cannot render is
a 422 that says why, before any ad can use it."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kairos.adserver.model import Status
from kairos.adserver.targeting.expression import MAX_LENGTH
from kairos.api.management_models import Body, Id, Matching, Name, Stamped, parsed_expression
from kairos.creative import html as html_renderer
from kairos.creative import model
from kairos.creative.assembly import Combination
from kairos.creative.links import Links
from kairos.creative.model import SlotKind
from kairos.creative.values import InvalidValue, check_template

SlotName = Annotated[str, Matching(r"[a-z][a-z0-9_]{0,39}", "a slot name: a-z, 0-9, _")]
Currency = Annotated[str, Matching(r"[A-Z]{3}", "an ISO 4217 code, e.g. EUR")]
Rule = Annotated[
    str | None,
    Field(
        default=None,
        max_length=MAX_LENGTH,
        description="An expression in the targeting language, e.g. interest.eco > 0.3",
    ),
]


class Slot(Body):
    name: SlotName
    kind: SlotKind
    default: Any = Field(default=None, description="Required for every kind but products")
    max_length: int | None = Field(default=None, ge=1, le=10_000)
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    count: int = Field(default=1, ge=1, le=20, description="Products shown (products slots)")


class Video(Body):
    duration_s: float = Field(gt=0, le=3600)
    media_url_slot: SlotName
    mime_type: str = Field(default="video/mp4", max_length=64)
    width: int = Field(default=1280, ge=1)
    height: int = Field(default=720, ge=1)
    bitrate_kbps: int | None = Field(default=None, ge=1)
    skip_after_s: float | None = Field(default=None, gt=0)


class TemplateCreate(Body):
    id: Id | None = None
    advertiser_id: Id
    name: Name
    slots: list[Slot] = Field(min_length=1, max_length=30)
    html: str | None = Field(default=None, max_length=200_000, description="Jinja2, sandboxed")
    native: dict[SlotName, SlotName] = Field(
        default_factory=dict, description="Native field name -> slot name"
    )
    video: Video | None = None
    currency: Currency = "EUR"
    feed_id: Id | None = None
    product_filter: Rule = None
    max_combinations: int = Field(default=200, ge=1, le=10_000)
    status: Status = Status.ACTIVE

    @field_validator("product_filter")
    @classmethod
    def _filter_parses(cls, value: str | None) -> str | None:
        return parsed_expression(value)

    @model_validator(mode="after")
    def _renders(self) -> TemplateCreate:
        """The template as a whole: slots and defaults valid, and the body renders with them."""
        values = self.model_dump() | {"id": self.id or "new"}
        template = msgspec.convert(values, model.Template)
        try:
            check_template(template)
            if template.html is not None:
                defaults = {s.name: s.default for s in template.slots}
                sample = (
                    [_SAMPLE] if any(s.kind is SlotKind.PRODUCTS for s in template.slots) else []
                )
                defaults |= {s.name: sample for s in template.slots if s.kind is SlotKind.PRODUCTS}
                html_renderer.render(template, Combination({}, defaults, 1.0, 0), _LINKS)
        except (InvalidValue, html_renderer.RenderError) as exc:
            raise PydanticCustomError("template", "{reason}", {"reason": str(exc)}) from exc
        return self


class Template(Stamped, TemplateCreate):
    id: Id


class VariantCreate(Body):
    id: Id | None = None
    advertiser_id: Id
    slot: SlotName
    value: Any = Field(description="Checked against the slot's kind in the advertiser's templates")
    weight: int = Field(default=100, ge=0, le=10_000, description="Share before the models learn")
    rule: Rule = None
    status: Status = Status.ACTIVE

    @field_validator("rule")
    @classmethod
    def _rule_parses(cls, value: str | None) -> str | None:
        return parsed_expression(value)


class Variant(Stamped, VariantCreate):
    id: Id


class FeedCreate(Body):
    id: Id | None = None
    advertiser_id: Id
    name: Name
    source: str | None = Field(
        default=None, max_length=2048, description="A file path, or an http(s) URL on loopback"
    )
    refresh_s: int | None = Field(default=None, ge=60, description="Re-import this often")

    @field_validator("source")
    @classmethod
    def _loopback(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(("http://", "https://")):
            host = (urlsplit(value).hostname or "").strip("[]")
            try:
                local = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = False
            if not local:
                raise PydanticCustomError("loopback", "feed URLs must be on loopback", {})
        return value


class Feed(Stamped, FeedCreate):
    id: Id


_LINKS = Links(click="https://kairos.invalid/v1/t/c", event="https://kairos.invalid/v1/t/e")
_SAMPLE = model.Product(
    id="sample",
    feed_id="sample",
    title="Sample product",
    price=9.99,
    landing_url="https://kairos.invalid/product",
    image_url="https://kairos.invalid/product.png",
    category="sample",
)
