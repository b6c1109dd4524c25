"""Local change capture: the net row changes of a transaction (SQLite's session extension) as the row
changes of its log entry.

Tables without a primary key are recorded by rowid (``SQLITE_SESSION_OBJCONFIG_ROWID``); an inserted row
gets its hidden identity here (:func:`p2pdb.store.rows.make_rid`), updates and deletes find it through
the rowid map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import apsw

from p2pdb.crdt import ConflictRule, RowChange, RowState, SqlValue
from p2pdb.log import Clock
from p2pdb.schema import TableSpec, ident
from p2pdb.store.errors import UnsupportedChange
from p2pdb.store.rows import RowStates, make_rid


@dataclass(slots=True)
class Captured:
    """One captured row change, with what the store needs to merge it."""

    change: RowChange
    spec: TableSpec
    state: RowState | None
    #: The row's values before the change (column identity -> value), for a change that had a row.
    old: dict[str, SqlValue]


def _next_insert_cl(state: RowState | None) -> int:
    """Causal length of an insert: the next odd value above the row's current one."""
    if state is None:
        return 1
    return state.cl + 1 if state.cl % 2 == 0 else state.cl + 2


def capture(
    changeset: bytes,
    tables: Mapping[str, TableSpec],
    rules: Mapping[str, ConflictRule],
    states: RowStates,
    clock: Clock,
) -> list[Captured]:
    """Row changes of ``changeset`` under the schema ``tables`` (by identity), in changeset order."""
    out: list[Captured] = []
    seq = 0
    for change in apsw.Changeset.iter(changeset):
        key = ident(change.name)
        spec = tables.get(key)
        if spec is None:
            raise UnsupportedChange(f"table {change.name!r} is not known to the replicated schema")
        rule = rules[key]
        names = spec.column_idents
        old_all: tuple[Any, ...] = change.old or ()
        new_all: tuple[Any, ...] = change.new or ()
        if spec.keyless:
            # Recorded by rowid: the rowid comes first, then the table's columns.
            rowid = (new_all if change.op == "INSERT" else old_all)[0]
            old_all, new_all = old_all[1:], new_all[1:]
            if change.op == "INSERT":
                rid = make_rid(clock.time, seq, clock.id)
                seq += 1
                states.map_rid(key, rid, rowid)
            else:
                found = states.rid_of(key, rowid)
                if found is None:
                    raise UnsupportedChange(
                        f"a row of {spec.name!r} has no identity (changed outside P2PDB?)"
                    )
                rid = found
                if change.op == "DELETE":
                    states.unmap_rid(key, rid)
            pk: tuple[SqlValue, ...] = (rid,)
        elif change.op == "INSERT":
            pk = tuple(new_all[names.index(c)] for c in spec.pk_idents)
        else:
            pk = tuple(old_all[names.index(c)] for c in spec.pk_idents)
        state = states.get(key, pk)
        old: dict[str, SqlValue] = {}
        if change.op == "INSERT":
            values = dict(zip(names, new_all, strict=True))
            row = RowChange(key, pk, _next_insert_cl(state), values, {}, True)
        elif change.op == "UPDATE":
            changed = [i for i, v in enumerate(new_all) if v is not apsw.no_change]
            old = {names[i]: old_all[i] for i in changed}
            new = {names[i]: new_all[i] for i in changed}
            values, deltas = rule.split_update(old, new)
            alive = state is not None and state.cl % 2 == 1
            cl = state.cl if alive and state is not None else _next_insert_cl(state)
            row = RowChange(key, pk, cl, values, deltas)
        else:  # DELETE
            old = dict(zip(names, old_all, strict=True))
            alive = state is not None and state.cl % 2 == 1
            cl = state.cl + 1 if alive and state is not None else _next_insert_cl(state) + 1
            row = RowChange(key, pk, cl)
        out.append(Captured(row, spec, state, old))
    return out
