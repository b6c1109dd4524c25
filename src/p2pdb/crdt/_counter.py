"""Counter columns: concurrent increments add up (docs/crdt.md §6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from p2pdb.log.clock import Clock

from ._change import RowChange
from ._errors import InvalidChangeError, RuleError
from ._lww import join_cells
from ._rule import ConflictRule
from ._state import Contribution, RowState
from ._values import Number, SqlValue, is_number, same_value

_MISSING: Any = object()


@dataclass(frozen=True, slots=True, init=False)
class CounterRule(ConflictRule):
    """LWW for every column, plus increments for ``columns``.

    A counter column shows ``base + Σ contributions``: ``base`` is its last-writer-wins absolute value in
    the row's current life (the INSERT's value; 0 if it has none), and each author's contribution is the
    sum of that author's increments in this life. Contributions are only dropped with the life. A
    captured UPDATE of a counter column becomes an increment ``new - old`` (:meth:`split_update`), so
    ``SET hits = 0`` cancels what its writer had seen and keeps concurrent increments. If the base is not
    a number (NULL, text), increments do not apply and the base is shown as it is, as SQL would.
    """

    columns: frozenset[str]
    name: ClassVar[str] = "counter"
    local_wins: ClassVar[bool] = True

    def __init__(self, columns: Iterable[str]) -> None:
        cols = frozenset(columns) if not isinstance(columns, str) else None
        if not cols or any(type(c) is not str or not c for c in cols):
            raise RuleError(f"counter columns must be a non-empty collection of names, not {columns!r}")
        object.__setattr__(self, "columns", cols)

    def check(self, change: RowChange) -> None:
        extra = change.deltas.keys() - self.columns
        if extra:
            raise InvalidChangeError(f"deltas on columns that are not counters: {sorted(extra)}")

    def apply(self, state: RowState, change: RowChange, clock: Clock) -> RowState:
        cells = join_cells(state.cells, change.values, clock)
        contribs = state.contribs
        if change.deltas:
            author = clock.id
            prev = contribs.get(author)
            # Tie-break: an author's changes to a row arrive in the author's causal order, with increasing
            # Lamport time. One that is not newer than the author's last counted change was counted already
            # (a re-delivery): ignore it, which makes re-merging idempotent.
            if prev is None or clock.time > prev.time:
                sums = dict(prev.sums) if prev is not None else {}
                for col, delta in change.deltas.items():
                    sums[col] = sums[col] + delta if col in sums else delta
                contribs = {**contribs, author: Contribution(clock.time, sums)}
        if cells is None and contribs is state.contribs:
            return state
        return RowState(state.cl, state.cells if cells is None else cells, contribs)

    def visible(self, state: RowState) -> dict[str, SqlValue]:
        row = {col: cell.value for col, cell in state.cells.items()}
        totals: dict[str, Number] = {}
        # Add contributions in author key order: floating-point addition is not associative, so a fixed
        # order is what makes every replica show the same float.
        for author in sorted(state.contribs):
            for col, part in state.contribs[author].sums.items():
                totals[col] = totals[col] + part if col in totals else part
        for col, total in totals.items():
            if col not in self.columns:
                continue
            base = row.get(col, 0)
            if is_number(base):
                row[col] = base + total
        return row

    def split_update(
        self, old: Mapping[str, SqlValue], new: Mapping[str, SqlValue]
    ) -> tuple[dict[str, SqlValue], dict[str, Number]]:
        values: dict[str, SqlValue] = {}
        deltas: dict[str, Number] = {}
        for col, value in new.items():
            before = old.get(col, _MISSING)
            if same_value(before, value):
                continue
            if col in self.columns and is_number(before) and is_number(value):
                deltas[col] = value - before
            else:
                values[col] = value
        return values, deltas

    def spec(self) -> dict[str, Any]:
        return {"rule": self.name, "columns": sorted(self.columns)}
