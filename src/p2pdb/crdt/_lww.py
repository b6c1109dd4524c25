"""Last-writer-wins cells, and the default rule built on them (DESIGN.md §4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from p2pdb.log.clock import Clock

from ._change import RowChange
from ._rule import ConflictRule
from ._state import Cell, RowState
from ._values import SqlValue, same_value, value_key


def wins(value: SqlValue, version: Clock, cell: Cell) -> bool:
    """True when a write of ``value`` at ``version`` replaces ``cell``."""
    if version != cell.version:
        # Tie-break: the higher version wins. Clock order is Lamport time first, then the author's
        # public key bytes, so two different writers never tie and every replica picks the same one.
        return version > cell.version
    # Equal versions: the same entry merged again, so the values are equal and nothing changes
    # (idempotence). Different values under one version only come from an author that signed two
    # different entries with one clock; the larger canonical encoding wins, so replicas still agree.
    return not same_value(value, cell.value) and value_key(value) > value_key(cell.value)


def join_cells(
    cells: Mapping[str, Cell], values: Mapping[str, SqlValue], version: Clock
) -> dict[str, Cell] | None:
    """``cells`` with every write in ``values`` at ``version`` that wins applied; None if none wins."""
    out: dict[str, Cell] | None = None
    for col, value in values.items():
        cell = cells.get(col)
        # A column without a cell in this life takes any write: there is nothing to compare with.
        if cell is None or wins(value, version, cell):
            if out is None:
                out = dict(cells)
            out[col] = Cell(value, version)
    return out


@dataclass(frozen=True, slots=True)
class LWWRule(ConflictRule):
    """Default rule: each column keeps the value of its highest-versioned write (per-column LWW)."""

    name: ClassVar[str] = "lww"
    local_wins: ClassVar[bool] = True

    def apply(self, state: RowState, change: RowChange, clock: Clock) -> RowState:
        cells = join_cells(state.cells, change.values, clock)
        return state if cells is None else RowState(state.cl, cells, state.contribs)

    def visible(self, state: RowState) -> dict[str, SqlValue]:
        return {col: cell.value for col, cell in state.cells.items()}
