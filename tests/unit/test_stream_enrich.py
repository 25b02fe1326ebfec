from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos.stream.enrich import device_of, local_time, next_session, page_context

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
T0 = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("ua", "kind", "os", "browser"),
    [
        (IPHONE, "mobile", "iOS", "Mobile Safari"),
        (WINDOWS, "desktop", "Windows", "Chrome"),
        (IPAD, "tablet", "iOS", None),
        (BOT, "bot", None, None),
        (None, "unknown", "Other", "Other"),
    ],
)
def test_device_from_user_agent(
    ua: str | None, kind: str, os: str | None, browser: str | None
) -> None:
    device = device_of(ua)
    assert device.type == kind
    if os:
        assert device.os == os
    if browser:
        assert device.browser == browser


def test_page_context_from_url_and_title() -> None:
    page = page_context("https://shop.example/Outdoor/hiking-boots-x200?ref=1", "Trail boots")
    assert page.category == "outdoor"
    assert page.keywords[:3] == ("outdoor", "hiking", "boots")
    assert "trail" in page.keywords
    declared = page_context("https://shop.example/p/1", categories=("Eco",), keywords=("Solar",))
    assert declared.category == "eco"
    assert declared.keywords[0] == "solar"
    assert page_context(None) == page_context("")


def test_local_time_in_the_visitors_zone() -> None:
    lisbon = local_time(T0, "Europe/Lisbon")
    assert (lisbon.hour, lisbon.weekday) == (23, 0)
    tokyo = local_time(T0, "Asia/Tokyo")
    assert (tokyo.hour, tokyo.weekday) == (8, 1)
    unknown = local_time(T0, "Mars/Olympus")
    assert (unknown.hour, unknown.timezone) == (23, "UTC")


def test_sessions_break_after_thirty_idle_minutes() -> None:
    first = next_session(None, T0, "u" * 32)
    second = next_session(first, T0 + timedelta(minutes=29), "u" * 32)
    assert (second.id, second.depth) == (first.id, 2)
    third = next_session(second, T0 + timedelta(minutes=60), "u" * 32)
    assert third.id != first.id
    assert third.depth == 1


@given(st.lists(st.integers(0, 24 * 60), min_size=1, max_size=40))
def test_session_count_matches_the_gaps(minutes: list[int]) -> None:
    minutes.sort()
    session = None
    ids = []
    for m in minutes:
        session = next_session(session, T0 + timedelta(minutes=m), "k" * 32)
        ids.append(session.id)
    gaps = sum(1 for a, b in itertools.pairwise(minutes) if b - a > 30)
    assert len(dict.fromkeys(ids)) == gaps + 1
