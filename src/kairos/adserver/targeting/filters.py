"""A flight's targeting as tiny named predicates over the request, cheapest first; each one
answers None when the request passes, else a short reason for the explain mode."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kairos.adserver.context import RequestContext
from kairos.adserver.model import Targeting
from kairos.adserver.targeting.expression import Expression, ExpressionError, parse

Check = Callable[[Targeting, str, RequestContext], str | None]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def check(targeting: Targeting, timezone: str, ctx: RequestContext) -> str | None:
    """None when the request matches `targeting` (day-parting in the flight's `timezone`),
    else why the first failing check failed."""
    for predicate in CHECKS:
        if (reason := predicate(targeting, timezone, ctx)) is not None:
            return reason
    return None


def sites(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("site", t.site_ids, ctx.site_id, fold=False)


def zones(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("zone", t.zone_ids, ctx.zone_id, fold=False)


def countries(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("country", t.countries, ctx.country)


def excluded_countries(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _exclude("country", t.exclude_countries, ctx.country)


def regions(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("region", t.regions, ctx.region)


def devices(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("device", t.devices, ctx.device)


def operating_systems(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("os", t.os, ctx.os)


def browsers(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    return _include("browser", t.browsers, ctx.browser)


def excluded_keywords(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    for keyword in t.exclude_keywords:
        if keyword.lower() in ctx.keywords:
            return f"keyword excluded: {keyword}"
    return None


def keywords(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    if not t.keywords or any(keyword.lower() in ctx.keywords for keyword in t.keywords):
        return None
    return f"no keyword of {_listing(t.keywords)} on the page"


def day_parting(t: Targeting, timezone: str, ctx: RequestContext) -> str | None:
    if not t.days and not t.hours:
        return None
    local = _local_day_hour(ctx.now, timezone)
    if local is None:
        return f"unknown time zone: {timezone}"
    day, hour = local
    if t.days and day not in t.days:
        return f"day {_day(day)} not in {_listing(_runs(t.days, _day))}"
    if t.hours and hour not in t.hours:
        return f"hour {hour} not in {_listing(_runs(t.hours))}"
    return None


def expression(t: Targeting, _timezone: str, ctx: RequestContext) -> str | None:
    if not t.expression:
        return None
    parsed = compiled(t.expression)
    if isinstance(parsed, str):
        return f"invalid expression: {parsed}"
    return None if parsed.evaluate(ctx.variables()) else f"expression false: {t.expression}"


CHECKS: tuple[Check, ...] = (
    sites,
    zones,
    countries,
    excluded_countries,
    regions,
    devices,
    operating_systems,
    browsers,
    excluded_keywords,
    keywords,
    day_parting,
    expression,  # last: it builds the variables and runs the most code
)

# Each check but the expression reads one trait of the request: the decision index answers
# it for every flight at once per value of that trait. (A new check must be listed here.)
TRAITS: dict[str, tuple[Check, ...]] = {
    "site_id": (sites,),
    "zone_id": (zones,),
    "country": (countries, excluded_countries),
    "region": (regions,),
    "device": (devices,),
    "os": (operating_systems,),
    "browser": (browsers,),
    "keywords": (excluded_keywords, keywords),
    "now": (day_parting,),  # as the quarter hour: every zone's hours start on one
}


def _include(label: str, allowed: list[str], value: str | None, *, fold: bool = True) -> str | None:
    if not allowed or (value and (value in allowed or (fold and _folded_in(value, allowed)))):
        return None
    return f"{label} {value or 'unknown'} not in {_listing(allowed)}"


def _exclude(label: str, excluded: list[str], value: str | None) -> str | None:
    if value and (value in excluded or _folded_in(value, excluded)):
        return f"{label} excluded: {value}"
    return None


def _folded_in(value: str, values: list[str]) -> bool:
    folded = value.casefold()
    for v in values:  # noqa: SIM110 -- a loop beats any() over a generator, per candidate
        if v.casefold() == folded:
            return True
    return False


def _listing(values: Iterable[object]) -> str:
    return f"[{', '.join(map(str, values))}]"


def _day(number: int) -> str:
    return _DAY_NAMES[number] if 0 <= number < len(_DAY_NAMES) else str(number)


def _runs(values: list[int], label: Callable[[int], str] = str) -> list[str]:
    """`[9, 10, 11, 13]` as `9..11, 13`: day-parts are mostly ranges."""
    runs: list[str] = []
    ordered = sorted(set(values))
    start = 0
    for i, value in enumerate(ordered):
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            first = ordered[start]
            runs.append(label(first) if first == value else f"{label(first)}..{label(value)}")
            start = i + 1
    return runs


@lru_cache(maxsize=1024)  # the candidates of one request share `now` and a few time zones
def _local_day_hour(now: datetime, timezone: str) -> tuple[int, int] | None:
    """(weekday, hour) at `now` in `timezone`, or None for an unknown zone."""
    zone = _zone(timezone)
    if zone is None:
        return None
    local = (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(zone)
    return local.weekday(), local.hour


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=4096)
def compiled(text: str) -> Expression | str:
    """The parsed expression, or why it is invalid: a bad one is parsed once, not per request."""
    try:
        return parse(text)
    except ExpressionError as error:
        return error.message
