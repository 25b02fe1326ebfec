"""The compiled decision path (`kairos_native`, `adserver.native`): built by `make setup`, and
writing byte for byte what the Python it stands for writes (`tracking.Signer.signed`,
`prerender.Page.filled`)."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kairos.adserver import native, prerender, tracking

KEY = b"k" * 32

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


numbers = st.floats() | st.sampled_from([0.0, -0.0, 1e-05, 1e16, 1e-320, math.inf, math.nan])


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
