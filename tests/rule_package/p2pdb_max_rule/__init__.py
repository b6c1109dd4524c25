"""Conflict rule ``max``: in the listed columns the greatest number written wins, whoever wrote it
and whenever; other columns are last-writer-wins. A table chooses it with
``COMMENT='p2pdb:max(high_score)'``.

A rule must make ``apply`` a join (commutative, associative, idempotent over the writes it is
given): here each max column keeps the greatest write in one total order (numbers above anything
else, then by value, then by version), and a maximum over a total order is a join.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from p2pdb.crdt import Cell, ConflictRule, RowChange, RowState, RuleError, SqlValue, join_cells
from p2pdb.log.clock import Clock


def _rank(value: SqlValue, version: Clock) -> tuple[Any, ...]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value, version)
    return (0, version)


class MaxRule(ConflictRule):
    __slots__ = ("columns",)
    name: ClassVar[str] = "max"

    def __init__(self, columns: Iterable[str]) -> None:
        cols = frozenset(columns) if not isinstance(columns, str) else frozenset()
        if not cols:
            raise RuleError("max needs the columns it applies to: p2pdb:max(col, ...)")
        self.columns = cols

    def apply(self, state: RowState, change: RowChange, clock: Clock) -> RowState:
        plain = {c: v for c, v in change.values.items() if c not in self.columns}
        cells = join_cells(state.cells, plain, clock)
        for column, value in change.values.items():
            if column not in self.columns:
                continue
            current = (cells or state.cells).get(column)
            if current is None or _rank(value, clock) > _rank(current.value, current.version):
                cells = dict(cells or state.cells)
                cells[column] = Cell(value, clock)
        return state if cells is None else RowState(state.cl, cells, state.contribs)

    def visible(self, state: RowState) -> dict[str, SqlValue]:
        return {column: cell.value for column, cell in state.cells.items()}

    def split_update(
        self, old: Mapping[str, SqlValue], new: Mapping[str, SqlValue]
    ) -> tuple[dict[str, SqlValue], dict[str, Any]]:
        return {c: v for c, v in new.items() if old.get(c) != v or type(old.get(c)) is not type(v)}, {}

    def spec(self) -> dict[str, Any]:
        return {"rule": self.name, "columns": sorted(self.columns)}
