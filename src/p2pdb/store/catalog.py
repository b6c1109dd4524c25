"""The replicated schema of one database: table and index specs with the clocks that wrote them.

``_p2pdb_tables(name, spec, time, author, dropped)`` and ``_p2pdb_indexes(name, spec, time, author)``
hold what the log says the schema is. Local DDL is detected by comparing SQLite's schema with this
catalog after a transaction (:meth:`Catalog.diff`); remote DDL is applied by :meth:`Catalog.apply`.

Merge of concurrent schema changes (deterministic on every replica):
- the same CREATE TABLE twice, or compatible ones (same primary key): the table gets the union of
  the columns; a column defined differently on both sides keeps the definition already present and
  the other is reported as a conflict;
- CREATE TABLEs with different primary keys: the definition with the *lower* clock (time, then
  author key) wins, so the first creator keeps its table; a replica holding the loser rebuilds the
  table to the winner and re-merges that table's row changes from the log; the loser is reported;
- ADD COLUMN of an existing column and CREATE INDEX of an existing name: identical is a no-op,
  different is resolved like tables (lower clock wins) and reported;
- DROP TABLE (only replicated when the writer allowed it explicitly) leaves a tombstone: later row
  changes for the table are ignored until a CREATE TABLE re-creates it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import apsw

from p2pdb.crdt import ConflictRule, RuleError, rule_from_spec
from p2pdb.log import Clock, codec
from p2pdb.store.errors import InvalidOps, UnsupportedChange
from p2pdb.store.ops import DDLOp
from p2pdb.store.schema import Column, IndexSpec, TableSpec, quote, read_indexes, read_table, user_tables

log = logging.getLogger(__name__)

CATALOG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_tables (name TEXT PRIMARY KEY, spec BLOB, time INTEGER NOT NULL,"
    " author BLOB NOT NULL, dropped INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_indexes (name TEXT PRIMARY KEY, spec BLOB NOT NULL,"
    " time INTEGER NOT NULL, author BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_columns (tbl TEXT NOT NULL, col TEXT NOT NULL, time INTEGER NOT NULL,"
    " author BLOB NOT NULL, PRIMARY KEY (tbl, col)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_creates (tbl TEXT PRIMARY KEY, time INTEGER NOT NULL,"
    " author BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_conflicts (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " name TEXT NOT NULL, detail TEXT NOT NULL, time INTEGER, author BLOB)",
)


class Catalog:
    """Table specs, their conflict rules and the schema merge, on the writer connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        for statement in CATALOG_SCHEMA:
            conn.execute(statement)
        self.tables: dict[str, TableSpec] = {}
        self.clocks: dict[str, Clock] = {}
        self.dropped: set[str] = set()
        self.indexes: dict[str, IndexSpec] = {}
        self.rules: dict[str, ConflictRule] = {}
        #: Tables whose CREATE TABLEs conflicted (different primary keys): row changes written
        #: against the losing definition are void here, as they are on a replica that rebuilt.
        self.contested: set[str] = set()
        self.schema_version = -1
        self._pending_extras: dict[str, dict[str, dict[str, Any]]] = {}
        self._pending_rules: dict[str, dict[str, Any]] = {}
        self.reload()

    def reload(self) -> None:
        self._pending_extras.clear()
        self._pending_rules.clear()
        self.tables.clear()
        self.clocks.clear()
        self.dropped.clear()
        self.indexes.clear()
        self.rules.clear()
        for name, spec, time, author, dropped in self._conn.execute("SELECT * FROM _p2pdb_tables"):
            self.clocks[name] = Clock(time, author)
            if dropped:
                self.dropped.add(name)
            else:
                table = TableSpec.from_ipld(codec.decode(spec))
                self.tables[name] = table
                self.rules[name] = rule_from_spec(table.rule)
        for _name, spec, _time, _author in self._conn.execute("SELECT * FROM _p2pdb_indexes"):
            index = IndexSpec.from_ipld(codec.decode(spec))
            self.indexes[index.name] = index
        self.contested = {
            name
            for (name,) in self._conn.execute(
                "SELECT DISTINCT name FROM _p2pdb_conflicts WHERE kind = 'create_table'"
            )
        }
        self.schema_version = self.current_schema_version()

    def current_schema_version(self) -> int:
        for (version,) in self._conn.execute("PRAGMA schema_version"):
            return int(version)
        return 0

    # -- registry -------------------------------------------------------------------------------

    def _put_table(self, spec: TableSpec, clock: Clock) -> None:
        try:
            rule = rule_from_spec(spec.rule)
        except (RuleError, TypeError, ValueError) as exc:
            raise InvalidOps(f"table {spec.name!r} names an unusable conflict rule: {exc}") from exc
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_tables (name, spec, time, author, dropped) VALUES (?, ?, ?, ?, 0)",
            (spec.name, codec.encode(spec.to_ipld()), clock.time, clock.id),
        )
        self.tables[spec.name] = spec
        self.clocks[spec.name] = clock
        self.dropped.discard(spec.name)
        self.rules[spec.name] = rule

    def _put_index(self, spec: IndexSpec, clock: Clock) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_indexes (name, spec, time, author) VALUES (?, ?, ?, ?)",
            (spec.name, codec.encode(spec.to_ipld()), clock.time, clock.id),
        )
        self.indexes[spec.name] = spec

    def _index_clock(self, name: str) -> Clock:
        for time, author in self._conn.execute(
            "SELECT time, author FROM _p2pdb_indexes WHERE name = ?", (name,)
        ):
            return Clock(time, author)
        return Clock(0, b"")

    def _note_create(self, table: str, clock: Clock) -> None:
        """Remember the highest clock of any CREATE TABLE of ``table`` merged here."""
        if clock > self._latest_create(table):
            self._conn.execute(
                "INSERT OR REPLACE INTO _p2pdb_creates (tbl, time, author) VALUES (?, ?, ?)",
                (table, clock.time, clock.id),
            )

    def _latest_create(self, table: str) -> Clock:
        for time, author in self._conn.execute(
            "SELECT time, author FROM _p2pdb_creates WHERE tbl = ?", (table,)
        ):
            return Clock(time, author)
        return Clock(0, b"")

    def _column_clock(self, table: str, column: str) -> Clock:
        """The clock of the change that defined a column (its table's creation clock by default)."""
        rows = self._conn.execute(
            "SELECT time, author FROM _p2pdb_columns WHERE tbl = ? AND col = ?", (table, column)
        )
        for time, author in rows:
            return Clock(time, author)
        return self.clocks[table]

    def _put_column_clock(self, table: str, column: str, clock: Clock) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_columns (tbl, col, time, author) VALUES (?, ?, ?, ?)",
            (table, column, clock.time, clock.id),
        )

    def report(self, kind: str, name: str, detail: str, clock: Clock | None) -> None:
        log.warning("schema conflict (%s) on %s: %s", kind, name, detail)
        if kind == "create_table":
            self.contested.add(name)
        self._conn.execute(
            "INSERT INTO _p2pdb_conflicts (kind, name, detail, time, author) VALUES (?, ?, ?, ?, ?)",
            (kind, name, detail, clock.time if clock else None, clock.id if clock else None),
        )

    # -- local DDL ------------------------------------------------------------------------------

    def note_extras(self, table: str, extras: dict[str, dict[str, Any]]) -> None:
        """Column extras (MySQL type text, AUTO_INCREMENT, comment) for columns that the running
        transaction creates; :meth:`diff` attaches them to the new columns' specs."""
        self._pending_extras.setdefault(table, {}).update(extras)

    def note_rule(self, table: str, rule: dict[str, Any]) -> None:
        """The conflict rule (``{"rule": "counter", "columns": [...]}``) of a table that the running
        transaction creates; it travels with the table's spec to every replica."""
        try:
            rule_from_spec(rule)
        except (RuleError, TypeError, ValueError) as exc:
            raise UnsupportedChange(f"unusable conflict rule for {table!r}: {exc}") from exc
        self._pending_rules[table] = dict(rule)

    def _with_extras(self, current: TableSpec, known: TableSpec | None) -> TableSpec:
        pending = self._pending_extras.get(current.name, {})
        columns = []
        for col in current.columns:
            old = known.column(col.name) if known is not None else None
            extra = pending.get(col.name, old.extra if old is not None else None)
            columns.append(col.with_extra(extra))
        return TableSpec(current.name, tuple(columns), current.pk, current.rule)

    def diff(self, clock: Clock, *, allow_drop: bool) -> list[DDLOp]:
        """Schema changes made by the running local transaction, as ops; registers them."""
        try:
            return self._diff(clock, allow_drop=allow_drop)
        finally:
            self._pending_extras.clear()
            self._pending_rules.clear()

    def _diff(self, clock: Clock, *, allow_drop: bool) -> list[DDLOp]:
        version = self.current_schema_version()
        if version == self.schema_version:
            return []
        ops: list[DDLOp] = []
        now = user_tables(self._conn)
        for name in sorted(set(self.tables) - set(now)):
            if not allow_drop:
                raise UnsupportedChange(
                    f"DROP TABLE {name!r} would drop it on every peer; enable replicated drops explicitly"
                    " (SET p2pdb_replicate_drop = 1) or rename is not supported"
                )
            ops.append(DDLOp("drop_table", {"t": name}))
            self._conn.execute(
                "UPDATE _p2pdb_tables SET dropped = 1, spec = NULL, time = ?, author = ? WHERE name = ?",
                (clock.time, clock.id, name),
            )
            del self.tables[name]
            self.dropped.add(name)
            for iname in [i for i, spec in self.indexes.items() if spec.table == name]:
                self._conn.execute("DELETE FROM _p2pdb_indexes WHERE name = ?", (iname,))
                del self.indexes[iname]
        for name in now:
            known = self.tables.get(name)
            rule = known.rule if known else self._pending_rules.get(name)
            current = self._with_extras(read_table(self._conn, name, rule), known)
            if known is None:
                ops.append(DDLOp("create_table", {"spec": current.to_ipld()}))
                self._note_create(name, clock)
                self._put_table(current, clock)
            elif current != known:
                if current.pk != known.pk or current.columns[: len(known.columns)] != known.columns:
                    raise UnsupportedChange(
                        f"changing or dropping existing columns of {name!r} cannot be replicated;"
                        " only ADD COLUMN is supported"
                    )
                for col in current.columns[len(known.columns) :]:
                    ops.append(DDLOp("add_column", {"t": name, "col": col.to_ipld()}))
                    self._put_column_clock(name, col.name, clock)
                self._put_table(current, self.clocks[name])
            ops.extend(self._diff_indexes(name, clock))
        self.schema_version = version
        return ops

    def _diff_indexes(self, table: str, clock: Clock) -> list[DDLOp]:
        ops: list[DDLOp] = []
        current = {i.name: i for i in read_indexes(self._conn, table)}
        known = {n: i for n, i in self.indexes.items() if i.table == table}
        for name in sorted(set(known) - set(current)):
            ops.append(DDLOp("drop_index", {"name": name}))
            self._conn.execute("DELETE FROM _p2pdb_indexes WHERE name = ?", (name,))
            del self.indexes[name]
        for name in sorted(current):
            if known.get(name) != current[name]:
                ops.append(DDLOp("create_index", {"spec": current[name].to_ipld()}))
                self._put_index(current[name], clock)
        return ops

    # -- remote DDL -----------------------------------------------------------------------------

    def apply(self, op: DDLOp, clock: Clock, rebuild: Callable[[str], None]) -> None:
        """Apply a schema change from a log entry (validated here; raises InvalidOps)."""
        body = op.body
        if op.kind == "create_table":
            self._apply_create_table(TableSpec.from_ipld(body.get("spec")), clock, rebuild)
        elif op.kind == "add_column":
            table = self._table_for(body.get("t"))
            if table is not None:
                self._apply_add_column(table, Column.from_ipld(body.get("col")), clock, rebuild)
        elif op.kind == "create_index":
            self._apply_create_index(IndexSpec.from_ipld(body.get("spec")), clock)
        elif op.kind == "drop_index":
            name = body.get("name")
            if not isinstance(name, str):
                raise InvalidOps("drop_index needs a name")
            if name in self.indexes:
                self._conn.execute(f"DROP INDEX IF EXISTS {quote(name)}")
                self._conn.execute("DELETE FROM _p2pdb_indexes WHERE name = ?", (name,))
                del self.indexes[name]
        elif op.kind == "drop_table":
            self._apply_drop_table(body.get("t"), clock)
        self.schema_version = self.current_schema_version()

    def _table_for(self, name: Any) -> TableSpec | None:
        if not isinstance(name, str):
            raise InvalidOps("table name must be a string")
        if name in self.dropped:
            return None
        table = self.tables.get(name)
        if table is None:
            raise InvalidOps(f"unknown table {name!r}")
        return table

    def _apply_create_table(self, spec: TableSpec, clock: Clock, rebuild: Callable[[str], None]) -> None:
        # A table exists when its latest CREATE is newer than its latest DROP (clock order), whatever
        # order they arrive in: every create is remembered, even one merged into an existing table.
        self._note_create(spec.name, clock)
        known = self.tables.get(spec.name)
        if known is None:
            if spec.name in self.dropped and clock < self.clocks[spec.name]:
                self.report("create_table", spec.name, "create older than the drop that removed it", clock)
                return
            self._conn.execute(spec.render())
            self._put_table(spec, clock)
            return
        if known.pk != spec.pk:
            known_clock = self.clocks[spec.name]
            winner_is_incoming = clock < known_clock
            # Report the losing definition, so every replica records the same conflict whichever
            # definition it held first.
            winner, loser = (spec, known) if winner_is_incoming else (known, spec)
            loser_clock = known_clock if winner_is_incoming else clock
            self.report(
                "create_table",
                spec.name,
                f"primary keys differ: kept {list(winner.pk)} (older), dropped {list(loser.pk)}",
                loser_clock,
            )
            if winner_is_incoming:
                self._conn.execute(f"DROP TABLE {quote(spec.name)}")
                self._conn.execute(spec.render())
                self._put_table(spec, clock)
                self._restore_indexes(spec)
                rebuild(spec.name)
            return
        for col in spec.columns:
            self._apply_add_column(self.tables[spec.name], col, clock, rebuild)

    def _restore_indexes(self, table: TableSpec) -> None:
        """Re-create the indexes of a rebuilt table (its DROP TABLE dropped them) that fit the new
        definition, and forget the others, as a replica that only ever had that definition would
        (otherwise the next local DDL would see them missing and replicate a DROP INDEX)."""
        for index in [i for i in self.indexes.values() if i.table == table.name]:
            if all(c in table.column_names for c in index.columns):
                self._conn.execute(index.render())
            else:
                self._conn.execute("DELETE FROM _p2pdb_indexes WHERE name = ?", (index.name,))
                del self.indexes[index.name]

    def _apply_add_column(
        self, table: TableSpec, col: Column, clock: Clock, rebuild: Callable[[str], None]
    ) -> None:
        existing = table.column(col.name)
        if existing is None:
            self._conn.execute(f"ALTER TABLE {quote(table.name)} ADD COLUMN {col.render()}")
            updated = TableSpec(table.name, (*table.columns, col), table.pk, table.rule)
            self._put_table(updated, self.clocks[table.name])  # a table keeps its creation clock
            self._put_column_clock(table.name, col.name, clock)
            return
        if existing == col:
            return
        # Two definitions of one column: the one with the lower clock wins on every replica (the
        # first definer keeps its column, as for tables); the loser is reported the same way on all.
        existing_clock = self._column_clock(table.name, col.name)
        name = f"{table.name}.{col.name}"
        if not clock < existing_clock:
            self.report("add_column", name, f"kept {existing}, not {col}", clock)
            return
        self.report("add_column", name, f"kept {col}, not {existing}", existing_clock)
        columns = tuple(col if c.name == col.name else c for c in table.columns)
        updated = TableSpec(table.name, columns, table.pk, table.rule)
        # SQLite cannot change a column's type: rebuild the table and re-merge its rows from the log.
        self._conn.execute(f"DROP TABLE {quote(table.name)}")
        self._conn.execute(updated.render())
        self._put_table(updated, self.clocks[table.name])
        self._put_column_clock(table.name, col.name, clock)
        self._restore_indexes(updated)
        rebuild(table.name)

    def _apply_create_index(self, spec: IndexSpec, clock: Clock) -> None:
        table = self._table_for(spec.table)
        if table is None:
            return
        if any(c not in table.column_names for c in spec.columns):
            raise InvalidOps(f"index {spec.name!r} names unknown columns")
        known = self.indexes.get(spec.name)
        if known == spec:
            return
        if known is not None:
            if not clock < self._index_clock(spec.name):
                self.report("create_index", spec.name, f"kept {known}, not {spec}", clock)
                return
            self.report("create_index", spec.name, f"replaced {known} by the older {spec}", clock)
            self._conn.execute(f"DROP INDEX IF EXISTS {quote(spec.name)}")
        self._conn.execute(spec.render())
        self._put_index(spec, clock)

    def _apply_drop_table(self, name: Any, clock: Clock) -> None:
        table = self._table_for(name)
        if table is None:
            return
        latest = self._latest_create(table.name)
        if clock < latest:
            self.report("drop_table", table.name, "a newer concurrent CREATE TABLE keeps the table", clock)
            return
        self._conn.execute(f"DROP TABLE IF EXISTS {quote(table.name)}")
        self._conn.execute(
            "UPDATE _p2pdb_tables SET dropped = 1, spec = NULL, time = ?, author = ? WHERE name = ?",
            (clock.time, clock.id, table.name),
        )
        del self.tables[table.name]
        self.rules.pop(table.name, None)
        self.dropped.add(table.name)
        self.clocks[table.name] = clock
        for iname in [i for i, spec in self.indexes.items() if spec.table == table.name]:
            self._conn.execute("DELETE FROM _p2pdb_indexes WHERE name = ?", (iname,))
            del self.indexes[iname]
