"""Interaction events: one typed, versioned struct per event type, tagged by `type`.

msgspec structs: validation and JSON happen in C, which keeps ingestion within reach of a raw
producer. One struct family serves both sides of ingress. Clients send a first-party
`user_id`; the API swaps it for the pseudonymous `user_key` (`kairos.domain.identity`) before
anything is produced, and the wire codec refuses an event that still carries the raw id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta, Struct, field

SCHEMA_VERSION = 1

ShortText = Annotated[str, Meta(min_length=1, max_length=256)]
Url = Annotated[str, Meta(max_length=2048)]
# Opaque ids: bounded, not pattern-checked (msgspec runs patterns in Python `re`; at ingestion
# rates that alone would cost more than producing the event).
Identifier = Annotated[str, Meta(min_length=1, max_length=128)]
UserKey = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$")]
NonNegative = Annotated[float, Meta(ge=0)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
PropertyValue = str | int | float | bool | None


class EventType(StrEnum):
    PAGE_VIEW = "page_view"
    SEARCH = "search"
    CLICK = "click"
    IMPRESSION = "impression"
    CONVERSION = "conversion"
    ADD_TO_CART = "add_to_cart"
    CUSTOM = "custom"


def _new_event_id() -> str:
    return uuid.uuid4().hex


class Consent(Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """What the visitor agreed to. Without personalization consent only contextual ads are shown."""

    personalization: bool = False
    measurement: bool = True
    tcf: Annotated[str, Meta(max_length=4096)] | None = None  # IAB TCF consent string


NO_CONSENT = Consent()


class BaseEvent(
    Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    forbid_unknown_fields=True,
    omit_defaults=True,
    gc=False,  # plain data, never in a cycle: untracked structs spare the cyclic GC
):
    """Fields every interaction carries.

    `event_id` is the idempotency key: an (event_id, type) pair counts once, so clients should
    set it (the API makes one up otherwise). `ts` is the client's clock, `received_at` the API's.
    """

    schema_version: Annotated[int, Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    event_id: Identifier = field(default_factory=_new_event_id)
    ts: datetime | None = None
    received_at: datetime | None = None
    user_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    user_key: UserKey | None = None
    session_id: Identifier | None = None
    page_url: Url | None = None
    referrer: Url | None = None
    user_agent: Annotated[str, Meta(max_length=1024)] | None = None
    ip: Annotated[str, Meta(max_length=45)] | None = None  # truncated at ingress
    language: Annotated[str, Meta(max_length=35)] | None = None
    timezone: Annotated[str, Meta(max_length=64)] | None = None  # IANA name, checked downstream
    consent: Consent = NO_CONSENT
    properties: Annotated[dict[Identifier, PropertyValue], Meta(max_length=50)] = field(
        default_factory=dict
    )

    @property
    def event_type(self) -> EventType:
        return EVENT_TYPES[type(self)]


class PageView(BaseEvent, tag="page_view", frozen=True, kw_only=True):
    title: Annotated[str, Meta(max_length=512)] | None = None
    # products shown as the page's subject (a product detail page), for "recently viewed"
    product_ids: Annotated[list[Identifier], Meta(max_length=100)] = field(default_factory=list)
    categories: Annotated[list[ShortText], Meta(max_length=20)] = field(default_factory=list)
    keywords: Annotated[list[ShortText], Meta(max_length=50)] = field(default_factory=list)


class Search(BaseEvent, tag="search", frozen=True, kw_only=True):
    query: Annotated[str, Meta(min_length=1, max_length=512)]
    results_count: Annotated[int, Meta(ge=0)] | None = None


class AddToCart(BaseEvent, tag="add_to_cart", frozen=True, kw_only=True):
    product_ids: Annotated[list[Identifier], Meta(min_length=1, max_length=100)]
    price: NonNegative | None = None  # unit price
    quantity: Annotated[int, Meta(ge=1, le=100_000)] = 1
    currency: Currency | None = None


class Conversion(BaseEvent, tag="conversion", frozen=True, kw_only=True):
    value: NonNegative  # order value in `currency`
    # the decision whose ad led here, when the landing page passed it on; otherwise the
    # stream attributes the conversion to the visitor's last click (or impression) in window
    decision_id: Identifier | None = None
    currency: Currency | None = None
    order_id: Identifier | None = None
    product_ids: Annotated[list[Identifier], Meta(max_length=100)] = field(default_factory=list)
    quantity: Annotated[int, Meta(ge=1, le=100_000)] = 1


class _AdEvent(BaseEvent, frozen=True, kw_only=True):
    decision_id: Identifier
    advertiser_id: Identifier | None = None
    campaign_id: Identifier | None = None
    flight_id: Identifier | None = None
    ad_id: Identifier | None = None
    creative_id: Identifier | None = None
    placement_id: Identifier | None = None
    # slot -> element variant shown, so performance is known per element
    elements: Annotated[dict[Identifier, Identifier], Meta(max_length=50)] = field(
        default_factory=dict
    )
    cost: NonNegative | None = None  # what the advertiser pays for this event (spend)


class Impression(_AdEvent, tag="impression", frozen=True, kw_only=True):
    viewable: bool = False


class Click(_AdEvent, tag="click", frozen=True, kw_only=True):
    pass


class Custom(BaseEvent, tag="custom", frozen=True, kw_only=True):
    name: Identifier


Event = PageView | Search | AddToCart | Conversion | Impression | Click | Custom

EVENT_TYPES: dict[type[BaseEvent], EventType] = {
    PageView: EventType.PAGE_VIEW,
    Search: EventType.SEARCH,
    AddToCart: EventType.ADD_TO_CART,
    Conversion: EventType.CONVERSION,
    Impression: EventType.IMPRESSION,
    Click: EventType.CLICK,
    Custom: EventType.CUSTOM,
}
EVENT_CLASSES: dict[EventType, type[BaseEvent]] = {v: k for k, v in EVENT_TYPES.items()}


class EventBatch(Struct, forbid_unknown_fields=True, gc=False):
    """Request body of `POST /v1/events/batch`."""

    events: Annotated[list[Event], Meta(min_length=1)]


def replace(event: BaseEvent, **changes: object) -> BaseEvent:
    """A copy with some fields changed (structs are frozen)."""
    return msgspec.structs.replace(event, **changes)
