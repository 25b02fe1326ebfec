"""Dynamic creatives as plain typed data: templates with typed slots, the element variants that
fill them, and the products of feeds.

A dynamic ad is an ad whose creative names a template. Per decision each slot gets a value:
one of the advertiser's variants for that slot (a headline, an image, a call to action, a
colour, an offer), or the slot's default; a product slot gets products from a feed. Which
variants and products may be used is said by rules in the targeting language, over the request,
the user's features and each product's attributes. No I/O here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from msgspec import Struct, field

from kairos.adserver.model import Status


class SlotKind(StrEnum):
    TEXT = "text"  # plain text, at most `max_length` characters
    IMAGE = "image"  # an http(s) image URL, shown at `width` x `height`
    URL = "url"  # an http(s) link
    COLOR = "color"  # "#rrggbb"
    PRICE = "price"  # a non-negative amount, shown with the template's currency
    PRODUCTS = "products"  # `count` products from the template's feed


class Slot(Struct, frozen=True, kw_only=True, gc=False):
    name: str  # what the template body calls it
    kind: SlotKind
    default: Any = None  # used when no variant fits (every slot but products has one)
    max_length: int | None = None  # text
    width: int | None = None  # image
    height: int | None = None
    count: int = 1  # products


class Video(Struct, frozen=True, kw_only=True, gc=False):
    """What a VAST linear creative needs beyond the slots."""

    duration_s: float
    media_url_slot: str  # a URL slot holding the video file
    mime_type: str = "video/mp4"
    width: int = 1280
    height: int = 720
    bitrate_kbps: int | None = None
    skip_after_s: float | None = None


class Template(Struct, frozen=True, kw_only=True, gc=False):
    """Slots and how to show them: an HTML body (sandboxed Jinja2, auto-escaped), native fields
    (field name -> slot name, for apps that render themselves), and/or a video (VAST)."""

    id: str
    advertiser_id: str
    name: str
    slots: list[Slot]
    html: str | None = None
    native: dict[str, str] = field(default_factory=dict)
    video: Video | None = None
    currency: str = "EUR"
    feed_id: str | None = None  # where product slots take products from
    product_filter: str | None = None  # an expression over product.* and the request
    max_combinations: int = 200  # candidate combinations handed to the scorer, at most
    status: Status = Status.ACTIVE


class Variant(Struct, frozen=True, kw_only=True, gc=False):
    """One value for one slot of an advertiser's templates, with its own id so performance
    can be reported per element and per combination."""

    id: str
    advertiser_id: str
    slot: str  # the slot name it fills
    value: Any
    weight: int = 100  # share in the weighted choice before the models learn
    rule: str | None = None  # shown only where this expression holds (None: anywhere)
    status: Status = Status.ACTIVE


class Product(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    feed_id: str
    title: str
    price: float
    landing_url: str
    image_url: str | None = None
    category: str | None = None
    available: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)  # e.g. eco: true, destination


class Feed(Struct, frozen=True, kw_only=True, gc=False):
    id: str
    advertiser_id: str
    name: str
    source: str | None = None  # a file path or a loopback URL, for scheduled refreshes
    refresh_s: int | None = None  # re-import every so many seconds (None: on request only)
