"""The bounded memory of the hot paths."""

from __future__ import annotations

from kairos.memo import ByIdentity, Memo


def test_a_value_is_made_once_and_the_memory_stays_bounded() -> None:
    made: list[int] = []

    def make(key: int) -> str:
        made.append(key)
        return str(key)

    memo = Memo(make, size=3)
    assert [memo[1], memo[2], memo[1]] == ["1", "2", "1"]
    assert made == [1, 2]
    for key in range(10):
        assert memo[key] == str(key)
        assert len(memo) <= 3
    assert 1 not in memo  # forgotten when it filled up
    assert memo.get(9) == "9"  # `get` reads without making
    assert memo.get(42) is None


def test_by_identity_makes_a_value_per_object_not_per_equal_value() -> None:
    made: list[tuple[str, ...]] = []

    def make(ids: tuple[str, ...]) -> int:
        made.append(ids)
        return len(made)

    memo = ByIdentity(make, size=2)
    first, equal = ("a", "b"), tuple(["a", "b"])
    assert first == equal
    assert first is not equal
    assert [memo(first), memo(first), memo(equal)] == [1, 1, 2]  # an equal object is another
    third = ("c",)
    assert memo(third) == 3  # a third object: the memory forgets the two it held
    assert len(memo) == 1
    assert memo(first) == 4
