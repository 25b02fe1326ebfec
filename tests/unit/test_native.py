"""The compiled decision path (`kairos_native`, `adserver.native`): built by `make setup`, and
writing byte for byte what the Python it stands for writes (`tracking.Signer.signed`,
`prerender.Page.filled`), and decision records that read as those msgspec writes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver import native, prerender, render, tracking
from kairos.domain.decisions import Decision, DecisionRecord
from tests.unit.test_prerender import decided

KEY = b"k" * 32
JSON = msgspec.json.Encoder()

# any text but lone surrogates (not UTF-8: neither side takes them), ids as they usually are
texts = st.text(max_size=40) | st.text("abcdef0123456789-", min_size=1, max_size=32)
costs = st.sampled_from(["", "mc", "mi"]).flatmap(
    lambda charged: st.tuples(st.just(charged), texts if charged else st.just(""))
)
fields = st.builds(
    lambda ad, decision, elements, consent, user, cost, placement, landing, expires: (
        ad,
        decision,
        elements,
        consent,
        user,
        cost[0],
        cost[1],
        placement,
        landing,
        expires,
    ),
    texts,
    texts,
    st.none() | texts,
    st.booleans(),
    texts,
    costs,
    texts,
    texts | st.just("https://shop.example/p?q=1&r=é ü"),
    st.integers(0, 2**40),
)


def writer(key: bytes = KEY) -> native.Writer:
    made = native.writer(key)
    assert made is not None, "kairos_native is not installed: `make setup` builds it"
    return made


def test_the_compiled_path_is_installed_and_signers_use_it() -> None:
    assert native.writer(KEY) is not None
    assert tracking.Signer(KEY).native is not None
    assert tracking.Signer(KEY, compiled=False).native is None


@settings(max_examples=300, deadline=None)
@given(fields, st.binary(max_size=100))  # keys longer than SHA-256's block are hashed first
def test_the_compiled_tail_is_the_signed_query_of_python(
    values: tracking.TailFields, key: bytes
) -> None:
    signer = tracking.Signer(key, compiled=False)
    tail = writer(key).tail(*values)
    assert tail == signer.signed(*values).tail
    # and the tracking endpoints take it: its fields as they were, its signature good
    query = dict(parse_qsl(tail, keep_blank_values=True))
    assert (query["a"], query["d"], query["u"]) == (values[0], values[1], values[8])
    assert signer.verify(query, now=0.0) is tracking.Verdict.OK


# (where Python's repr turns to exponents, 1e-4 and 1e16, and either side of them)
edges = [1e-05, 1e-4, math.nextafter(1e-4, 0), 9999999999999998.0, 1e16, 0.30000000000000004]
numbers = st.floats() | st.sampled_from([0.0, -0.0, 1e-320, math.inf, math.nan, *edges])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), texts), max_size=12),  # gaps and the text after
    texts,  # the text before the first gap
    fields,
    numbers,
    numbers,
)
def test_a_compiled_page_is_the_page_filled_in_python(
    gaps: list[tuple[int, str]],
    first: str,
    values: tracking.TailFields,
    ecpm: float,
    propensity: float,
) -> None:
    slots = bytes(slot for slot, _ in gaps)
    page = prerender.Page((first, *(text for _, text in gaps)), slots, 1 in slots)
    tail = tracking.Signer(KEY, compiled=False).signed(*values).tail
    expected = page.filled(tail, values[1], ecpm, propensity)
    written = writer().page(page.pieces, page.slots, *values, ecpm, propensity)
    assert written.decode() == expected


def test_a_page_that_does_not_fit_its_slots_is_refused() -> None:
    values: tracking.TailFields = ("a", "d", None, True, "u", "", "", "p", "", 1)
    with pytest.raises(ValueError, match="one more piece than slots"):
        writer().page(("a", "b"), bytes([0, 0]), *values, 1.0, 1.0)
    with pytest.raises(ValueError, match="no value for slot 5"):
        writer().page(("a", "b"), bytes([5]), *values, 1.0, 1.0)


ids = st.text(max_size=12) | st.text("abcdef0123456789-", min_size=1, max_size=12)
floats = st.floats() | st.sampled_from([0.0, 1.0, 1e-05, 9.5e-06, 1e16, 1e300, 5e-324])


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(ids, st.none() | ids, ids, ids, ids, ids, ids, ids),  # decision to creative ids
    st.datetimes(timezones=st.just(UTC)),
    st.dictionaries(ids, ids, max_size=4),  # elements
    st.tuples(floats, floats, st.none() | floats),  # score and propensities
    st.lists(ids, max_size=3),  # options
    st.none() | ids,  # model version
    st.dictionaries(ids, st.integers() | floats | ids | st.lists(ids, max_size=2), max_size=4),
    st.integers(0, 2**31),  # candidates
    st.lists(ids, max_size=4),  # eligible
)
def test_a_compiled_record_reads_as_the_record_msgspec_writes(
    names: tuple[str, str | None, str, str, str, str, str, str],
    ts: datetime,
    elements: dict[str, str],
    numbers: tuple[float, float, float | None],
    options: list[str],
    model_version: str | None,
    features: dict[str, object],
    candidates: int,
    eligible: list[str],
) -> None:
    decision_id, user_key, placement_id, advertiser, campaign, flight, ad, creative = names
    score, propensity, share = numbers
    record = DecisionRecord(
        decision_id=decision_id,
        ts=ts,
        user_key=user_key,
        placement_id=placement_id,
        advertiser_id=advertiser,
        campaign_id=campaign,
        flight_id=flight,
        ad_id=ad,
        creative_id=creative,
        elements=elements,
        score=score,
        propensity=propensity,
        combination_propensity=share,
        options=options,
        model_version=model_version,
        features=features,
        candidates=candidates,
        eligible=msgspec.Raw(JSON.encode(eligible)),
    )
    written = writer().record(
        decision_id,
        JSON.encode(ts),
        user_key,
        placement_id,
        advertiser,
        campaign,
        flight,
        ad,
        creative,
        JSON.encode(elements) if elements else b"",
        score,
        propensity,
        share,
        JSON.encode(options) if options else b"",
        model_version,
        JSON.encode(features) if features else b"",
        candidates,
        JSON.encode(eligible),
    )
    assert read(written) == read(JSON.encode(record))


def read(record: bytes) -> object:
    """A record as the decisions topic's readers decode it, NaN read as null (as written)."""
    return msgspec.json.decode(record, type=Decision)


@pytest.mark.parametrize("user", [None, "visitor"])
def test_a_placement_is_logged_alike_compiled_or_not(user: str | None) -> None:
    for seed in range(20):
        _, result, ctx = decided(user, seed)
        shared = render.Shared.of(ctx)
        python = render.logged(result, ctx, shared, None)
        compiled = render.logged(result, ctx, shared, writer())
        assert [key for key, _ in compiled] == [key for key, _ in python]
        assert [read(value) for _, value in compiled] == [read(value) for _, value in python]
        assert len(python) == len(result.choices) > 1
