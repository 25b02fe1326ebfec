"""The decision index answers, for all flights at once, exactly what the scalar checks answer
flight by flight: targeting, dates, caps."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver import caps
from kairos.adserver import catalog as catalogs
from kairos.adserver.context import RequestContext
from kairos.adserver.index import FlightIndex, as_mask, has, of_mask, of_positions
from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    CapScope,
    CapUnit,
    Creative,
    Flight,
    FrequencyCap,
    Placement,
    Site,
    Targeting,
    Zone,
)
from kairos.adserver.targeting import filters
from kairos.stream.features import UserFeatures
from kairos.stream.windows import Buckets

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
COUNTRIES = ["PT", "ES", "FR", None]
DEVICES = ["mobile", "desktop", "tablet", None]
WORDS = ["eco", "travel", "news", "sport"]
ZONES = ["UTC", "Europe/Lisbon", "Asia/Kolkata", "America/St_Johns", "Nowhere/Atlantis"]
EXPRESSIONS = [
    None,
    'interest.eco > 0.3 or segment == "vip"',
    'not segment in ["churned"]',
    "device == 'mobile' and country != 'FR'",
    "this is not valid (",
]

targetings = st.builds(
    Targeting,
    countries=st.lists(st.sampled_from(["PT", "ES", "fr"]), max_size=2),
    exclude_countries=st.lists(st.sampled_from(["ES", "FR"]), max_size=1),
    devices=st.lists(st.sampled_from(["mobile", "desktop"]), max_size=1),
    site_ids=st.lists(st.sampled_from(["s1", "s2"]), max_size=1),
    zone_ids=st.lists(st.sampled_from(["z1", "z2"]), max_size=1),
    keywords=st.lists(st.sampled_from(WORDS), max_size=2),
    exclude_keywords=st.lists(st.sampled_from(WORDS), max_size=1),
    days=st.lists(st.integers(0, 6), max_size=3),
    hours=st.lists(st.integers(0, 23), max_size=6),
    expression=st.sampled_from(EXPRESSIONS),
)
contexts = st.builds(
    RequestContext,
    now=st.integers(0, 14 * 24 * 60).map(lambda m: NOW + timedelta(minutes=m)),
    country=st.sampled_from(COUNTRIES),
    device=st.sampled_from(DEVICES),
    site_id=st.sampled_from(["s1", "s2"]),
    zone_id=st.sampled_from(["z1", "z2"]),
    keywords=st.frozensets(st.sampled_from(WORDS), max_size=3),
    properties=st.fixed_dictionaries({"segment": st.sampled_from(["vip", "churned", "new"])}),
    features=st.fixed_dictionaries({"interest.eco": st.floats(0, 1)}),
)


def catalog(flights: list[Flight], campaign_caps: list[FrequencyCap] | None = None):  # type: ignore[no-untyped-def]
    creatives = [Creative(id=f"cr-{f.id}", advertiser_id="adv", name=f.id) for f in flights]
    return catalogs.build(
        version="t",
        advertisers=[Advertiser(id="adv", name="Adv")],
        campaigns=[Campaign(id="c1", advertiser_id="adv", name="C", caps=campaign_caps or [])],
        flights=flights,
        creatives=creatives,
        ads=[Ad(id=f"ad-{f.id}", flight_id=f.id, creative_id=f"cr-{f.id}") for f in flights],
        sites=[Site(id="s1", name="S", domain="s.example")],
        zones=[Zone(id="z1", site_id="s1", name="Z")],
        placements=[Placement(id="p1", zone_id="z1", name="P")],
    )


def flight(n: int, **kw: object) -> Flight:
    values: dict[str, object] = {"id": f"f{n}", "campaign_id": "c1", "name": "F", "start": NOW}
    return Flight(**(values | kw))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(targetings, st.sampled_from(ZONES)), min_size=1, max_size=6),
    st.lists(contexts, min_size=1, max_size=4),
)
def test_targeting_masks_equal_the_scalar_checks(
    specs: list[tuple[Targeting, str]], ctxs: list[RequestContext]
) -> None:
    flights = [flight(n, targeting=t, timezone=tz) for n, (t, tz) in enumerate(specs)]
    index = FlightIndex(catalog(flights))
    for ctx in ctxs:  # the same index, asked again: its remembered answers must still hold
        held = index.expressions_hold(ctx)
        mask = index.targeted(ctx) if held is None else index.targeted(ctx) & held
        by_flight = {c.flight.id: has(mask, pos) for pos, c in enumerate(index.first)}
        expected = {f.id: filters.check(f.targeting, f.timezone, ctx) is None for f in flights}
        assert by_flight == expected


def test_every_check_but_the_expression_names_its_trait() -> None:
    listed = [check for checks in filters.TRAITS.values() for check in checks]
    assert sorted(c.__name__ for c in [*listed, filters.expression]) == sorted(
        c.__name__ for c in filters.CHECKS
    )
    assert set(filters.TRAITS) <= set(RequestContext.__dataclass_fields__)


def test_running_flights_follow_starts_and_ends_across_boundaries() -> None:
    flights = [
        flight(0, start=NOW, end=NOW + timedelta(hours=1)),
        flight(1, start=NOW + timedelta(minutes=30), end=None),
        flight(2, start=NOW - timedelta(days=1), end=NOW + timedelta(minutes=30, seconds=1)),
    ]
    index = FlightIndex(catalog(flights))
    for minutes in [-10, 0, 29, 30, 30.01, 30.02, 45, 60, 61, 10, -5, 120]:
        at = NOW + timedelta(minutes=minutes)
        mask = index.running(at.timestamp())
        assert [has(mask, index.position[f.id]) for f in flights] == [
            f.start <= at and (f.end is None or at < f.end) for f in flights
        ]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 7200)), max_size=12),  # recent
    st.lists(st.tuples(st.integers(0, 3), st.integers(60, 7200)), max_size=12),  # stream
    st.integers(1, 3),
)
def test_cap_masks_equal_the_scalar_checks(
    served: list[tuple[int, int]], counted: list[tuple[int, int]], limit: int
) -> None:
    per_flight = FrequencyCap(scope=CapScope.FLIGHT, impressions=limit, unit=CapUnit.HOUR)
    per_campaign = FrequencyCap(scope=CapScope.CAMPAIGN, impressions=limit + 2, unit=CapUnit.DAY)
    flights = [flight(n, caps=[per_flight] if n % 2 else []) for n in range(4)]
    cat = catalog(flights, [per_campaign])
    index = FlightIndex(cat)
    now = NOW + timedelta(hours=3)
    recent, user = caps.RecentDecisions(horizon_s=3 * 3600), "u" * 32
    for n, ago in sorted(served, key=lambda s: -s[1]):
        recent.record(user, now.timestamp() - ago, caps.served_keys(cat.ads[f"ad-f{n}"]))
    features = UserFeatures(user_key=user)
    for n, ago in counted:
        for key in caps.served_keys(cat.ads[f"ad-f{n}"]):
            features.frequency.setdefault(key, Buckets()).add(now - timedelta(seconds=ago))
    mask = index.capped(features, recent, user, now.timestamp())
    got = [mask is not None and has(mask, index.position[f.id]) for f in flights]
    expected = [
        caps.check(cat.ads[f"ad-{f.id}"], features, recent, user, now.timestamp(), False)
        is not None
        for f in flights
    ]
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.sets(st.sampled_from("abcd"), min_size=1)), max_size=40
    ),
    st.integers(0, 400),
    st.integers(1, 30),
)
def test_recent_decisions_count_what_is_within_their_bounds(
    served: list[tuple[int, set[str]]], since: int, per_user: int
) -> None:
    recent = caps.RecentDecisions(horizon_s=300, per_user=per_user)
    at, kept = 0.0, []
    for step, keys in served:  # in the order decisions are made
        at += step
        recent.record("u", at, tuple(sorted(keys)))
        kept = [*kept, (at, keys)][-per_user:]
        kept = [(t, k) for t, k in kept if t >= at - 300]
    for key in "abcde":
        expected = sum(1 for t, k in kept if t >= since and key in k)
        assert recent.count("u", key, since) == expected
        assert (key in recent.keys("u")) == any(key in k for _, k in kept)


def test_idle_users_are_forgotten_while_others_are_recorded() -> None:
    recent = caps.RecentDecisions(horizon_s=60)
    recent.record("idle", 0.0, ("flight:f1",))
    for n in range(3000):
        recent.record(f"u{n}", 100.0, ("flight:f1",))
    done, errors = threading.Event(), []

    def forget() -> None:  # as the refresh thread does, while requests record
        while not done.is_set():
            try:
                recent.forget_idle(100.0)
            except RuntimeError as error:  # e.g. the users changed during the sweep
                errors.append(error)
            time.sleep(0.0005)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between any two steps
    thread = threading.Thread(target=forget)
    thread.start()
    try:
        for n in range(3000):
            recent.record(f"new{n}", 100.0, ("flight:f1",))
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert errors == []
    assert recent.keys("idle") == {}
    assert recent.count("new2999", "flight:f1", 0.0) == 1
    assert len(recent) == 6000


@given(st.sets(st.integers(min_value=0, max_value=299)), st.integers(min_value=300, max_value=320))
def test_a_set_of_flights_as_int_and_as_array_agree(positions: set[int], size: int) -> None:
    flights = of_positions(positions)
    mask = as_mask(flights, size)
    assert mask.dtype == bool
    assert len(mask) == size
    assert set(np.flatnonzero(mask).tolist()) == positions
    assert of_mask(mask) == flights
    assert [has(flights, p) for p in range(size)] == mask.tolist()


NAMES = ["country", "device", "keywords", "site_id", "segment", "interest.eco", "plan"]
VALUES = st.one_of(st.none(), st.text(max_size=4), st.floats(allow_nan=False), st.booleans())


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=5),  # features
    st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=5),  # key-values
    st.one_of(st.none(), st.text(max_size=3)),  # country
    st.frozensets(st.text(max_size=3), max_size=3),  # keywords
    st.booleans(),  # the variables made first
)
def test_a_value_is_what_the_variables_hold(
    features: dict[str, object],
    properties: dict[str, object],
    country: str | None,
    keywords: frozenset[str],
    made_first: bool,
) -> None:
    def ctx() -> RequestContext:
        return RequestContext(
            NOW,
            country=country,
            keywords=keywords,
            properties=properties,  # type: ignore[arg-type]
            features=features,
            site_id="s1",
        )

    variables = ctx().variables()
    for name in [*NAMES, "region", "zone_id", "absent"]:
        asked = ctx()  # (a context name makes them all)
        if made_first:
            asked.variables()
        assert asked.value(name) == variables.get(name), name
