"""Interaction events: one typed, versioned model per event type, discriminated by `type`.

One model family serves both sides of ingress. Clients send a first-party `user_id`; the API
swaps it for the pseudonymous `user_key` (see `kairos.domain.identity`) before anything is
produced, and the wire codec refuses an event that still carries the raw id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

SCHEMA_VERSION: Literal[1] = 1
INBOUND = "inbound"  # validation context: the event comes from a client
WIRE = "wire"  # validation context: the event comes from Kafka

ShortText = Annotated[str, Field(min_length=1, max_length=256)]
Url = Annotated[str, Field(max_length=2048)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
PropertyValue = str | int | float | bool | None


class EventType(StrEnum):
    PAGE_VIEW = "page_view"
    SEARCH = "search"
    CLICK = "click"
    IMPRESSION = "impression"
    CONVERSION = "conversion"
    ADD_TO_CART = "add_to_cart"
    CUSTOM = "custom"


class Consent(BaseModel):
    """What the visitor agreed to. Without personalization consent only contextual ads are shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    personalization: bool = False
    measurement: bool = True
    tcf: str | None = Field(default=None, max_length=4096, description="IAB TCF consent string")


class BaseEvent(BaseModel):
    """Fields every interaction carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Identifier = Field(
        default_factory=lambda: uuid.uuid4().hex,
        description="Idempotency key: an (event_id, type) pair counts once. Clients should set it.",
    )
    ts: datetime | None = Field(default=None, description="When it happened, client clock")
    received_at: datetime | None = Field(default=None, description="Set by the API at ingress")
    user_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="First-party id (inbound only)"
    )
    user_key: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{32}$", description="Pseudonymous id (set at ingress)"
    )
    session_id: Identifier | None = None
    page_url: Url | None = None
    referrer: Url | None = None
    user_agent: str | None = Field(default=None, max_length=1024)
    ip: str | None = Field(default=None, max_length=45, description="Truncated at ingress")
    language: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")
    consent: Consent = Field(default_factory=Consent)
    properties: dict[Identifier, PropertyValue] = Field(default_factory=dict, max_length=50)

    @field_validator("ts", "received_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _identity_matches_side(self, info: ValidationInfo) -> BaseEvent:
        side = (info.context or {}).get("side")
        if side == INBOUND:
            if self.user_id is None:
                raise ValueError("user_id is required")
            if self.user_key is not None or self.received_at is not None:
                raise ValueError("user_key and received_at are set by the server, not the client")
        elif side == WIRE and (self.user_key is None or self.user_id is not None):
            raise ValueError("a wire event carries user_key and never user_id")
        return self


class PageView(BaseEvent):
    type: Literal[EventType.PAGE_VIEW]
    title: str | None = Field(default=None, max_length=512)
    categories: list[ShortText] = Field(default_factory=list, max_length=20)
    keywords: list[ShortText] = Field(default_factory=list, max_length=50)


class Search(BaseEvent):
    type: Literal[EventType.SEARCH]
    query: str = Field(min_length=1, max_length=512)
    results_count: int | None = Field(default=None, ge=0)


class _Commerce(BaseEvent):
    product_ids: list[Identifier] = Field(max_length=100)
    price: float | None = Field(default=None, ge=0, description="Unit price")
    quantity: int = Field(default=1, ge=1, le=100_000)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class AddToCart(_Commerce):
    type: Literal[EventType.ADD_TO_CART]
    product_ids: list[Identifier] = Field(min_length=1, max_length=100)


class Conversion(_Commerce):
    type: Literal[EventType.CONVERSION]
    product_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    order_id: Identifier | None = None
    value: float = Field(ge=0, description="Order value in `currency`")


class _AdEvent(BaseEvent):
    decision_id: Identifier
    ad_id: Identifier | None = None
    creative_id: Identifier | None = None
    placement_id: Identifier | None = None
    elements: dict[Identifier, Identifier] = Field(
        default_factory=dict, max_length=50, description="Slot -> element variant shown"
    )


class Impression(_AdEvent):
    type: Literal[EventType.IMPRESSION]
    viewable: bool = False


class Click(_AdEvent):
    type: Literal[EventType.CLICK]


class Custom(BaseEvent):
    type: Literal[EventType.CUSTOM]
    name: Identifier


Event = Annotated[
    PageView | Search | AddToCart | Conversion | Impression | Click | Custom,
    Field(discriminator="type"),
]
EVENT_CLASSES: dict[EventType, type[BaseEvent]] = {
    EventType.PAGE_VIEW: PageView,
    EventType.SEARCH: Search,
    EventType.ADD_TO_CART: AddToCart,
    EventType.CONVERSION: Conversion,
    EventType.IMPRESSION: Impression,
    EventType.CLICK: Click,
    EventType.CUSTOM: Custom,
}


def event_type_of(event: BaseEvent) -> EventType:
    value: Any = getattr(event, "type")  # noqa: B009 - every concrete event has it
    return EventType(value)
