"""The body of `POST /v1/decisions` as decoded: msgspec structs, checked as they are read (a 422
names the field that is wrong)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct, field

from kairos.domain.codec import field_error
from kairos.domain.events import Consent
from kairos.errors import KairosError

Scalar = str | int | float | bool | None


class PlacementIn(Struct, forbid_unknown_fields=True, gc=False):
    placement: Annotated[str, Meta(min_length=1, max_length=128)]  # id or div name
    ad_types: Annotated[list[str], Meta(max_length=10)] = field(default_factory=list)
    zone_id: str | None = None
    count: Annotated[int, Meta(ge=1, le=10)] = 1
    properties: Annotated[dict[str, Scalar], Meta(max_length=50)] = field(default_factory=dict)
    floor_cpm: Annotated[float, Meta(ge=0)] | None = None


class DecisionIn(Struct, forbid_unknown_fields=True, gc=False):
    placements: Annotated[list[PlacementIn], Meta(min_length=1, max_length=20)]
    user_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    page_url: Annotated[str, Meta(max_length=2048)] | None = None
    referrer: Annotated[str, Meta(max_length=2048)] | None = None
    keywords: Annotated[list[str], Meta(max_length=50)] = field(default_factory=list)
    ip: Annotated[str, Meta(max_length=45)] | None = None  # default: the caller's address
    user_agent: Annotated[str, Meta(max_length=1024)] | None = None
    consent: Consent = field(default_factory=Consent)
    properties: Annotated[dict[str, Scalar], Meta(max_length=50)] = field(default_factory=dict)


BODY_SCHEMAS = {"DecisionRequest": DecisionIn}
_DECODER = msgspec.json.Decoder(DecisionIn)


class InvalidDecisionRequest(KairosError):
    status = 422


def decode(body: bytes) -> DecisionIn:
    try:
        return _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = field_error(exc)
        raise InvalidDecisionRequest(str(exc), detail=[error.as_dict()]) from exc
