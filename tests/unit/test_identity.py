from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos.domain.identity import Pseudonymizer, truncate_ip


def test_pseudonym_is_stable_keyed_and_hex() -> None:
    a = Pseudonymizer(b"k" * 32)
    b = Pseudonymizer(b"other-key-0123456789")
    assert a("visitor") == a("visitor")
    assert a("visitor") != b("visitor")
    assert len(a("visitor")) == 32
    int(a("visitor"), 16)


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymizer(b"short")


@given(st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=50, unique=True))
def test_distinct_ids_get_distinct_pseudonyms(user_ids: list[str]) -> None:
    pseudonymize = Pseudonymizer(b"k" * 32, memo_size=7)  # small memo: exercise eviction
    assert len({pseudonymize(u) for u in user_ids}) == len(user_ids)
    assert [pseudonymize(u) for u in user_ids] == [pseudonymize(u) for u in user_ids]


@given(st.text(min_size=1, max_size=30))
def test_pseudonym_never_contains_the_id(user_id: str) -> None:
    assert user_id not in Pseudonymizer(b"k" * 32)(user_id) or len(user_id) < 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        (" 198.51.100.9 ", "198.51.100.0"),
        ("::ffff:81.2.69.7", "81.2.69.0"),  # an IPv4 visitor written the IPv6 way
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_truncate_ip(raw: str | None, expected: str | None) -> None:
    assert truncate_ip(raw) == expected
