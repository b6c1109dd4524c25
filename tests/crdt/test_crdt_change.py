"""RowChange validation, and folding one transaction's changes into one change per row."""

from __future__ import annotations

from typing import Any

import pytest

from p2pdb.crdt import InvalidChangeError, RowChange, coalesce, combine


def test_valid_changes() -> None:
    ins = RowChange("t", (1,), 1, {"a": "x", "b": None, "c": 1.5, "d": b"\x00"})
    assert ins.alive and ins.key == ("t", (1,))
    dele = RowChange("t", (1, "k"), 2)
    assert not dele.alive and dele.values == {} and dele.deltas == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"table": "", "pk": (1,), "cl": 1},
        {"table": "t", "pk": (), "cl": 1},
        {"table": "t", "pk": [1], "cl": 1},
        {"table": "t", "pk": (True,), "cl": 1},
        {"table": "t", "pk": (1,), "cl": 0},
        {"table": "t", "pk": (1,), "cl": True},
        {"table": "t", "pk": (1,), "cl": 2, "values": {"a": 1}},
        {"table": "t", "pk": (1,), "cl": 2, "deltas": {"n": 1}},
        {"table": "t", "pk": (1,), "cl": 1, "values": {"a": True}},
        {"table": "t", "pk": (1,), "cl": 1, "values": {"a": [1]}},
        {"table": "t", "pk": (1,), "cl": 1, "values": {1: 1}},
        {"table": "t", "pk": (1,), "cl": 1, "deltas": {"n": "1"}},
        {"table": "t", "pk": (1,), "cl": 1, "deltas": {"n": False}},
        {"table": "t", "pk": (1,), "cl": 1, "values": {"n": 1}, "deltas": {"n": 1}},
    ],
)
def test_malformed_changes_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidChangeError):
        RowChange(**kwargs)


def test_combine_insert_then_update() -> None:
    ins = RowChange("t", (1,), 1, {"a": 1, "b": 2, "n": 10})
    upd = RowChange("t", (1,), 1, {"b": 3}, {"n": 5})
    assert combine(ins, upd) == RowChange("t", (1,), 1, {"a": 1, "b": 3, "n": 15})


def test_combine_updates_sum_deltas_and_absolute_write_drops_earlier_delta() -> None:
    u1 = RowChange("t", (1,), 3, {}, {"n": 2, "m": 1})
    u2 = RowChange("t", (1,), 3, {}, {"n": 3})
    assert combine(u1, u2) == RowChange("t", (1,), 3, {}, {"n": 5, "m": 1})
    u3 = RowChange("t", (1,), 3, {"n": 0})
    assert combine(combine(u1, u2), u3) == RowChange("t", (1,), 3, {"n": 0}, {"m": 1})


def test_combine_across_lives_keeps_the_later_life() -> None:
    ins = RowChange("t", (1,), 1, {"a": 1})
    dele = RowChange("t", (1,), 2)
    re = RowChange("t", (1,), 3, {"a": 2})
    assert combine(ins, dele) == dele
    assert combine(combine(ins, dele), re) == re


def test_combine_refuses_other_row_older_life_or_delta_on_text() -> None:
    with pytest.raises(InvalidChangeError):
        combine(RowChange("t", (1,), 1), RowChange("t", (2,), 1))
    with pytest.raises(InvalidChangeError):
        combine(RowChange("t", (1,), 3), RowChange("t", (1,), 1))
    with pytest.raises(InvalidChangeError):
        combine(RowChange("t", (1,), 1, {"n": "x"}), RowChange("t", (1,), 1, {}, {"n": 1}))


def test_coalesce_one_change_per_row_in_first_seen_order() -> None:
    changes = [
        RowChange("t", (2,), 1, {"a": 1}),
        RowChange("t", (1,), 1, {"a": 1}),
        RowChange("t", (2,), 1, {"a": 2}),
        RowChange("u", (2,), 1, {"a": 9}),
        RowChange("t", (1,), 2),
    ]
    assert coalesce(changes) == [
        RowChange("t", (2,), 1, {"a": 2}),
        RowChange("t", (1,), 2),
        RowChange("u", (2,), 1, {"a": 9}),
    ]
