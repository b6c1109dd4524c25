"""Column identities that row states hold cells for but the table's definition does not show.

A cell can outlive its column in the definition: a column whose defining event's generation was
dropped disappears from the table while rows written through it keep their cells, and a row change
can carry a column that its author's definition had and this replica's never had. When a column of
that identity appears again, SQL must show those cells, so the table is rebuilt from its row states
instead of altered in place (an ``ALTER TABLE ADD COLUMN`` would give every row the default).

``_p2pdb_orphans(tbl, col)`` lists them per table; a rebuild recomputes them from the states.
"""

from __future__ import annotations

from collections.abc import Iterable

import apsw

ORPHANS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_orphans (tbl TEXT NOT NULL, col TEXT NOT NULL,"
    " PRIMARY KEY (tbl, col)) WITHOUT ROWID"
)


class Orphans:
    __slots__ = ("_by_table", "_conn")

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        conn.execute(ORPHANS_SCHEMA)
        self._by_table: dict[str, set[str]] = {}
        self.reload()

    def reload(self) -> None:
        self._by_table = {}
        for table, column in self._conn.execute("SELECT tbl, col FROM _p2pdb_orphans"):
            self._by_table.setdefault(table, set()).add(column)

    def of(self, table: str) -> set[str]:
        return self._by_table.get(table, set())

    def add(self, table: str, columns: Iterable[str]) -> None:
        known = self._by_table.setdefault(table, set())
        new = [c for c in columns if c not in known]
        if new:
            known.update(new)
            self._conn.executemany(
                "INSERT OR IGNORE INTO _p2pdb_orphans VALUES (?, ?)", [(table, c) for c in new]
            )

    def replace(self, table: str, columns: Iterable[str]) -> None:
        self.clear(table)
        self.add(table, columns)

    def clear(self, table: str) -> None:
        if self._by_table.pop(table, None) is not None:
            self._conn.execute("DELETE FROM _p2pdb_orphans WHERE tbl = ?", (table,))
