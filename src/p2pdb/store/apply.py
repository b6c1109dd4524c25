"""Making SQL show the merge state: row changes, UNIQUE settlement, table migrations and rebuilds.

What SQL shows of a table is a function of the resolved schema and the row states alone
(:mod:`p2pdb.store.project`, :mod:`p2pdb.store.settle`). :class:`Materializer` keeps it so:

- :meth:`apply_row` merges one row change and writes the row (the fast path: one statement), settling
  UNIQUE values when a clash appears or a row waits for a value;
- :meth:`migrate` follows a schema change: ADD COLUMN and new indexes in place, anything else by
  rebuilding the table from its row states, and a change of which row changes count (a dropped
  generation, a contested primary key or rule) by replaying that table's row changes from the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import apsw

from p2pdb.crdt import InvalidChangeError, RowChange, RowState, SqlValue, first_insert, merge
from p2pdb.log import CID, Clock
from p2pdb.schema import Column, ResolvedTable, Schema, SchemaEvent, TableSpec, ViewSpec, ident, quote
from p2pdb.store.conflicts import clock_key
from p2pdb.store.decimal_text import decimal_scales, exact_key, exact_row
from p2pdb.store.project import default_value, show
from p2pdb.store.rows import pk_key
from p2pdb.store.settle import Candidate, Display, claim_of, greedy, index_key, index_values

if TYPE_CHECKING:
    from p2pdb.store.database import Database

log = logging.getLogger(__name__)
Row = dict[str, SqlValue]
_ABSENT: Any = object()
#: A column as :meth:`Materializer._shown_row` reads it: name, identity, definition, the value
#: types the column shows unchanged (:func:`p2pdb.store.project.show`), its length limit.
_PlannedColumn = tuple[str, str, Column, frozenset[type], int | None]
_KEPT: dict[str, frozenset[type]] = {
    "INTEGER": frozenset((int,)),
    "NUMERIC": frozenset((int,)),
    "REAL": frozenset((float,)),
    "TEXT": frozenset((str, bytes)),
    "BLOB": frozenset((int, float, str, bytes)),
}
#: Records one change event of a table in the feed: (op, key, row, changed columns).
Recorder = Callable[[str, tuple[SqlValue, ...], Row, list[str]], None]


class Materializer:
    """Writes merged rows to SQL for one :class:`~p2pdb.store.database.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: The feed recorder and the column plan of each table definition met (:meth:`_per_spec`).
        self._recorders: dict[int, tuple[TableSpec, Any]] = {}
        self._plans: dict[int, tuple[TableSpec, Any]] = {}

    # -- projection -------------------------------------------------------------------------------

    def project(
        self, table: ResolvedTable, state: RowState, pk: tuple[SqlValue, ...]
    ) -> tuple[Row, dict[str, SqlValue]]:
        """(the row SQL shows for ``state`` by column name, stored values it cannot show as they are).
        Key columns show the row's key, whatever the cells say."""
        visible = self.db.catalog.rules[table.spec.ident].visible(state)
        return self._shown_row(table.spec, visible, pk)

    def _shown_row(
        self, spec: TableSpec, visible: Mapping[str, SqlValue], pk: tuple[SqlValue, ...]
    ) -> tuple[Row, dict[str, SqlValue]]:
        """The row SQL shows for the cells ``visible`` (by column identity): key columns show ``pk``,
        absent columns their default, every value as its column shows it (:func:`show`; a value of a
        type the column keeps as it is needs no call), with the values it cannot show as they are."""
        if not spec.pk:
            keyed: dict[str, SqlValue] = {}
        elif len(pk) == 1:
            keyed = {spec.pk_idents[0]: pk[0]}
        else:
            keyed = dict(zip(spec.pk_idents, pk, strict=True))
        row: Row = {}
        notes: dict[str, SqlValue] = {}
        for name, key, col, kept, limit in self._per_spec(self._plans, spec, _column_plan):
            value = keyed[key] if key in keyed else visible.get(key, _ABSENT)
            if type(value) in kept and (limit is None or type(value) is not str or len(value) <= limit):
                row[name] = value
                continue
            if value is _ABSENT:
                row[name] = default_value(col)
                continue
            shown, differs = show(value, col)
            if differs:
                notes[name] = value
            row[name] = shown
        return row, notes

    def _projector(self, table: ResolvedTable) -> Callable[[tuple[SqlValue, ...]], tuple[Row, Clock] | None]:
        uniques = [i for i in table.indexes if i.unique]

        def project(pk: tuple[SqlValue, ...]) -> tuple[Row, Clock] | None:
            state = self.db.rows.get(table.spec.ident, pk)
            if state is None or not state.alive:
                return None
            row, _ = self.project(table, state, pk)
            return row, claim_of({c: cell.version for c, cell in state.cells.items()}, uniques)

        return project

    def _freed(
        self, table: ResolvedTable, state: RowState | None, pk: tuple[SqlValue, ...]
    ) -> list[tuple[str, bytes]]:
        """The UNIQUE value keys a row held before a change."""
        if state is None or not state.alive:
            return []
        row, _ = self.project(table, state, pk)
        out = []
        for index in table.indexes:
            values = index_values(index, row) if index.unique else None
            if values is not None:
                out.append((index.ident, index_key(table.spec, index, values)))
        return out

    @staticmethod
    def _per_spec(
        cache: dict[int, tuple[TableSpec, Any]], spec: TableSpec, make: Callable[[TableSpec], Any]
    ) -> Any:
        """``make(spec)``, kept by the definition's id (the entry holds the definition, so its id
        stays its own); the cache is emptied when it grows past a few hundred definitions."""
        known = cache.get(id(spec))
        if known is not None and known[0] is spec:
            return known[1]
        if len(cache) >= 256:
            cache.clear()
        made = make(spec)
        cache[id(spec)] = (spec, made)
        return made

    def _recorder(self, spec: TableSpec) -> Recorder:
        recorder: Recorder = self._per_spec(self._recorders, spec, self._make_recorder)
        return recorder

    def _make_recorder(self, spec: TableSpec) -> Recorder:
        scales = decimal_scales(spec)
        if scales:  # DECIMAL columns: exact text in the feed (p2pdb.store.decimal_text)

            def record_exact(op: str, pk: tuple[SqlValue, ...], row: Row, changed: list[str]) -> None:
                key = exact_key(spec, pk, scales)
                self.db.changes.record(spec.name, op, key, exact_row(row, scales), changed)

            return record_exact

        def record(op: str, pk: tuple[SqlValue, ...], row: Row, changed: list[str]) -> None:
            self.db.changes.record(spec.name, op, pk, row, changed)

        return record

    def _note_values(
        self, table: str, pk: Sequence[SqlValue], notes: Mapping[str, SqlValue], row: Row
    ) -> None:
        conflicts = self.db.conflicts
        if not notes and table not in conflicts.value_tables:
            return
        key = pk_key(pk)
        conflicts.clear_row("value", table, key)
        for column, stored in notes.items():
            conflicts.record("value", table, key, column, f"shows {row[column]!r}", {column: stored})

    # -- one row change ---------------------------------------------------------------------------

    def apply_row(self, change: RowChange, clock: Clock, cid: bytes, at: ResolvedTable) -> None:
        """Merge a row change written against ``at`` (its table as its author had it) and show it."""
        db = self.db
        table = db.catalog.schema.tables.get(change.table)
        reason = self._void_reason(change, at, table)
        if reason is not None:
            if reason != "dropped" or self._lost_to_drops(cid, change.table):
                db.conflicts.record(
                    "lost_write",
                    change.table,
                    pk_key(change.pk),
                    reason,
                    _lost_detail(reason),
                    dict(change.values),
                    cid,
                    clock.time,
                    clock.id,
                )
            return
        assert table is not None
        state = db.rows.get(change.table, change.pk)
        rule = db.catalog.rules[change.table]
        first = first_insert(state, change, clock, rule)
        if first is not None:
            # The first change this replica sees of the row inserts it (replication, catch-up): the
            # merge's answer is known (its action: an insert). The rule's check ran in _void_reason.
            db.rows.put(change.table, change.pk, first)
            self.note_orphans(table, change)
            if table.spec.ident in db.settler.active or not table.spec.pk:
                db.sql.flush()
                self.show_row(table, change.pk, None, first, "insert", ())
            else:
                self._show_first(table, change)
            return
        db.sql.flush()  # what follows may read the table: rows kept by insert_later go first
        outcome = merge(state, change, clock, rule)
        if outcome.state_changed:
            db.rows.put(change.table, change.pk, outcome.state)
            self.note_orphans(table, change)
        self.track_duplicates(change, clock, cid, state, outcome.state, outcome.duplicate)
        if outcome.action == "none":
            # Nothing visible changed, but a newer version of a UNIQUE column's cell changes the row's
            # claim on its values: where rows wait for values, that can change who shows them.
            if (
                outcome.state_changed
                and table.spec.ident in db.settler.active
                and any(i.unique for i in table.indexes)
            ):
                self._settle(table, change.pk, state, outcome.state)
            return
        self.show_row(table, change.pk, state, outcome.state, outcome.action, outcome.changed)

    def _show_first(self, table: ResolvedTable, change: RowChange) -> None:
        """:meth:`show_row` of a row's first insert, for a table with a primary key where no row
        waits for a UNIQUE value: the row is every written cell, key columns showing the key."""
        spec = table.spec
        pk = change.pk
        row, notes = self._shown_row(spec, change.values, pk)
        if not any(i.unique for i in table.indexes):
            self.db.sql.insert_later(spec, row)
        else:
            try:
                self.db.sql.flush()
                self.db.sql.insert(spec, pk, row)
            except apsw.ConstraintError as exc:
                if "UNIQUE" not in str(exc):
                    raise
                state = self.db.rows.get(change.table, pk)
                assert state is not None
                self._settle(table, pk, None, state)
                return
        self._recorder(spec)("insert", pk, row, list(row))
        self._note_values(spec.ident, pk, notes, row)

    def note_orphans(self, table: ResolvedTable, change: RowChange) -> None:
        """Remember cells of columns the table's definition does not show (see :mod:`orphans`)."""
        shown = table.spec.column_ident_set
        if change.values.keys() <= shown and (not change.deltas or change.deltas.keys() <= shown):
            return
        extra = [c for c in (*change.values, *change.deltas) if c not in shown]
        if extra:
            self.db.orphans.add(table.spec.ident, extra)

    def _void_reason(self, change: RowChange, at: ResolvedTable, table: ResolvedTable | None) -> str | None:
        if table is None or not (table.gens & at.gens):
            return "dropped"
        if table.spec.pk_idents != at.spec.pk_idents:
            return "primary_key"
        try:
            self.db.catalog.rules[change.table].check(change)
        except InvalidChangeError:
            return "rule"
        return None

    def _lost_to_drops(self, cid: bytes, table: str) -> bool:
        """A change voided by dropped generations is *lost* unless a DROP that removed it saw it."""
        drops = [e for e in self.db.catalog.events.values() if e.kind == "drop_table" and e.table == table]
        log_ = self.db.log
        return not any(log_.is_ancestor(CID(cid), CID(d.cid)) for d in drops)

    def track_duplicates(
        self,
        change: RowChange,
        clock: Clock,
        cid: bytes,
        before: RowState | None,
        after: RowState,
        loser: Clock | None,
    ) -> None:
        conflicts = self.db.conflicts
        if before is not None and after.cl != before.cl and before.origin is not None:
            # a new life: the old one's records go
            conflicts.clear_row("duplicate_key", change.table, pk_key(change.pk))
        if loser is None:
            return
        key = pk_key(change.pk)
        # The losing insert by its clock only: its entry may be pruned (conflicts.py, duplicate_key).
        conflicts.record(
            "duplicate_key",
            change.table,
            key,
            "insert",
            "inserted concurrently with another insert of this key; the later insert's values show",
            {},
            clock_key(loser.time, loser.id),
            loser.time,
            loser.id,
        )

    def insert_of(
        self, table: str, pk: tuple[SqlValue, ...], clock: Clock
    ) -> tuple[bytes, dict[str, SqlValue]] | None:
        for cid in self.db.log.find(clock):
            entry = self.db.log.get(cid)
            if entry is None:
                continue
            for op in self.db.ops_of(entry):
                if isinstance(op, RowChange) and op.table == table and op.pk == pk and op.insert:
                    return bytes(cid), dict(op.values)
        return None

    def show_row(
        self,
        table: ResolvedTable,
        pk: tuple[SqlValue, ...],
        before: RowState | None,
        after: RowState,
        action: str,
        changed_idents: Iterable[str],
    ) -> None:
        """Make SQL show row ``pk`` as ``after`` says (``before``: the state SQL showed)."""
        db = self.db
        spec = table.spec
        record = self._recorder(spec)
        uniques = [i for i in table.indexes if i.unique]
        if uniques and spec.ident in db.settler.active:
            # Some rows of this table wait for UNIQUE values: any change may take or free one.
            self._settle(table, pk, before, after)
            return
        if not after.alive:
            if db.sql.delete(spec, pk):
                record("delete", pk, {}, [])
            self._note_values(spec.ident, pk, {}, {})
            return
        row, notes = self.project(table, after, pk)
        try:
            if action == "insert":
                if before is not None and before.alive:
                    db.sql.delete(spec, pk)  # the row's older life, if SQL shows it
                db.sql.insert(spec, pk, row)
                record("insert", pk, row, list(row))
            else:
                names = spec.name_of
                changed = {names[c]: row[names[c]] for c in changed_idents if c in names}
                db.sql.update(spec, pk, changed)
                record("update", pk, row, list(changed))
        except apsw.ConstraintError as exc:
            if not uniques or "UNIQUE" not in str(exc):
                raise
            self._settle(table, pk, before, after)
            return
        self._note_values(spec.ident, pk, notes, row)

    def after_local(
        self,
        table: ResolvedTable,
        pk: tuple[SqlValue, ...],
        before: RowState | None,
        after: RowState,
        row: Row,
    ) -> None:
        """A local statement already wrote the row; settle if rows of its table wait for values."""
        key = table.spec.ident
        if any(i.unique for i in table.indexes) and key in self.db.settler.active:
            self._settle(table, pk, before, after)
        elif key in self.db.conflicts.value_tables:
            notes = self.project(table, after, pk)[1] if after.alive else {}
            self._note_values(key, pk, notes, row)

    def _settle(
        self, table: ResolvedTable, pk: tuple[SqlValue, ...], before: RowState | None, after: RowState
    ) -> None:
        db = self.db
        spec = table.spec
        freed = self._freed(table, before, pk)
        if not after.alive:
            if db.sql.delete(spec, pk):
                self._recorder(spec)("delete", pk, {}, [])
            db.settler.forget(spec.ident, pk_key(pk))
            self._note_values(spec.ident, pk, {}, {})
            seeds: list[tuple[SqlValue, ...]] = []
        else:
            seeds = [pk]
            row, notes = self.project(table, after, pk)
            self._note_values(spec.ident, pk, notes, row)
        db.settler.settle(spec, table.indexes, self._projector(table), seeds, freed, self._recorder(spec))

    # -- schema changes ---------------------------------------------------------------------------

    def migrate(self, before: Schema, after: Schema, events: Sequence[SchemaEvent], *, local: bool) -> None:
        """Make SQLite's tables match ``after`` (the schema was ``before``). Each table whose resolved
        definition changed gets one ``ddl`` change event, before the row events a rebuild makes:
        ``create_table`` / ``alter_table`` with the resulting definition and indexes, or ``drop_table``."""
        for event in events:
            if event.kind == "drop_table":
                self._forgive(event)
        changed_views = sorted(
            k for k in set(before.views) | set(after.views) if before.views.get(k) != after.views.get(k)
        )
        for key in changed_views:
            self._drop_view(key)
        for key in sorted(set(before.tables) | set(after.tables)):
            old, new = before.tables.get(key), after.tables.get(key)
            if old == new:
                continue
            self._ddl_event(old, new)
            replays = (
                old is not None
                and new is not None
                and (
                    old.gens - new.gens
                    or old.spec.pk_idents != new.spec.pk_idents
                    or old.spec.rule != new.spec.rule
                )
            )
            if not replays:
                self._reevaluate_lost(key, new)
            if old is not None and new is not None:
                gone = set(old.spec.column_idents) - set(new.spec.column_idents)
                if gone:  # rows keep their cells of a column that disappeared
                    self.db.orphans.add(key, gone)
            if new is None:
                assert old is not None
                self._drop(old, events, local=local)
            elif old is None:
                self._create(new, local=local)
            elif (
                old.gens - new.gens
                or old.spec.pk_idents != new.spec.pk_idents
                or old.spec.rule != new.spec.rule
            ):
                self.replay(new, old)
            elif local:
                self._check_local(old, new)
            else:
                self._alter(old, new)
        for key in changed_views:
            view = after.views.get(key)
            old_view = before.views.get(key)
            name = (view or old_view).name  # type: ignore[union-attr]
            body = (
                {"ddl": "drop_view", "v": name} if view is None else {"ddl": "create_view", **view.to_ipld()}
            )
            self.db.changes.record(name, "ddl", [], body, [])
            if view is not None:
                self.create_view(view)

    # -- views ------------------------------------------------------------------------------------

    def _drop_view(self, key: str) -> None:
        for (name,) in list(
            self.db.conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'view' AND name = ? COLLATE NOCASE", (key,)
            )
        ):
            self.db.conn.execute(f"DROP VIEW IF EXISTS {quote(str(name))}")

    def create_view(self, view: ViewSpec) -> None:
        """Make SQLite's view from the SQL layer's translation of the view's query (without an SQL
        layer, or if the query no longer translates, the view is kept in the schema only)."""
        compile_view = self.db.compile_view
        if compile_view is None:
            return
        try:
            select = compile_view(view)
        except Exception:  # a query this node cannot translate: the view stays unusable here
            log.warning("view %r of %s cannot be made", view.name, self.db.name, exc_info=True)
            return
        if self.db.catalog.schema.table(view.name) is not None:
            return
        columns = f" ({', '.join(quote(c) for c in view.columns)})" if view.columns else ""
        self._drop_view(view.ident)
        try:
            self.db.conn.execute(f"CREATE VIEW {quote(view.name)}{columns} AS {select}")
        except apsw.Error:
            log.warning("view %r of %s cannot be made", view.name, self.db.name, exc_info=True)

    def sync_views(self) -> None:
        """Make every view of the schema that SQLite lacks (once an SQL layer can translate them)."""
        present = {
            ident(str(n))
            for (n,) in self.db.conn.execute("SELECT name FROM sqlite_schema WHERE type = 'view'")
        }
        for key, view in sorted(self.db.catalog.schema.views.items()):
            if key not in present:
                self.create_view(view)

    def _forgive(self, drop: SchemaEvent) -> None:
        """Writes a DROP TABLE had seen are not lost to a drop: forget records that said so."""
        log_ = self.db.log
        rows = self.db.conn.execute(
            "SELECT DISTINCT cid FROM _p2pdb_conflicts WHERE kind = 'lost_write' AND tbl = ? AND subject = 'dropped'",
            (drop.table,),
        )
        for (cid,) in list(rows):
            if log_.is_ancestor(CID(bytes(cid)), CID(drop.cid)):
                self.db.conn.execute(
                    "DELETE FROM _p2pdb_conflicts WHERE kind = 'lost_write' AND tbl = ? AND cid = ?",
                    (drop.table, cid),
                )

    def _reevaluate_lost(self, key: str, table: ResolvedTable | None) -> None:
        """Lost-write records are a function of the resolved schema: after it changed, decide each
        recorded change again (a change lost to a contested key may since have been dropped by a
        DROP that saw it)."""
        db = self.db
        cids = [
            bytes(c)
            for (c,) in db.conn.execute(
                "SELECT DISTINCT cid FROM _p2pdb_conflicts WHERE kind = 'lost_write' AND tbl = ?", (key,)
            )
        ]
        for cid in cids:
            entry = db.log.get(CID(cid))
            # An entry pruned below a checkpoint (a light node, or one started from a snapshot) is
            # decided from what is known. While the table exists, its record cannot change here: a
            # change of key, rule or generations replays the table instead (a history gap when
            # pruned). When the table is dropped, the DROP saw the entry, because a DROP that does not
            # cover the floor is a history gap (_record_concurrent_writes): as on an archive, the
            # change is not lost.
            if entry is None and table is not None:
                continue
            db.conn.execute(
                "DELETE FROM _p2pdb_conflicts WHERE kind = 'lost_write' AND tbl = ? AND cid = ?", (key, cid)
            )
            if entry is None:
                continue
            for change, at in db.row_ops_at(entry, db.ops_of(entry)):
                if change.table != key:
                    continue
                reason = self._void_reason(change, at, table)
                if reason is not None and (reason != "dropped" or self._lost_to_drops(cid, key)):
                    db.conflicts.record(
                        "lost_write",
                        key,
                        pk_key(change.pk),
                        reason,
                        _lost_detail(reason),
                        dict(change.values),
                        cid,
                        entry.clock.time,
                        entry.clock.id,
                    )

    def _ddl_event(self, old: ResolvedTable | None, new: ResolvedTable | None) -> None:
        if new is None:
            assert old is not None
            self.db.changes.record(old.spec.name, "ddl", [], {"ddl": "drop_table", "t": old.spec.name}, [])
            return
        kind = "create_table" if old is None else "alter_table"
        body = {"ddl": kind, "spec": new.spec.to_ipld(), "indexes": [i.to_ipld() for i in new.indexes]}
        self.db.changes.record(new.spec.name, "ddl", [], body, [])

    def _physical(self, spec: TableSpec) -> str | None:
        for (name,) in self.db.conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE", (spec.name,)
        ):
            return str(name)
        return None

    def _drop(self, old: ResolvedTable, events: Sequence[SchemaEvent], *, local: bool) -> None:
        db = self.db
        key = old.spec.ident
        name = self._physical(old.spec)
        if name is not None:
            db.conn.execute(f"DROP TABLE {quote(name)}")
        db.rows.drop_table(key)
        db.settler.clear_table(key)
        db.orphans.clear(key)
        db.conflicts.clear_table(key, ["value", "duplicate_key"])
        if not local:
            for event in events:
                if event.kind == "drop_table" and event.table == key:
                    self._record_concurrent_writes(event, old)

    def _record_concurrent_writes(self, drop: SchemaEvent, old: ResolvedTable) -> None:
        """Row changes of the dropped table that the dropper had not seen are lost writes."""
        db = self.db
        if db.log.floor and db.log.floor - db.log.past([CID(drop.cid)]):
            db.note_history_gap(f"writes concurrent with a DROP TABLE of {old.spec.name!r} were pruned")
        for cid in db.log.since_cids([CID(drop.cid)]):
            if cid == drop.cid or bytes(cid) in db.rejected_cids or cid in db.unapplied:
                continue
            entry = db.log.get(cid)
            if entry is None:
                continue
            ops = db.ops_of(entry)
            if not any(isinstance(op, RowChange) and op.table == old.spec.ident for op in ops):
                continue
            for change, at in db.row_ops_at(entry, ops):
                if (
                    change.table == old.spec.ident
                    and at.gens & old.gens
                    and self._lost_to_drops(bytes(cid), change.table)
                ):
                    db.conflicts.record(
                        "lost_write",
                        change.table,
                        pk_key(change.pk),
                        "dropped",
                        _lost_detail("dropped"),
                        dict(change.values),
                        bytes(cid),
                        entry.clock.time,
                        entry.clock.id,
                    )

    def _create(self, new: ResolvedTable, *, local: bool) -> None:
        if local and self._physical(new.spec) is not None:
            self._check_local(None, new)
            return
        self.rebuild(new, {})

    def _check_local(self, old: ResolvedTable | None, new: ResolvedTable) -> None:
        """After local DDL SQLite already has the table; rebuild only if it differs from the schema
        (which cannot happen for DDL on a current schema), rows hold cells for a column that appears
        (orphans), or rows wait for UNIQUE values."""
        from p2pdb.store.collation import physical_mismatch
        from p2pdb.store.schema import read_indexes, read_table

        name = self._physical(new.spec)
        same = False
        if name is not None:
            current = read_table(self.db.conn, name)
            same = (
                name == new.spec.name
                and [(c.name, c.type, c.not_null, c.default) for c in current.columns]
                == [(c.name, c.type, c.not_null, c.default) for c in new.spec.columns]
                and current.pk == new.spec.pk
            )
            same = same and sorted(read_indexes(self.db.conn, name), key=lambda i: i.ident) == list(
                new.indexes
            )
            same = same and not physical_mismatch(self.db.conn, name, new.spec)
        uniques_changed = old is None or [i for i in old.indexes if i.unique] != [
            i for i in new.indexes if i.unique
        ]
        orphans = self.db.orphans.of(new.spec.ident)
        revived = any(c.ident in orphans for c in new.spec.columns)  # rows hold cells for a new column
        if not same or revived or (uniques_changed and new.spec.ident in self.db.settler.active):
            self.rebuild(new, self._snapshot(old or new))

    def _alter(self, old: ResolvedTable, new: ResolvedTable) -> None:
        db = self.db
        n = len(old.spec.columns)
        orphans = db.orphans.of(new.spec.ident)
        appendable = (
            old.spec.name == new.spec.name
            and old.spec.columns == new.spec.columns[:n]
            and all(_addable(c) and c.ident not in orphans for c in new.spec.columns[n:])
        )
        old_uniques = [i for i in old.indexes if i.unique]
        new_uniques = [i for i in new.indexes if i.unique]
        if not appendable or (old_uniques != new_uniques and new.spec.ident in db.settler.active):
            self.rebuild(new, self._snapshot(old))
            return
        for col in new.spec.columns[n:]:
            db.conn.execute(f"ALTER TABLE {quote(new.spec.name)} ADD COLUMN {col.render()}")
        for index in old.indexes:
            if index not in new.indexes:
                db.conn.execute(f"DROP INDEX IF EXISTS {quote(index.name)}")
        for index in new.indexes:
            if index in old.indexes:
                continue
            try:
                db.conn.execute(index.render())
            except apsw.ConstraintError:
                self.rebuild(new, self._snapshot(old))
                return

    def _snapshot(self, table: ResolvedTable) -> dict[bytes, Row]:
        """What SQL shows of a table now, by row key (for the change events of a rebuild)."""
        out: dict[bytes, Row] = {}
        if self._physical(table.spec) is None:
            return out
        for pk, state in self.db.rows.scan(table.spec.ident):
            if state.alive:
                row = self.db.sql.fetch(table.spec, pk)
                if row is not None:
                    out[pk_key(pk)] = row
        return out

    def rebuild(self, table: ResolvedTable, before: Mapping[bytes, Row]) -> None:
        """Re-create a table from its row states: definition, rows (settled), indexes, events."""
        db = self.db
        spec = table.spec
        key = spec.ident
        physical = self._physical(spec)
        if physical is not None:
            db.conn.execute(f"DROP TABLE {quote(physical)}")
        db.rows.clear_rids(key)
        db.settler.clear_table(key)
        db.conflicts.clear_table(key, ["value"])
        db.conn.execute(spec.render())
        uniques = [i for i in table.indexes if i.unique]
        members: dict[bytes, Candidate] = {}
        notes_of: dict[bytes, dict[str, SqlValue]] = {}
        cells: set[str] = set()
        for pk, state in db.rows.scan(key):
            if not state.alive:
                continue
            cells.update(state.cells)
            for contribution in state.contribs.values():
                cells.update(contribution.sums)
            row, notes = self.project(table, state, pk)
            claim = claim_of({c: cell.version for c, cell in state.cells.items()}, uniques)
            members[pk_key(pk)] = Candidate(pk_key(pk), pk, row, claim)
            notes_of[pk_key(pk)] = notes
        displays = (
            greedy(members.values(), uniques, spec)
            if uniques
            else {k: Display(c.row, ()) for k, c in members.items()}
        )
        for k in sorted(members):
            shown = displays[k].row
            if shown is not None:
                db.sql.insert(spec, members[k].pk, shown)
            if notes_of[k]:
                self._note_values(key, members[k].pk, notes_of[k], members[k].row)
        if uniques:
            db.settler.store(spec, uniques, members, displays)
        db.orphans.replace(key, cells - set(spec.column_idents))
        for index in table.indexes:
            db.conn.execute(index.render())
        record = self._recorder(spec)
        for k in sorted(set(before) | set(members)):
            old_row = before.get(k)
            new_row = displays[k].row if k in displays else None
            if old_row == new_row:
                continue
            pk = members[k].pk if k in members else _pk_of(k)
            if new_row is None:
                record("delete", pk, {}, [])
            elif old_row is None:
                record("insert", pk, new_row, list(new_row))
            else:
                record("update", pk, new_row, [c for c in new_row if old_row.get(c) != new_row[c]])

    def replay(self, table: ResolvedTable, old: ResolvedTable | None) -> None:
        """Recompute a table's row states from the log (which row changes count changed), then rebuild."""
        db = self.db
        key = table.spec.ident
        if db.log.floor:
            db.note_history_gap(
                f"table {table.spec.name!r} was replayed from a log pruned below a checkpoint"
            )
        before = self._snapshot(old) if old is not None else {}
        db.rows.drop_table(key)
        db.conflicts.clear_table(key, ["duplicate_key", "lost_write", "value"])
        for entry, change, at in db.row_changes_of(key):
            reason = self._void_reason(change, at, table)
            if reason is not None:
                if reason != "dropped" or self._lost_to_drops(bytes(entry.cid), key):
                    db.conflicts.record(
                        "lost_write",
                        key,
                        pk_key(change.pk),
                        reason,
                        _lost_detail(reason),
                        dict(change.values),
                        bytes(entry.cid),
                        entry.clock.time,
                        entry.clock.id,
                    )
                continue
            state = db.rows.get(key, change.pk)
            outcome = merge(state, change, entry.clock, db.catalog.rules[key])
            if outcome.state_changed:
                db.rows.put(key, change.pk, outcome.state)
            self.track_duplicates(
                change, entry.clock, bytes(entry.cid), state, outcome.state, outcome.duplicate
            )
        self.rebuild(table, before)


def _addable(column: Any) -> bool:
    """SQLite's ALTER TABLE ADD COLUMN takes it (constant default; NOT NULL only with a default)."""
    if not column.constant_default:
        return False
    return not column.not_null or (column.default is not None and column.default.upper() != "NULL")


def _pk_of(key: bytes) -> tuple[SqlValue, ...]:
    from p2pdb.store.rows import pk_from_key

    return pk_from_key(key)


_LOST = {
    "dropped": "written to a table generation that a concurrent DROP TABLE removed",
    "primary_key": "written against a definition of the table whose primary key lost to a concurrent CREATE TABLE",
    "rule": "written under a conflict rule that lost to a concurrent CREATE TABLE",
}


def _lost_detail(reason: str) -> str:
    return _LOST[reason]


def _column_plan(spec: TableSpec) -> tuple[_PlannedColumn, ...]:
    return tuple(
        (col.name, col.ident, col, _KEPT.get(col.affinity, frozenset()), col.max_length)
        for col in spec.columns
    )
