"""Bodies of the management API: pydantic mirrors of the structs in `kairos.adserver.model`,
with every rule a client should hear about as a 422 naming the field.

`XCreate` is the POST body (the id is optional: one is generated), `X` the response (plus
timestamps), `XPatch` (built by `patch_of`) a partial update whose result is validated again
as a whole by `XCreate`.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from kairos.adserver.model import (
    CapScope,
    CapUnit,
    GoalType,
    PacingMode,
    RateType,
    SelectionMode,
    Status,
)
from kairos.adserver.targeting.expression import MAX_LENGTH, ExpressionError, parse


@dataclass(frozen=True)
class Matching:
    """Annotation: the string must match `regex` (whole), else an error saying what it is not."""

    regex: str
    what: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        compiled = re.compile(self.regex)

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise ValueError(f"{value!r} is not {self.what}")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        found: dict[str, Any] = handler(schema)
        return found | {"pattern": f"^{self.regex}$", "description": self.what}


Id = Annotated[
    str, Matching(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", "an id: letters, digits, _ . : -")
]
Country = Annotated[str, Matching(r"[A-Z]{2}", "an ISO 3166-1 alpha-2 code in upper case, e.g. PT")]
Region = Annotated[str, Matching(r"[A-Z]{2}-[A-Z0-9]{1,3}", "an ISO 3166-2 code, e.g. PT-11")]
Size = Annotated[str, Matching(r"[1-9][0-9]{0,4}x[1-9][0-9]{0,4}", "a size such as 300x250")]
Domain = Annotated[
    str,
    Matching(
        r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*",
        "a lower-case host name, e.g. news.example.com",
    ),
]
DivName = Annotated[
    str, Matching(r"[A-Za-z0-9_.:-]{1,128}", "a div name: letters, digits, _ . : -")
]
_URL = r"https?://[^\s]{1,2040}"
Url = Annotated[str, Matching(_URL, "an absolute http(s) URL")]
UrlOrEmpty = Annotated[str, Matching(f"({_URL})?", "an absolute http(s) URL, or empty")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Keyword = Annotated[Word, StringConstraints(to_lower=True)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
AdType = Literal["display", "native", "video"]
Device = Literal["desktop", "mobile", "tablet"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FrequencyCap(Body):
    scope: CapScope
    impressions: int = Field(ge=1, description="At most this many impressions per user…")
    period: int = Field(default=1, ge=1, description="…per this many units")
    unit: CapUnit = CapUnit.DAY


class Targeting(Body):
    """Who and where a flight may be shown. Empty lists mean "any"."""

    countries: list[Country] = Field(default_factory=list)
    exclude_countries: list[Country] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    os: list[Word] = Field(default_factory=list)
    browsers: list[Word] = Field(default_factory=list)
    site_ids: list[Id] = Field(default_factory=list)
    zone_ids: list[Id] = Field(default_factory=list)
    keywords: list[Keyword] = Field(default_factory=list, description="At least one on the page")
    exclude_keywords: list[Keyword] = Field(default_factory=list)
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=list, description="0 = Monday … 6, in the flight's time zone"
    )
    hours: list[Annotated[int, Field(ge=0, le=23)]] = Field(
        default_factory=list, description="0 … 23, in the flight's time zone"
    )
    expression: str | None = Field(
        default=None,
        max_length=MAX_LENGTH,
        description='e.g. interest.eco > 0.3 and not segment in ["churned"]',
    )

    @field_validator("expression")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        return parsed_expression(value)


def parsed_expression(value: str | None) -> str | None:
    """The text, if it parses in the targeting language; else a 422 saying where it fails."""
    if value is not None:
        try:
            parse(value)
        except ExpressionError as exc:
            raise PydanticCustomError(
                "expression",
                "{reason} (at character {position})",
                {"reason": exc.reason, "position": exc.position},
            ) from exc
    return value


class Stamped(BaseModel):
    id: Id
    created_at: datetime
    updated_at: datetime


class AdvertiserCreate(Body):
    id: Id | None = None
    name: Name
    status: Status = Status.ACTIVE


class Advertiser(Stamped, AdvertiserCreate):
    id: Id


class CampaignCreate(Body):
    id: Id | None = None
    advertiser_id: Id
    name: Name
    status: Status = Status.ACTIVE
    caps: list[FrequencyCap] = Field(default_factory=list)
    exploration: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Exploration budget: the share of this campaign's dynamic-creative choices "
        "the learner may spend on combinations other than its current best (none: no limit)",
    )


class Campaign(Stamped, CampaignCreate):
    id: Id


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class FlightCreate(Body):
    id: Id | None = None
    campaign_id: Id
    name: Name
    timezone: str = Field(
        default="UTC", description="IANA time zone of days, hours and naive dates"
    )
    start: datetime = Field(description="Without an offset: in the flight's time zone")
    end: datetime | None = Field(default=None, description="Exclusive; null = open-ended")
    status: Status = Status.ACTIVE
    priority: int = Field(default=5, ge=1, description="1 is served first")
    rate_type: RateType = RateType.CPM
    price: Money = Field(default=0.0, description="Per rate unit (per mille for CPM)")
    goal_type: GoalType = GoalType.IMPRESSIONS
    goal_amount: int | None = Field(default=None, ge=1, description="Lifetime; null = unlimited")
    daily_budget: Money | None = None
    lifetime_budget: Money | None = None
    pacing: PacingMode = PacingMode.EVEN
    caps: list[FrequencyCap] = Field(default_factory=list)
    targeting: Targeting = Field(default_factory=Targeting)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _zones():
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. Europe/Lisbon")
        return value

    @field_validator("start", "end")
    @classmethod
    def _in_utc(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            zone = info.data.get("timezone")
            value = value.replace(tzinfo=zoneinfo.ZoneInfo(zone) if zone else UTC)
        value = value.astimezone(UTC)
        start = info.data.get("start")
        if info.field_name == "end" and start is not None and value <= start:
            raise ValueError(f"must be after start ({start.isoformat()})")
        return value


class Flight(Stamped, FlightCreate):
    id: Id


class CreativeCreate(Body):
    id: Id | None = None
    advertiser_id: Id
    name: Name
    ad_type: AdType = "display"
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    click_url: UrlOrEmpty = Field(default="", description="The landing page")
    html: str | None = Field(default=None, max_length=1_000_000)
    image_url: Url | None = None
    title: str | None = Field(default=None, max_length=512)
    body: str | None = Field(default=None, max_length=10_000)
    cta: str | None = Field(default=None, max_length=255)
    template_id: Id | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description="Structured native fields")


class Creative(Stamped, CreativeCreate):
    id: Id


class AdCreate(Body):
    id: Id | None = None
    flight_id: Id
    creative_id: Id = Field(description="A creative of the flight's advertiser")
    weight: int = Field(default=100, ge=1, description="Share in the static lottery")
    status: Status = Status.ACTIVE


class Ad(Stamped, AdCreate):
    id: Id


class SiteCreate(Body):
    id: Id | None = None
    name: Name
    domain: Domain
    status: Status = Status.ACTIVE


class Site(Stamped, SiteCreate):
    id: Id


class ZoneCreate(Body):
    id: Id | None = None
    site_id: Id
    name: Name


class Zone(Stamped, ZoneCreate):
    id: Id


def _display() -> list[AdType]:
    return ["display"]


class PlacementCreate(Body):
    id: Id | None = None
    zone_id: Id
    name: Name
    div_name: DivName | None = Field(
        default=None, description="The page's data-kairos-placement value; unique"
    )
    ad_types: list[AdType] = Field(default_factory=_display, min_length=1)
    sizes: list[Size] = Field(default_factory=list, description="Empty = any size")
    floor_cpm: Money = 0.0
    selection: SelectionMode = SelectionMode.LEARNED
    status: Status = Status.ACTIVE


class Placement(Stamped, PlacementCreate):
    id: Id


def patch_of(create: type[BaseModel], fixed: set[str]) -> type[BaseModel]:
    """The PATCH body of `create`: every field but `fixed` ones optional, none defaulted."""
    fields: dict[str, Any] = {
        name: (Optional[info.annotation], Field(default=None, description=info.description))  # noqa: UP045
        for name, info in create.model_fields.items()
        if name not in fixed
    }
    name = create.__name__.removesuffix("Create") + "Patch"
    model: type[BaseModel] = create_model(name, __base__=Body, __module__=__name__, **fields)
    return model


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """The body of a list response: a page of items and the cursor of the next page."""
    fields: dict[str, Any] = {
        "items": (list.__class_getitem__(item), ...),
        "next_cursor": (
            str | None,
            Field(default=None, description="Pass as ?cursor=; null on the last"),
        ),
    }
    model: type[BaseModel] = create_model(f"{item.__name__}Page", __module__=__name__, **fields)
    return model


class ErrorBody(BaseModel):
    """Every error but a 422 (whose `detail` lists the fields, as FastAPI renders it)."""

    error: str = Field(description="e.g. not_found, conflict, unauthorized, forbidden")
    message: str
    detail: Any = None
