"""Lamport clock: next time, total order by (time, author key), immutability."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.log import Clock

A = b"\x01" * 32
B = b"\x02" * 32


def test_next_for() -> None:
    assert Clock.next_for(A, []) == Clock(1, A)
    assert Clock.next_for(A, [3]) == Clock(4, A)
    assert Clock.next_for(A, [3, 7, 5]) == Clock(8, A)
    assert Clock.next_for(B, iter([2, 2])) == Clock(3, B)


def test_tick_returns_a_new_clock() -> None:
    clock = Clock(4, A)
    ticked = clock.tick()
    assert ticked == Clock(5, A)
    assert clock == Clock(4, A)  # unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        clock.time = 9  # type: ignore[misc]


def test_order_is_time_then_author_key() -> None:
    assert Clock(1, B) < Clock(2, A)  # higher time wins whatever the key
    assert Clock(2, A) < Clock(2, B)  # equal times: key bytes break the tie
    assert max(Clock(3, A), Clock(3, B), Clock(2, b"\xff" * 32)) == Clock(3, B)
    assert sorted([Clock(2, B), Clock(1, B), Clock(2, A)]) == [Clock(1, B), Clock(2, A), Clock(2, B)]


@given(st.lists(st.tuples(st.integers(1, 10), st.binary(min_size=32, max_size=32)), min_size=1, max_size=8))
@settings(max_examples=100, deadline=None)
def test_order_is_total_and_matches_tuples(pairs: list[tuple[int, bytes]]) -> None:
    clocks = [Clock(t, k) for t, k in pairs]
    assert [(c.time, c.id) for c in sorted(clocks)] == sorted(pairs)
    for a in clocks:
        for b in clocks:
            assert (a < b) + (a == b) + (a > b) == 1
