"""CounterRule: concurrent increments add up, re-merges are idempotent, resets cancel what they saw."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from p2pdb.crdt import (
    Contribution,
    CounterRule,
    InvalidChangeError,
    RowChange,
    RowState,
    RuleError,
    SqlValue,
    encode_state,
    merge,
)
from p2pdb.log.clock import Clock

A, B, C = b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32
RULE = CounterRule(["hits"])


def inc(n: int | float, cl: int = 1) -> RowChange:
    return RowChange("t", (1,), cl, {}, {"hits": n})


def fold(items: Iterable[tuple[RowChange, Clock]], state: RowState | None = None) -> RowState:
    out = RowState() if state is None else state
    for change, clock in items:
        out = merge(out, change, clock, RULE).state
    return out


INSERT = (RowChange("t", (1,), 1, {"name": "p", "hits": 10}), Clock(1, A))


def test_concurrent_increments_add_up_in_every_order() -> None:
    incs = [(inc(1), Clock(2, A)), (inc(5), Clock(2, B)), (inc(-2), Clock(3, C)), (inc(4), Clock(4, A))]
    seen = set()
    for perm in itertools.permutations(incs):
        if [c for c in perm if c[1].id == A] != [incs[0], incs[3]]:
            continue  # the log delivers one author's changes in that author's order
        state = fold([INSERT, *perm])
        assert RULE.visible(state) == {"name": "p", "hits": 18}
        seen.add(encode_state(state))
    assert len(seen) == 1


def test_update_outcome_reports_the_new_total() -> None:
    s = fold([INSERT])
    out = merge(s, inc(3), Clock(2, B), RULE)
    assert (out.action, out.changed) == ("update", {"hits": 13})
    assert out.state.contribs == {B: Contribution(2, {"hits": 3})}


def test_remerge_is_idempotent_and_older_changes_of_an_author_are_not_recounted() -> None:
    s = fold([INSERT, (inc(1), Clock(2, B)), (inc(2), Clock(3, B))])
    assert RULE.visible(s)["hits"] == 13
    for dup in [(inc(1), Clock(2, B)), (inc(2), Clock(3, B))]:
        out = merge(s, *dup, RULE)
        assert (out.action, out.state_changed) == ("none", False)


def test_reset_via_split_update_keeps_concurrent_increments() -> None:
    s = fold([INSERT, (inc(5), Clock(2, B))])  # A sees 15
    values, deltas = RULE.split_update({"name": "p", "hits": 15}, {"name": "p", "hits": 0})
    assert (values, deltas) == ({}, {"hits": -15})
    reset = (RowChange("t", (1,), 1, values, deltas), Clock(3, A))
    concurrent = (inc(2), Clock(3, C))  # C had not seen the reset
    for order in ([reset, concurrent], [concurrent, reset]):
        assert RULE.visible(fold(order, s))["hits"] == 2


def test_absolute_write_sets_base_and_increments_still_add() -> None:
    s = fold([INSERT, (inc(5), Clock(2, B)), (RowChange("t", (1,), 1, {"hits": 100}), Clock(3, A))])
    assert RULE.visible(s)["hits"] == 105


def test_non_numeric_base_hides_increments() -> None:
    s = fold([INSERT, (inc(5), Clock(2, B)), (RowChange("t", (1,), 1, {"hits": None}), Clock(3, A))])
    assert RULE.visible(s)["hits"] is None


def test_increment_without_base_counts_from_zero() -> None:
    s = fold([(inc(4), Clock(2, B))])
    assert RULE.visible(s) == {"hits": 4}


def test_new_life_drops_contributions_and_old_life_increments_are_ignored() -> None:
    s = fold([INSERT, (inc(5), Clock(2, B)), (RowChange("t", (1,), 2), Clock(3, A))])
    assert s == RowState(2)
    s = fold([(RowChange("t", (1,), 3, {"hits": 0}), Clock(4, A)), (inc(7, cl=1), Clock(9, C))], s)
    assert RULE.visible(s)["hits"] == 0 and not s.contribs


def test_float_totals_are_identical_in_every_order() -> None:
    # (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1 in floating point: the sum order must not follow arrival.
    incs = [(inc(0.1), Clock(2, A)), (inc(0.2), Clock(2, B)), (inc(0.3), Clock(2, C))]
    base = (RowChange("t", (1,), 1, {"hits": 0.0}), Clock(1, A))
    totals = {repr(RULE.visible(fold([base, *p]))["hits"]) for p in itertools.permutations(incs)}
    assert totals == {repr(0.0 + ((0.1 + 0.2) + 0.3))}


def test_split_update_non_counter_and_non_numeric_columns_are_values() -> None:
    old: dict[str, SqlValue] = {"name": "p", "hits": None, "other": 1}
    new: dict[str, SqlValue] = {"name": "q", "hits": 3, "other": 2}
    assert RULE.split_update(old, new) == ({"name": "q", "hits": 3, "other": 2}, {})
    assert RULE.split_update({"hits": 3}, {"hits": 3}) == ({}, {})
    assert RULE.split_update({"hits": 3}, {"hits": 4.5}) == ({}, {"hits": 1.5})


def test_deltas_on_non_counter_columns_are_refused() -> None:
    with pytest.raises(InvalidChangeError, match="not counters"):
        merge(None, RowChange("t", (1,), 1, {}, {"name": 1}), Clock(1, A), RULE)


@pytest.mark.parametrize("columns", [[], "hits", [""], [1]])
def test_counter_rule_needs_column_names(columns: object) -> None:
    with pytest.raises(RuleError):
        CounterRule(columns)  # type: ignore[arg-type]
