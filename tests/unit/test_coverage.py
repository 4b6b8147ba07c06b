"""The stored-ranges set behind the replay filter, against a plain set of offsets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from observ.store.coverage import Coverage

ranges_st = st.lists(st.tuples(st.integers(-1, 60), st.integers(0, 30)).map(lambda t: (t[0], t[0] + t[1])), max_size=12)


@given(ranges_st, st.integers(-2, 95), st.integers(0, 10))
def test_coverage_matches_the_set_of_offsets_it_was_given(
    ranges: list[tuple[int, int]], probe: int, width: int
) -> None:
    cov = Coverage()
    points: set[int] = set()
    for lo, hi in ranges:
        cov.add(lo, hi)
        points.update(range(lo + 1, hi + 1))
    assert cov.contains(probe) == (probe in points)
    assert cov.disjoint(probe, probe + width) == points.isdisjoint(range(probe + 1, probe + width + 1))
    stored = cov.ranges()
    assert all(a < b for a, b in stored)
    assert all(stored[i][1] < stored[i + 1][0] for i in range(len(stored) - 1)), "touching ranges must merge"
    assert Coverage(stored).ranges() == stored


def test_ranges_that_meet_become_one_whatever_the_order() -> None:
    cov = Coverage()
    for lo, hi in [(20, 30), (0, 10), (10, 20)]:
        cov.add(lo, hi)
    assert cov.ranges() == [(0, 30)]
    cov.add(40, 50)
    assert cov.ranges() == [(0, 30), (40, 50)]
    assert not cov.contains(35) and cov.contains(30) and not cov.contains(0) and cov.contains(41)
