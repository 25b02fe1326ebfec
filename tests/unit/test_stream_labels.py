"""The impression ⋈ click / conversion join: exact labels, corrections, no double counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.domain.decisions import Decision
from kairos.domain.events import Click, Conversion, Impression
from kairos.domain.examples import LabelledExample, Task
from kairos.stream import labels
from kairos.stream.labels import LabelConfig, Pending

KEY = "c" * 32
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONFIG = LabelConfig(decision_wait=timedelta(0))  # the join itself; the wait is tested apart


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def impression(decision: str, minutes: float, viewable: bool = False) -> Impression:
    ts = at(minutes)
    return Impression(
        user_key=KEY, ts=ts, received_at=ts, decision_id=decision, ad_id="a1", viewable=viewable
    )


def click(decision: str, minutes: float) -> Click:
    ts = at(minutes)
    return Click(user_key=KEY, ts=ts, received_at=ts, decision_id=decision, ad_id="a1")


def conversion(minutes: float, value: float = 10.0, decision: str | None = None) -> Conversion:
    ts = at(minutes)
    return Conversion(user_key=KEY, ts=ts, received_at=ts, value=value, decision_id=decision)


def no_features() -> dict[str, object]:
    return {"f": 1}


def test_click_within_window_is_positive_and_no_negative_follows() -> None:
    pending: dict[str, Pending] = {}
    labels.on_impression(pending, impression("d", 0), KEY, no_features, CONFIG)
    outcome = labels.on_click(pending, click("d", 5), KEY, CONFIG)
    (example,) = outcome.examples
    assert (example.label, example.delay_s, example.correction) == (1, 300.0, False)
    assert outcome.counts.clicks == 1
    assert labels.expire(pending, KEY, at(31).timestamp(), CONFIG) == []
    again = labels.on_click(pending, click("d", 6), KEY, CONFIG)  # clicked twice
    assert (again.examples, again.counts.clicks) == ([], 0)


def test_no_click_gives_a_negative_at_window_close_and_a_late_click_a_correction() -> None:
    pending: dict[str, Pending] = {}
    labels.on_impression(pending, impression("d", 0), KEY, no_features, CONFIG)
    assert labels.next_deadline(pending, CONFIG) == at(30).timestamp()
    assert labels.expire(pending, KEY, at(29).timestamp(), CONFIG) == []
    (negative,) = labels.expire(pending, KEY, at(30).timestamp(), CONFIG)
    assert (negative.label, negative.label_ts, negative.delay_s) == (0, at(30), None)
    assert labels.expire(pending, KEY, at(40).timestamp(), CONFIG) == []  # once only
    (late,) = labels.on_click(pending, click("d", 45), KEY, CONFIG).examples
    assert (late.label, late.correction) == (1, True)
    assert late.example_id != negative.example_id


def test_click_before_its_impression_is_labelled_when_the_impression_arrives() -> None:
    pending: dict[str, Pending] = {}
    early = labels.on_click(pending, click("d", 2), KEY, CONFIG)
    assert early.examples == []
    assert early.counts.clicks == 1
    shown = labels.on_impression(pending, impression("d", 0), KEY, no_features, CONFIG)
    (example,) = shown.examples
    assert (example.label, example.delay_s) == (1, 120.0)
    assert shown.counts.impressions == 1


def test_impressions_and_viewability_count_once_per_decision() -> None:
    pending: dict[str, Pending] = {}
    first = labels.on_impression(pending, impression("d", 0), KEY, no_features, CONFIG)
    beacon = labels.on_impression(pending, impression("d", 0.1, True), KEY, no_features, CONFIG)
    again = labels.on_impression(pending, impression("d", 0.2, True), KEY, no_features, CONFIG)
    assert (first.counts.impressions, first.counts.viewable) == (1, 0)
    assert (beacon.counts.impressions, beacon.counts.viewable) == (0, 1)
    assert not again.counts


def test_conversions_are_attributed_to_the_last_click_then_closed() -> None:
    pending: dict[str, Pending] = {}
    labels.on_impression(pending, impression("d1", 0), KEY, no_features, CONFIG)
    labels.on_impression(pending, impression("d2", 1), KEY, no_features, CONFIG)
    labels.on_impression(pending, impression("d3", 2), KEY, no_features, CONFIG)
    labels.on_click(pending, click("d2", 3), KEY, CONFIG)
    bought = labels.on_conversion(pending, conversion(60, 25.0), KEY, CONFIG)
    assert bought.ad is not None
    assert (bought.ad.decision_id, bought.attribution) == ("d2", "click")
    (example,) = bought.examples
    assert (example.task, example.label, example.value) == (Task.CONVERSION, 1, 25.0)
    assert bought.counts.conversions == 1
    assert bought.counts.revenue == 25.0
    named = labels.on_conversion(pending, conversion(61, 5.0, decision="d3"), KEY, CONFIG)
    assert named.ad is not None
    assert (named.ad.decision_id, named.attribution) == ("d3", "view")
    assert named.examples == []  # view-through: counted, but conversion examples are post-click
    assert named.counts.conversions == 1
    labels.on_click(pending, click("d1", 62), KEY, CONFIG)  # a late click on d1
    week = at(0) + CONFIG.conversion_window + timedelta(minutes=5)
    closed = labels.expire(pending, KEY, week.timestamp(), CONFIG)
    conversion_negatives = [e for e in closed if e.task is Task.CONVERSION]
    assert [e.decision_id for e in conversion_negatives] == ["d1"]  # clicked, never bought
    assert pending == {}


def test_unclicked_decisions_shed_their_features_after_a_second_click_window() -> None:
    pending: dict[str, Pending] = {}
    labels.on_impression(pending, impression("d", 0), KEY, no_features, CONFIG)
    labels.expire(pending, KEY, at(31).timestamp(), CONFIG)
    assert pending["d"].features == {"f": 1}  # a late click may still need them
    assert labels.next_deadline(pending, CONFIG) == at(60).timestamp()
    labels.expire(pending, KEY, at(60).timestamp(), CONFIG)
    assert pending["d"].features is None
    assert labels.next_deadline(pending, CONFIG) == (at(0) + CONFIG.conversion_window).timestamp()


def test_a_conversion_with_nothing_to_attribute_still_counts() -> None:
    outcome = labels.on_conversion({}, conversion(0, 3.0), KEY, CONFIG)
    assert (outcome.ad, outcome.examples, outcome.counts.conversions) == (None, [], 1)


# -- properties --------------------------------------------------------------------------

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["impression", "viewable", "click", "expire"]),
        st.sampled_from(["d1", "d2", "d3"]),
        st.floats(min_value=0, max_value=120, allow_nan=False),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ACTIONS)
def test_every_shown_decision_gets_exactly_one_final_click_label(actions: list) -> None:
    pending: dict[str, Pending] = {}
    examples: list[LabelledExample] = []
    impressions = clicks = 0
    clock = 0.0
    for kind, decision, minutes in actions:
        if kind == "expire":
            clock = max(clock, minutes)
            examples += labels.expire(pending, KEY, at(clock).timestamp(), CONFIG)
            continue
        if kind == "click":
            outcome = labels.on_click(pending, click(decision, minutes), KEY, CONFIG)
        else:
            event = impression(decision, minutes, viewable=kind == "viewable")
            outcome = labels.on_impression(pending, event, KEY, no_features, CONFIG)
        examples += outcome.examples
        impressions += outcome.counts.impressions
        clicks += outcome.counts.clicks
    examples += labels.expire(pending, KEY, at(10_000 * 60 * 24).timestamp(), CONFIG)
    shown = {d for k, d, _ in actions if k in ("impression", "viewable")}
    clicked = {d for k, d, _ in actions if k == "click"}
    assert impressions == len(shown)  # once per decision, whatever the repeats
    assert clicks == len(clicked)
    ids = [e.example_id for e in examples]
    assert len(ids) == len(set(ids))  # never the same example twice
    for decision in shown:
        mine = [e for e in examples if e.decision_id == decision and e.task is Task.CLICK]
        final = mine[-1]
        assert final.label == (1 if decision in clicked else 0)
        # at most: a negative, then its correction
        assert [e.label for e in mine] in ([1], [0], [0, 1])
        assert all(e.correction == (e.label == 1 and len(mine) == 2) for e in mine)


def test_the_impression_describes_the_ad_better_than_an_early_click() -> None:
    pending: dict[str, Pending] = {}
    labels.on_click(pending, click("d", 1), KEY, CONFIG)  # arrives first, without elements
    shown = impression("d", 0)
    shown = Impression(
        **{f: getattr(shown, f) for f in shown.__struct_fields__} | {"elements": {"headline": "h1"}}
    )
    outcome = labels.on_impression(pending, shown, KEY, no_features, CONFIG)
    assert outcome.ad is not None
    assert outcome.ad.elements == {"headline": "h1"}


def test_a_click_waits_briefly_for_its_decision_record() -> None:
    config = LabelConfig()  # 10 s
    pending: dict[str, Pending] = {}
    labels.on_impression(pending, impression("d", 0), KEY, no_features, config)
    assert labels.on_click(pending, click("d", 0.05), KEY, config).examples == []
    assert labels.next_deadline(pending, config) == at(0).timestamp() + 10
    decision = Decision(decision_id="d", ts=at(0), user_key=KEY, propensity=0.2, model_version="m1")
    (example,) = labels.on_decision(pending, decision, KEY, config)  # it arrives: labelled
    assert (example.label, example.propensity, example.model_version) == (1, 0.2, "m1")

    late: dict[str, Pending] = {}  # no decision record ever comes: labelled after the wait
    labels.on_impression(late, impression("e", 0), KEY, no_features, config)
    labels.on_click(late, click("e", 0.05), KEY, config)
    assert labels.expire(late, KEY, at(0).timestamp() + 9, config) == []
    (example,) = labels.expire(late, KEY, at(0).timestamp() + 10, config)
    assert (example.label, example.propensity, example.delay_s) == (1, None, 3.0)
