"""Enrichment: device from the user agent, page context from the URL, local time, sessions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ua_parser import parse as parse_user_agent

SESSION_GAP = timedelta(minutes=30)
_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_STOPWORDS_TEXT = (
    "the and for with from www com html htm php aspx amp index page item items product products "
    "shop store category categories search"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_TABLETS = ("ipad", "tablet", "kindle", "playbook", "nexus 7", "nexus 9", "sm-t", "sm-x")
_MOBILE_OS = ("ios", "android", "windows phone", "blackberry os", "kaios")


@dataclass(frozen=True)
class Device:
    type: str  # desktop | mobile | tablet | bot | unknown
    os: str
    browser: str


@dataclass(frozen=True)
class Geo:
    country: str | None = None
    region: str | None = None


class GeoLookup(Protocol):
    """Pluggable IP → place (a GeoIP database where one is configured; none is required)."""

    def __call__(self, ip: str | None) -> Geo: ...


NO_GEO = Geo()


def no_geo(ip: str | None) -> Geo:
    return NO_GEO


@lru_cache(maxsize=16_384)  # a handful of user agents make up most of the traffic
def device_of(user_agent: str | None) -> Device:
    if not user_agent:
        return Device("unknown", "Other", "Other")
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_name = parsed.os.family if parsed.os else "Other"
    family = (parsed.device.family if parsed.device else "Other") or "Other"
    brand = (parsed.device.brand if parsed.device else None) or ""
    return Device(_device_type(family, brand, os_name, user_agent), os_name, browser)


def _device_type(family: str, brand: str, os_name: str, user_agent: str) -> str:
    ua = user_agent.lower()
    if family == "Spider" or "bot" in ua or "crawler" in ua:
        return "bot"
    if any(t in ua or t in family.lower() for t in _TABLETS) or "tablet" in brand.lower():
        return "tablet"
    if os_name.lower() in _MOBILE_OS or "mobile" in ua:
        return "mobile"
    if os_name == "Other" and family == "Other":
        return "unknown"
    return "desktop"


@dataclass(frozen=True)
class PageContext:
    category: str | None
    keywords: tuple[str, ...]


@lru_cache(maxsize=65_536)  # pages repeat across visitors; parsing a URL is not free
def page_context(
    url: str | None,
    title: str | None = None,
    categories: tuple[str, ...] = (),
    keywords: tuple[str, ...] = (),
) -> PageContext:
    """The page's category (declared, else the first path segment) and keywords."""
    path_words: list[str] = []
    first_segment = None
    if url:
        segments = [s for s in unquote(urlsplit(url).path).lower().split("/") if s]
        first_segment = segments[0] if segments else None
        path_words = [w for s in segments for w in _WORD.findall(s)]
    category = (categories[0].lower() if categories else None) or _category_of(first_segment)
    words = [k.lower() for k in keywords] + path_words + _WORD.findall((title or "").lower())
    unique = dict.fromkeys(w for w in words if w not in _STOPWORDS)
    return PageContext(category, tuple(list(unique)[:20]))


def _category_of(segment: str | None) -> str | None:
    if segment is None:
        return None
    word = _WORD.match(segment)
    return word.group(0) if word and word.group(0) not in _STOPWORDS else None


@dataclass(frozen=True)
class LocalTime:
    hour: int  # 0-23 in the visitor's time zone (UTC when unknown)
    weekday: int  # Monday = 0
    timezone: str


def local_time(ts: datetime, timezone: str | None) -> LocalTime:
    zone = _zone(timezone) if timezone else None
    if zone is None or timezone is None:
        return LocalTime(ts.hour, ts.weekday(), "UTC")
    local = ts.astimezone(zone)
    return LocalTime(local.hour, local.weekday(), timezone)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Session:
    id: str
    started: datetime
    last_seen: datetime
    depth: int  # events in the session so far, this one included


def next_session(
    previous: Session | None, ts: datetime, user_key: str, gap: timedelta = SESSION_GAP
) -> Session:
    """Continue the visitor's session, or start a new one after `gap` of inactivity."""
    if previous is not None and timedelta(0) <= ts - previous.last_seen <= gap:
        return Session(previous.id, previous.started, ts, previous.depth + 1)
    late = previous is not None and previous.started - gap <= ts < previous.last_seen
    if previous is not None and late:  # a late event that belongs to the current session
        return Session(previous.id, previous.started, previous.last_seen, previous.depth + 1)
    return Session(f"{user_key[:12]}-{int(ts.timestamp())}", ts, ts, 1)
