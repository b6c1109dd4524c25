"""merge() with the default last-writer-wins rule: row lives, column versions, SQL actions."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from p2pdb.crdt import (
    EMPTY_STATE,
    Cell,
    InvalidChangeError,
    LWWRule,
    MergeOutcome,
    RowChange,
    RowState,
    encode_state,
    merge,
)
from p2pdb.log.clock import Clock

A = b"\x01" * 32
B = b"\x02" * 32
C = b"\x01" * 31 + b"\x02"  # differs from A only in the last byte
LWW = LWWRule()


def ins(pk: int, cl: int = 1, **values: object) -> RowChange:
    return RowChange("t", (pk,), cl, values)  # type: ignore[arg-type]


def upd(pk: int, cl: int = 1, **values: object) -> RowChange:
    return RowChange("t", (pk,), cl, values)  # type: ignore[arg-type]


def dele(pk: int, cl: int = 2) -> RowChange:
    return RowChange("t", (pk,), cl)


def fold(items: Iterable[tuple[RowChange, Clock]], state: RowState | None = None) -> RowState | None:
    for change, clock in items:
        state = merge(state, change, clock, LWW).state
    return state


def test_insert_into_unseen_row() -> None:
    out = merge(None, ins(1, a=1, b="x"), Clock(1, A), LWW)
    assert out.action == "insert"
    assert out.row == {"a": 1, "b": "x"} and out.changed == out.row
    assert out.state == RowState(1, {"a": Cell(1, Clock(1, A)), "b": Cell("x", Clock(1, A))})
    assert out.state_changed


def test_update_writes_only_changed_columns() -> None:
    s = merge(None, ins(1, a=1, b="x"), Clock(1, A), LWW).state
    out = merge(s, upd(1, a=1, b="y"), Clock(2, B), LWW)
    assert out.action == "update"
    assert out.changed == {"b": "y"}
    assert out.row == {"a": 1, "b": "y"}
    # The same value under a newer version changes the state (versions) but not SQL.
    assert out.state.cells["a"] == Cell(1, Clock(2, B))


def test_rewrite_of_same_value_is_none_but_state_changes() -> None:
    s = merge(None, ins(1, a=1), Clock(1, A), LWW).state
    out = merge(s, upd(1, a=1), Clock(2, A), LWW)
    assert (out.action, out.changed, out.state_changed) == ("none", {}, True)
    assert out.state.cells["a"].version == Clock(2, A)


def test_int_and_float_are_different_values() -> None:
    s = merge(None, ins(1, a=1), Clock(1, A), LWW).state
    out = merge(s, upd(1, a=1.0), Clock(2, A), LWW)
    assert out.action == "update" and type(out.changed["a"]) is float


def test_negative_zero_is_a_different_value() -> None:
    s = merge(None, ins(1, a=0.0), Clock(1, A), LWW).state
    out = merge(s, upd(1, a=-0.0), Clock(2, A), LWW)
    assert out.action == "update" and repr(out.changed["a"]) == "-0.0"


def test_idempotent_remerge_is_a_no_op() -> None:
    change, clock = ins(1, a=1), Clock(3, A)
    first = merge(None, change, clock, LWW)
    again = merge(first.state, change, clock, LWW)
    assert again == MergeOutcome("none", {}, {}, first.state, False)
    assert again.state is first.state


@pytest.mark.parametrize("order", ["update_first", "delete_first"])
def test_delete_beats_concurrent_update(order: str) -> None:
    base = merge(None, ins(1, a=1), Clock(1, A), LWW).state
    # B deletes; C concurrently updates with a *higher* clock: the delete still wins (longer causal length).
    d, u = (dele(1), Clock(2, B)), (upd(1, a=2), Clock(5, C))
    items = [u, d] if order == "update_first" else [d, u]
    outs = []
    state = base
    for change, clock in items:
        out = merge(state, change, clock, LWW)
        outs.append(out.action)
        state = out.state
    assert state == RowState(2)
    assert outs == (["update", "delete"] if order == "update_first" else ["delete", "none"])


def test_update_never_resurrects_deleted_row() -> None:
    s = fold([(ins(1, a=1), Clock(1, A)), (dele(1), Clock(2, A))])
    out = merge(s, upd(1, a=9), Clock(9, B), LWW)
    assert out.action == "none" and not out.state_changed and out.state == RowState(2)


@pytest.mark.parametrize("first", [A, B])
def test_concurrent_inserts_of_same_pk_higher_clock_wins_whole_row(first: bytes) -> None:
    a = (ins(1, a="from A", b=1), Clock(4, A))
    b = (ins(1, a="from B", b=2), Clock(4, B))  # same time: B's larger key wins
    items = [a, b] if first == A else [b, a]
    s = fold(items)
    assert s is not None and LWW.visible(s) == {"a": "from B", "b": 2}
    later_a = (ins(1, a="A again", b=3), Clock(5, A))
    s2 = fold([*items, later_a])
    assert s2 is not None and LWW.visible(s2) == {"a": "A again", "b": 3}


def test_author_bytes_break_ties_bytewise() -> None:
    s = fold([(ins(1, a="A"), Clock(7, A)), (ins(1, a="C"), Clock(7, C))])
    assert s is not None and s.cells["a"].value == "C"


def test_resurrection_after_delete_starts_a_fresh_life() -> None:
    s = fold([(ins(1, a=1, b=1), Clock(1, A)), (dele(1), Clock(2, B))])
    out = merge(s, ins(1, cl=3, a=5), Clock(3, A), LWW)
    assert out.action == "insert"
    assert out.row == {"a": 5}  # b of the old life is gone; SQL gives it its default
    assert out.state == RowState(3, {"a": Cell(5, Clock(3, A))})
    # A late update of the old life is ignored; an update of the new life applies.
    assert merge(out.state, upd(1, cl=1, b=7), Clock(9, B), LWW).action == "none"
    assert merge(out.state, upd(1, cl=3, b=7), Clock(4, B), LWW).changed == {"b": 7}


def test_alive_to_newer_alive_life_is_an_insert_replacing_the_row() -> None:
    # This replica missed the delete (cl 2) and sees the re-insert (cl 3) directly.
    s = fold([(ins(1, a=1, b=1), Clock(1, A))])
    out = merge(s, ins(1, cl=3, a=2), Clock(3, B), LWW)
    assert out.action == "insert" and out.row == {"a": 2}
    # The delete arriving afterwards is from an older life.
    assert merge(out.state, dele(1), Clock(2, B), LWW).action == "none"


def test_delete_of_unseen_row_leaves_a_tombstone_without_sql_action() -> None:
    out = merge(None, dele(1, cl=4), Clock(1, A), LWW)
    assert (out.action, out.state, out.state_changed) == ("none", RowState(4), True)
    assert merge(out.state, dele(1, cl=4), Clock(1, B), LWW).state_changed is False


def test_update_before_its_insert_converges_with_causal_order() -> None:
    insert, update = (ins(1, a=1, b=1), Clock(1, A)), (upd(1, b=2), Clock(2, B))
    assert fold([insert, update]) == fold([update, insert])
    s = fold([update, insert])
    assert s is not None and LWW.visible(s) == {"a": 1, "b": 2}


def test_equivocating_author_still_converges() -> None:
    # Two different writes under one clock (a misbehaving author): every order keeps the same value.
    x, y = (upd(1, a="x"), Clock(3, A)), (upd(1, a="y"), Clock(3, A))
    sx, sy = fold([x, y]), fold([y, x])
    assert sx is not None and sy is not None
    assert encode_state(sx) == encode_state(sy)


def test_lww_refuses_deltas_before_changing_anything() -> None:
    with pytest.raises(InvalidChangeError, match="deltas"):
        merge(EMPTY_STATE, RowChange("t", (1,), 1, {}, {"n": 1}), Clock(1, A), LWW)


def test_outcome_mappings_are_read_only() -> None:
    out = merge(None, dele(1), Clock(1, A), LWW)
    with pytest.raises(TypeError):
        out.row["a"] = 1  # type: ignore[index]
