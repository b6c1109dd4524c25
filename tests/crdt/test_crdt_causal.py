"""Causal-length helpers the store uses to capture local INSERT / UPDATE / DELETE."""

from __future__ import annotations

import pytest

from p2pdb.crdt import cl_for_update, is_alive, next_cl_for_delete, next_cl_for_insert


def test_life_cycle_insert_delete_reinsert() -> None:
    cl = next_cl_for_insert(0)
    assert cl == 1 and is_alive(cl)
    assert cl_for_update(cl) == 1
    cl = next_cl_for_delete(cl)
    assert cl == 2 and not is_alive(cl)
    cl = next_cl_for_insert(cl)
    assert cl == 3 and is_alive(cl)


def test_never_seen_row_is_not_alive() -> None:
    assert not is_alive(0)


@pytest.mark.parametrize("cl", [1, 3, 7])
def test_insert_over_alive_row_is_refused(cl: int) -> None:
    with pytest.raises(ValueError, match="alive"):
        next_cl_for_insert(cl)


@pytest.mark.parametrize("cl", [0, 2, 4])
def test_delete_or_update_of_missing_row_is_refused(cl: int) -> None:
    with pytest.raises(ValueError, match="not alive"):
        next_cl_for_delete(cl)
    with pytest.raises(ValueError, match="not alive"):
        cl_for_update(cl)


@pytest.mark.parametrize("bad", [-1, True, 1.0])
def test_bad_causal_length_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="causal length"):
        is_alive(bad)  # type: ignore[arg-type]
