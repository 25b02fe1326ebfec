"""The decision record as the ad server writes it and as the topic's readers decode it."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from kairos.adserver.render import _ids_json
from kairos.domain.decisions import Decision, DecisionRecord

_TEXT = st.text(min_size=1, max_size=12)


@given(
    st.lists(_TEXT, max_size=50).map(tuple),
    st.dictionaries(_TEXT, _TEXT, max_size=4),
    st.booleans(),
)
def test_a_written_record_is_the_decision_it_decodes_as(
    eligible: tuple[str, ...], elements: dict[str, str], no_fill: bool
) -> None:
    fields = {
        "decision_id": "d1",
        "ts": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        "user_key": "u" * 32,
        "placement_id": "p1",
        "ad_id": None if no_fill else "ad-1",
        "elements": elements,
        "score": None if no_fill else 1.25,
        "candidates": 7,
        "no_fill": no_fill,
    }
    written = msgspec.json.encode(DecisionRecord(**fields, eligible=_ids_json(eligible)))
    expected = Decision(**fields, eligible=list(eligible))
    assert msgspec.json.decode(written, type=Decision) == expected
    assert msgspec.json.decode(written) == msgspec.json.decode(msgspec.json.encode(expected))


def test_the_same_ids_are_encoded_once() -> None:
    ids = ("ad-1", "ad-2")
    assert _ids_json(ids) is _ids_json(ids)
    assert bytes(_ids_json(ids)) == b'["ad-1","ad-2"]'
    assert bytes(_ids_json(())) == b"[]"
