"""The decision pipeline on in-memory catalogs: every step, the auction, caps, pacing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver import catalog as catalogs
from kairos.adserver import engine as engine_module
from kairos.adserver.auction import Prediction
from kairos.adserver.catalog import Catalog
from kairos.adserver.context import RequestContext
from kairos.adserver.decision import DecisionIds, DecisionRequest, PlacementRequest
from kairos.adserver.engine import Engine
from kairos.adserver.index import FlightIndex
from kairos.adserver.model import (
    Ad,
    Advertiser,
    Campaign,
    CapScope,
    CapUnit,
    Creative,
    Flight,
    FrequencyCap,
    PacingMode,
    Placement,
    RateType,
    SelectionMode,
    Site,
    Targeting,
    Zone,
)
from kairos.adserver.pacing import Delivery, Pacer, pacing_error
from kairos.adserver.ranking import rank
from kairos.adserver.scoring import AdStats, HistoricalCtrScorer
from kairos.stream.features import UserFeatures
from kairos.stream.windows import Buckets

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # a Monday
USER = "e" * 32


def flight(fid: str, **kw: object) -> Flight:
    values: dict[str, object] = {
        "id": fid,
        "campaign_id": "c1",
        "name": fid,
        "start": NOW - timedelta(days=1),
        "price": 2.0,
    }
    return Flight(**(values | kw))  # type: ignore[arg-type]


def build(flights: list[Flight], ads_per_flight: int = 1, **placement: object) -> Catalog:
    ads, creatives = [], []
    for f in flights:
        for n in range(ads_per_flight):
            cid = f"{f.id}-cr{n}"
            creatives.append(Creative(id=cid, advertiser_id="adv", name=cid, width=300, height=250))
            ads.append(Ad(id=f"{f.id}-ad{n}", flight_id=f.id, creative_id=cid))
    values: dict[str, object] = {
        "id": "p1",
        "zone_id": "z1",
        "name": "top",
        "div_name": "top-banner",
        "sizes": ["300x250"],
    }
    return catalogs.build(
        version="t",
        advertisers=[Advertiser(id="adv", name="Adv")],
        campaigns=[Campaign(id="c1", advertiser_id="adv", name="C1")],
        flights=flights,
        creatives=creatives,
        ads=ads,
        sites=[Site(id="s1", name="Shop", domain="shop.example")],
        zones=[Zone(id="z1", site_id="s1", name="home")],
        placements=[Placement(**(values | placement))],  # type: ignore[arg-type]
    )


def context(**kw: object) -> RequestContext:
    values: dict[str, object] = {
        "now": NOW,
        "user_key": USER,
        "personalization": True,
        "country": "PT",
    }
    return RequestContext(**(values | kw))  # type: ignore[arg-type]


def engine(catalog: Catalog, stats: dict[str, AdStats] | None = None, **kw: object) -> Engine:
    scorer = HistoricalCtrScorer(stats or {})
    return Engine(catalog, scorer, rng=random.Random(3), **kw)  # type: ignore[arg-type]


def one(e: Engine, key: str = "p1", explain: bool = False, **ctx: object):  # type: ignore[no-untyped-def]
    (result,) = e.decide(DecisionRequest([PlacementRequest(key)], context(**ctx), explain), None)
    return result


def test_the_highest_ecpm_wins_and_pays_the_runner_up_plus_a_cent() -> None:
    cat = build(
        [
            flight("cpm", price=3.0),
            flight("cpc", rate_type=RateType.CPC, price=0.5),  # 0.5 * 0.01 * 1000 = 5 eCPM
        ]
    )
    result = one(engine(cat))
    (choice,) = result.choices
    assert choice.candidate.flight.id == "cpc"
    assert choice.won.clearing_ecpm == 3.01
    assert choice.won.cost == round(3.01 / (0.01 * 1000), 6)  # per click
    assert choice.won.propensity == 1.0


def test_priority_tiers_come_before_price_and_the_floor_is_respected() -> None:
    cat = build([flight("cheap-first", priority=1, price=1.0), flight("rich", price=9.0)])
    assert one(engine(cat)).choices[0].candidate.flight.id == "cheap-first"
    floored = build([flight("cheap", price=1.0)], floor_cpm=2.0)
    result = one(engine(floored))
    assert result.choices == []
    assert result.no_fill == "no bid met the floor"


def test_house_ads_fill_what_nothing_else_can() -> None:
    cat = build([flight("paid", price=1.0), flight("house", priority=100, price=0.0)], floor_cpm=2)
    (choice,) = one(engine(cat)).choices
    assert choice.candidate.flight.id == "house"


def test_targeting_and_dates_drop_candidates_with_reasons_in_explain_mode() -> None:
    cat = build(
        [
            flight("es-only", targeting=Targeting(countries=["ES"])),
            flight("later", start=NOW + timedelta(days=1)),
            flight("ok", price=1.0),
        ]
    )
    result = one(engine(cat), explain=True)
    assert result.choices[0].candidate.flight.id == "ok"
    steps = {d.ad_id: (d.step, d.reason) for d in result.dropped}
    assert steps["es-only-ad0"][0] == "targeting"
    assert "PT" in steps["es-only-ad0"][1]
    assert steps["later-ad0"] == ("eligible", "flight not running now")


def test_a_placement_is_found_by_div_name_and_unknown_ones_are_no_fill() -> None:
    cat = build([flight("f")])
    assert one(engine(cat), key="top-banner").choices
    assert one(engine(cat), key="nope").no_fill == "unknown placement 'nope'"


def test_static_mode_draws_by_weight_with_the_right_propensity() -> None:
    cat = build([flight("a", price=1.0), flight("b", price=50.0)], selection=SelectionMode.STATIC)
    e = engine(cat)
    wins = [one(e, user_key=None).choices[0] for _ in range(400)]
    share = sum(c.candidate.flight.id == "a" for c in wins) / len(wins)
    assert 0.4 < share < 0.6  # equal weights, whatever the price
    assert {c.won.propensity for c in wins} == {0.5}


def test_no_ad_or_creative_twice_on_a_page() -> None:
    cat = build([flight("f", price=5.0), flight("g", price=1.0)])
    e = engine(cat)
    request = DecisionRequest(
        [PlacementRequest("p1"), PlacementRequest("top-banner"), PlacementRequest("p1")],
        context(),
    )
    results = e.decide(request, None)
    served = [c.candidate.ad.id for r in results for c in r.choices]
    assert served == ["f-ad0", "g-ad0"]
    assert results[2].no_fill == "every candidate was filtered out"


def test_two_fast_requests_cannot_both_pass_a_cap() -> None:
    cap = FrequencyCap(scope=CapScope.FLIGHT, impressions=1, period=1, unit=CapUnit.HOUR)
    cat = build([flight("capped", caps=[cap], price=9.0), flight("other", price=1.0)])
    e = engine(cat)
    first, second = one(e), one(e)
    assert first.choices[0].candidate.flight.id == "capped"
    assert second.choices[0].candidate.flight.id == "other"
    anonymous = one(e, personalization=False)  # without consent caps cannot be keyed
    assert anonymous.choices[0].candidate.flight.id == "capped"


def test_a_serve_counts_towards_every_cap_that_reads_its_counters() -> None:
    """Another flight's advertiser cap counts this flight's impressions; counters no cap
    reads are not kept per user."""
    per_hour = {"impressions": 1, "period": 1, "unit": CapUnit.HOUR}
    advertiser = FrequencyCap(scope=CapScope.ADVERTISER, **per_hour)  # type: ignore[arg-type]
    own = FrequencyCap(scope=CapScope.FLIGHT, **per_hour)  # type: ignore[arg-type]
    cat = build([flight("capped", caps=[advertiser], price=1.0), flight("other", caps=[own])])
    e = engine(cat)
    assert one(e).choices[0].candidate.flight.id == "other"
    assert one(e).choices == []  # `other` at its own cap, `capped` at the advertiser's
    assert set(e.recent.keys(USER)) == {"flight:other", "advertiser:adv"}


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=1, max_value=5),
    st.lists(st.integers(min_value=0, max_value=7200), min_size=1, max_size=40),
)
def test_caps_are_never_exceeded(limit: int, offsets: list[int]) -> None:
    cap = FrequencyCap(scope=CapScope.CAMPAIGN, impressions=limit, period=1, unit=CapUnit.HOUR)
    cat = build([flight("f", caps=[cap]), flight("g", caps=[cap])])
    e = engine(cat)
    features = UserFeatures(user_key=USER)  # the stream's counters, a few seconds behind
    served: list[datetime] = []
    counted = 0
    for offset in sorted(offsets):
        at = NOW + timedelta(seconds=offset)
        while counted < len(served) and served[counted] <= at - timedelta(seconds=5):
            features.frequency.setdefault("campaign:c1", Buckets()).add(served[counted])
            counted += 1
        request = DecisionRequest([PlacementRequest("p1")], context(now=at))
        if e.decide(request, features)[0].choices:
            served.append(at)
    for at in served:  # in any hour, at most `limit`
        assert sum(1 for s in served if at - timedelta(hours=1) < s <= at) <= limit


def test_pacing_holds_an_over_delivering_flight_back_and_explains_it() -> None:
    f = flight("f", start=NOW - timedelta(hours=1), end=NOW + timedelta(days=1), goal_amount=10)
    pacer, delivered = Pacer(min_probability=0.0), 0.0
    for minute in range(30):  # delivering far faster than 10 over a day: throttled hard
        delivered += 0.3
        pacer.update(f, Delivery(units=delivered), NOW + timedelta(minutes=minute))
    assert pacer.probability("f") < 1e-6
    result = one(engine(build([f]), pacer=pacer), explain=True)
    assert result.choices == []
    assert (result.dropped[0].step, result.dropped[0].reason) == (
        "pacing",
        "paced: held back to spread delivery",
    )


def test_a_flight_whose_goal_is_reached_stops() -> None:
    cat = build([flight("f", goal_amount=100, end=NOW + timedelta(days=1))])
    e = engine(cat, deliveries={"f": Delivery(units=100)})
    assert one(e, explain=True).dropped[0].reason == "goal reached: 100/100 impressions"


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=1.5, max_value=20.0),  # traffic is this many times what is needed
    st.integers(min_value=2_000, max_value=20_000),  # impressions to deliver
)
def test_even_pacing_converges_on_the_goal(oversupply: float, goal: int) -> None:
    hours = 24
    f = flight(
        "f",
        start=NOW,
        end=NOW + timedelta(hours=hours),
        goal_amount=goal,
        pacing=PacingMode.EVEN,
    )
    pacer, rng = Pacer(), random.Random(goal)
    step_s = 60
    per_step = oversupply * goal / (hours * 3600 / step_s)
    delivered = 0.0
    pacer.update(f, Delivery(), NOW)
    midway = None
    for n in range(1, hours * 3600 // step_s + 1):
        # the opportunities of one minute, each served with the flight's probability
        p = pacer.probability("f")
        delivered += sum(1 for _ in range(_poisson(rng, per_step)) if rng.random() < p)
        delivered = min(delivered, goal)
        at = NOW + timedelta(seconds=n * step_s)
        pacer.update(f, Delivery(units=delivered), at)
        if n == hours * 3600 // step_s // 2:
            midway = pacing_error(f, Delivery(units=delivered), at)
    assert midway is not None
    assert abs(midway) < 0.05  # on track halfway
    assert delivered >= 0.97 * goal  # and the goal met by the end


def _poisson(rng: random.Random, mean: float) -> int:
    # normal approximation is plenty here; keeps the test fast
    return max(0, round(rng.gauss(mean, mean**0.5)))


def test_historical_ctr_is_smoothed_towards_the_prior() -> None:
    scorer = HistoricalCtrScorer({"a": AdStats(impressions=1000, clicks=50)}, prior_ctr=0.01)
    cat = build([flight("f")])
    (candidate,) = cat.placements["p1"].candidates
    (fresh,) = scorer.predict([candidate], context())
    assert fresh == Prediction(0.01, 0.05, "historical-ctr")
    known = HistoricalCtrScorer({"f-ad0": AdStats(impressions=900, clicks=90)}, prior_ctr=0.01)
    (seen,) = known.predict([candidate], context())
    assert seen.ctr == (90 + 100 * 0.01) / (900 + 100)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=6),  # flights
    st.integers(min_value=1, max_value=4),  # ads per flight
    st.lists(st.sampled_from(["p1", "top-banner"]), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=3),  # ads asked per placement
)
def test_no_ad_or_creative_appears_twice_on_a_page(
    flights: int, per_flight: int, keys: list[str], count: int
) -> None:
    cat = build([flight(f"f{n}", price=1.0 + n) for n in range(flights)], per_flight)
    request = DecisionRequest([PlacementRequest(k, count=count) for k in keys], context())
    results = engine(cat).decide(request, None)
    served = [c.candidate for r in results for c in r.choices]
    assert len({c.ad.id for c in served}) == len(served)
    assert len({c.creative.id for c in served}) == len(served)
    assert len(served) == min(flights * per_flight, len(keys) * count)  # fills while it can


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["PT", "ES", "FR"]), min_size=3, max_size=8),  # flights' countries
    st.lists(  # requests: the visitor's country, ads per placement, placements on the page
        st.tuples(
            st.sampled_from(["PT", "ES", "FR"]),
            st.integers(min_value=1, max_value=3),
            st.integers(min_value=1, max_value=2),
        ),
        min_size=2,
        max_size=12,
    ),
)
def test_remembered_pools_decide_as_a_fresh_engine_does(
    countries: list[str], requests: list[tuple[str, int, int]]
) -> None:
    """An engine that decided other requests first (its candidate pools remembered) chooses
    what a fresh one chooses, with the same eligible ads and no-fills."""
    flights = [
        flight(f"f{n}", price=1.0 + n % 3, targeting=Targeting(countries=[country]))
        for n, country in enumerate(countries)
    ]
    cat = build(flights, ads_per_flight=2)
    warm = engine(cat)

    def decided(e: Engine, country: str, count: int, placements: int) -> list[object]:
        wanted = [PlacementRequest("p1", count=count) for _ in range(placements)]
        ctx = context(country=country, user_key=None, personalization=False)
        results = e.decide(DecisionRequest(wanted, ctx), None)
        shown: set[str] = set()
        for r in results:  # what the page shows already never reaches a later auction
            assert shown.isdisjoint(r.eligible)
            shown |= {c.candidate.ad.id for c in r.choices}
            assert shown >= set(r.eligible[:1])  # the first eligible one won (second price)
        return [([c.candidate.ad.id for c in r.choices], r.eligible, r.no_fill) for r in results]

    for country, count, placements in requests:
        assert decided(warm, country, count, placements) == decided(
            engine(cat), country, count, placements
        )


def test_remembered_pools_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "MAX_POOLS", 2)
    countries = ["PT", "ES", "FR", "DE"]
    flights = [flight(c, targeting=Targeting(countries=[c])) for c in countries]
    e = engine(build(flights))
    for country in countries * 2:  # four distinct flight masks, twice
        (result,) = e.decide(
            DecisionRequest([PlacementRequest("p1")], context(country=country)), None
        )
        assert [c.candidate.flight.id for c in result.choices] == [country]
        assert len(e._pools) <= 2


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_a_pool_logs_the_first_eligible_ads_its_page_leaves(ads: int, data: st.DataObject) -> None:
    cat = build([flight("f")], ads_per_flight=ads)
    index = FlightIndex(cat)
    candidates = cat.placement("p1").candidates  # type: ignore[union-attr]
    ranked = rank(candidates, [Prediction(0.01)] * len(candidates), index)
    pool = ranked.pool(index.mask(index.everything), frozenset())
    pages = []  # one pool serves many pages: some skip the same, some not, limits vary
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        skip = data.draw(st.sets(st.integers(min_value=0, max_value=ads - 1)))
        skip |= set(range(data.draw(st.integers(min_value=0, max_value=ads))))  # the top too
        pages.append((skip, data.draw(st.integers(min_value=1, max_value=8))))
    for skip, limit in pages + pages:
        expected = [ranked.candidates[p].ad.id for p in range(ads) if p not in skip][:limit]
        assert pool.eligible(ranked, skip, limit) == tuple(expected)
        everything = tuple(c.ad.id for c in ranked.candidates[:limit])
        assert pool.eligible(ranked, set(), limit) == everything
        assert pool.any_left(skip) == (len(skip) < ads)


def test_a_pool_gives_the_same_logged_ids_to_pages_that_skip_the_same() -> None:
    """The decision log encodes a tuple of ids once (by identity): pages that skip the same
    ads get the very same tuple."""
    cat = build([flight("f")], ads_per_flight=20)
    index = FlightIndex(cat)
    candidates = cat.placement("p1").candidates  # type: ignore[union-attr]
    ranked = rank(candidates, [Prediction(0.01)] * len(candidates), index)
    pool = ranked.pool(index.mask(index.everything), frozenset())
    first = pool.eligible(ranked, {0, 3}, 5)
    assert first == tuple(ranked.candidates[p].ad.id for p in (1, 2, 4, 5, 6))
    assert pool.eligible(ranked, {3, 0}, 5) is first
    assert pool.eligible(ranked, {0, 4}, 5) is not first


def test_decision_ids_are_32_hex_digits_unique_per_process() -> None:
    ids, other = DecisionIds(), DecisionIds()
    made = [ids() for _ in range(1000)]
    assert all(len(i) == 32 and int(i, 16) >= 0 and i == i.lower() for i in made)
    assert len(set(made)) == 1000
    assert made[0][:16] == made[-1][:16] != other()[:16]  # a prefix per process (per maker)
