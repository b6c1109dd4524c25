"""The replicated schema of one database: every schema event of its log, and what they resolve to.

``_p2pdb_schema(cid, idx, time, author, kind, body)`` keeps each accepted DDL op of the log. The schema
every replica shows is :func:`p2pdb.schema.resolve` over all of them (a pure function of the set); the
schema an entry was written against is the same function over the events in that entry's causal past
(:meth:`Catalog.at`), which the log tells without walking the history (its control sets).

Local DDL is found by comparing SQLite's schema with the resolved one after a transaction
(:meth:`Catalog.diff`); it becomes the ops of the transaction's entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apsw

from p2pdb.crdt import ConflictRule, RuleError, rule_from_spec, rule_or_missing
from p2pdb.log import CID, Log, codec
from p2pdb.schema import (
    EMPTY_SCHEMA,
    Column,
    EventId,
    IndexSpec,
    Schema,
    SchemaEvent,
    TableSpec,
    ViewSpec,
    ddl_body,
    ident,
    make_event,
    resolve,
)
from p2pdb.store.errors import UnsupportedChange
from p2pdb.store.ops import DDLOp
from p2pdb.store.schema import read_indexes, read_table, user_tables

CATALOG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_schema (cid BLOB NOT NULL, idx INTEGER NOT NULL, time INTEGER NOT NULL,"
    " author BLOB NOT NULL, kind TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (cid, idx)) WITHOUT ROWID",
)
_CACHE_SIZE = 256


class TableMap(Mapping[str, TableSpec]):
    """Table specs by name, looked up by name identity (``t["Users"]`` finds ``users``); iterates the
    names as the schema spells them."""

    def __init__(self, schema: Schema) -> None:
        #: Table specs by identity (what the store's capture and merge look tables up by).
        self.by_ident = {key: table.spec for key, table in schema.tables.items()}
        self._unique = {
            key: [i.columns for i in table.indexes if i.unique] for key, table in schema.tables.items()
        }

    def unique_keys(self, name: str) -> list[tuple[str, ...]]:
        """Column lists of the UNIQUE indexes of table ``name`` (not the primary key)."""
        return list(self._unique.get(ident(name), ()))

    def __getitem__(self, name: str) -> TableSpec:
        return self.by_ident[ident(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and ident(name) in self.by_ident

    def __iter__(self) -> Iterator[str]:
        return (spec.name for spec in self.by_ident.values())

    def __len__(self) -> int:
        return len(self.by_ident)


def rules_by_ident(specs: Mapping[str, TableSpec]) -> dict[str, ConflictRule]:
    """The conflict rule of each table; a stand-in that refuses when used for a rule not installed
    here, so that only its own table's writes are refused."""
    return {key: rule_or_missing(spec.rule) for key, spec in specs.items()}


def _same_column(a: Column, b: Column) -> bool:
    return (a.name, a.type, a.not_null, a.default) == (b.name, b.type, b.not_null, b.default)


class Catalog:
    """Schema events, the resolved schema and the local schema diff, on the writer connection."""

    def __init__(self, conn: apsw.Connection, log: Log) -> None:
        self._conn = conn
        self._log = log
        for statement in CATALOG_SCHEMA:
            conn.execute(statement)
        self.events: dict[EventId, SchemaEvent] = {}
        self._by_cid: dict[bytes, list[SchemaEvent]] = {}
        self._cache: OrderedDict[frozenset[bytes], Schema] = OrderedDict()
        self.schema: Schema = EMPTY_SCHEMA
        self.tables: TableMap = TableMap(EMPTY_SCHEMA)
        #: Indexes by SQLite name.
        self.indexes: dict[str, IndexSpec] = {}
        #: Conflict rules by table identity.
        self.rules: dict[str, ConflictRule] = {}
        self.schema_version = -1
        self._pending_extras: dict[str, dict[str, dict[str, Any]]] = {}
        self._pending_rules: dict[str, dict[str, Any]] = {}
        self._pending_ops: list[DDLOp] = []
        self._pending_meta: dict[str, dict[str, Any]] = {}
        self.reload()

    # -- state ----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the events again (after a rolled-back transaction) and resolve."""
        self._pending_extras.clear()
        self._pending_rules.clear()
        self._pending_ops.clear()
        self._pending_meta.clear()
        self.events.clear()
        self._by_cid.clear()
        self._cache.clear()
        for cid, idx, time, author, kind, body in self._conn.execute("SELECT * FROM _p2pdb_schema"):
            key = CID(bytes(cid))
            past = self._log.control_past(key) if key in self._log else frozenset()
            event = make_event(
                kind, codec.decode(body), time=time, author=bytes(author), cid=key, index=idx, past=past
            )
            self._add(event)
        self._set(resolve(self.events.values()))

    def _add(self, event: SchemaEvent) -> None:
        self.events[event.eid] = event
        self._by_cid.setdefault(bytes(event.cid), []).append(event)

    def _set(self, schema: Schema) -> None:
        self.schema = schema
        self.tables = TableMap(schema)
        self.indexes = {i.name: i for t in schema.tables.values() for i in t.indexes}
        self.rules = rules_by_ident(self.tables.by_ident)
        self.schema_version = self.current_schema_version()

    def current_schema_version(self) -> int:
        for (version,) in self._conn.execute("PRAGMA schema_version"):
            return int(version)
        return 0

    def table(self, name: str) -> TableSpec | None:
        resolved = self.schema.tables.get(ident(name))
        return resolved.spec if resolved is not None else None

    def at(self, past: frozenset[bytes]) -> Schema:
        """The schema of the events in ``past`` (the control entries of an entry's causal past)."""
        cached = self._cache.get(past)
        if cached is not None:
            self._cache.move_to_end(past)
            return cached
        if all(c in past for c in self._by_cid):
            schema = self.schema  # the entry saw every schema event there is (the usual case)
        else:
            schema = resolve(e for cid in past for e in self._by_cid.get(bytes(cid), ()))
        self._cache[past] = schema
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return schema

    def with_events(self, past: frozenset[bytes], own: Sequence[SchemaEvent]) -> Schema:
        """The schema after ``own`` (events of one entry, in order) on top of ``past``."""
        if not own:
            return self.at(past)
        return resolve([*(e for cid in past for e in self._by_cid.get(bytes(cid), ())), *own])

    def add(self, events: Sequence[SchemaEvent]) -> tuple[Schema, Schema]:
        """Persist accepted events; return (schema before, schema after)."""
        before = self.schema
        for event in events:
            self._conn.execute(
                "INSERT OR IGNORE INTO _p2pdb_schema VALUES (?, ?, ?, ?, ?, ?)",
                (
                    bytes(event.cid),
                    event.index,
                    event.time,
                    event.author,
                    event.kind,
                    codec.encode(ddl_body(event.kind, event.table, event.payload, event.at)),
                ),
            )
            self._add(event)
        self._cache.clear()
        self._set(resolve(self.events.values()))
        return before, self.schema

    def refresh_version(self) -> None:
        self.schema_version = self.current_schema_version()

    # -- local DDL ------------------------------------------------------------------------------

    def note_extras(self, table: str, extras: dict[str, dict[str, Any]]) -> None:
        """Column extras (MySQL type text, AUTO_INCREMENT, comment) for columns that the running
        transaction creates; :meth:`diff` attaches them to the new columns' specs."""
        self._pending_extras.setdefault(ident(table), {}).update({ident(k): v for k, v in extras.items()})

    def note_rule(self, table: str, rule: dict[str, Any]) -> None:
        """The conflict rule (``{"rule": "counter", "columns": [...]}``) of a table that the running
        transaction creates; it travels with the table's spec to every replica."""
        try:
            canonical = rule_from_spec(rule).spec()
        except (RuleError, TypeError, ValueError) as exc:
            raise UnsupportedChange(f"unusable conflict rule for {table!r}: {exc}") from exc
        if "columns" in canonical:
            canonical["columns"] = sorted({ident(c) for c in canonical["columns"]})
        self._pending_rules[ident(table)] = canonical

    def note_meta(self, table: str, meta: dict[str, Any]) -> None:
        """Table meta (comment, CHECK constraints, foreign keys) of a table the running transaction
        creates (:func:`p2pdb.schema.check_meta`)."""
        self._pending_meta[ident(table)] = dict(meta)

    def note_change(
        self, kind: str, table: str, payload: Column | ViewSpec | tuple[str, Any] | str, at: str | None = None
    ) -> None:
        """A schema change SQLite's own schema cannot show (DROP COLUMN, MODIFY COLUMN): it becomes an
        op of the running transaction's entry after the changes read from SQLite, and the materializer
        then rebuilds the table from its row states."""
        self._pending_ops.append(DDLOp(kind, ddl_body(kind, table, payload, at)))

    def _with_extras(self, current: TableSpec, known: TableSpec | None) -> TableSpec:
        pending = self._pending_extras.get(current.ident, {})
        columns = []
        for col in current.columns:
            old = known.column(col.name) if known is not None else None
            extra = pending.get(col.ident, old.extra if old is not None else None)
            columns.append(col.with_extra(extra))
        meta = known.meta if known is not None else self._pending_meta.get(current.ident, {})
        return TableSpec(current.name, tuple(columns), current.pk, current.rule, dict(meta))

    def diff(self, *, allow_drop: bool) -> list[DDLOp]:
        """Schema changes made by the running local transaction, as ops (nothing is registered: the
        caller turns them into events once the entry exists)."""
        try:
            return self._diff(allow_drop=allow_drop)
        finally:
            self._pending_extras.clear()
            self._pending_rules.clear()
            self._pending_ops.clear()
            self._pending_meta.clear()

    def _diff(self, *, allow_drop: bool) -> list[DDLOp]:
        if self.current_schema_version() == self.schema_version:
            return list(self._pending_ops)
        ops: list[DDLOp] = []
        physical = {ident(name): name for name in user_tables(self._conn)}
        for key, resolved in sorted(self.schema.tables.items()):
            if key in physical:
                continue
            if not allow_drop:
                raise UnsupportedChange(
                    f"DROP TABLE {resolved.spec.name!r} would drop it on every peer; enable replicated drops"
                    " explicitly (SET p2pdb_replicate_drop = 1); renaming tables is not supported"
                )
            ops.append(DDLOp("drop_table", ddl_body("drop_table", key, None)))
        for key, name in sorted(physical.items()):
            resolved_table = self.schema.tables.get(key)
            known = resolved_table.spec if resolved_table is not None else None
            rule = known.rule if known is not None else self._pending_rules.get(key)
            current = self._with_extras(read_table(self._conn, name, rule), known)
            indexes = {i.ident: i for i in read_indexes(self._conn, name)}
            if known is None:
                ops.append(DDLOp("create_table", ddl_body("create_table", key, current)))
                for index_ident in sorted(indexes):
                    ops.append(DDLOp("create_index", ddl_body("create_index", key, indexes[index_ident])))
                continue
            assert resolved_table is not None
            if current.name != known.name:
                raise UnsupportedChange(f"renaming table {known.name!r} is not supported")
            if current.pk_idents != known.pk_idents:
                raise UnsupportedChange(f"changing the primary key of {name!r} is not supported")
            present = {c.ident: c for c in current.columns}
            for col in known.columns:
                now = present.get(col.ident)
                if now is None:  # dropped or renamed in SQLite: a rename would merge as drop + add
                    raise UnsupportedChange(
                        f"column {col.name!r} of {name!r} disappeared; drop columns with"
                        " Catalog.note_change (ALTER TABLE ... DROP COLUMN)"
                    )
                if not _same_column(col, now):
                    raise UnsupportedChange(f"column {col.name!r} of {name!r} changed in place")
            for col in current.columns:
                if known.column(col.name) is None:
                    ops.append(DDLOp("add_column", ddl_body("add_column", key, col)))
            known_indexes = {i.ident: i for i in resolved_table.indexes}
            for index_ident in sorted(known_indexes):
                if index_ident not in indexes or indexes[index_ident] != known_indexes[index_ident]:
                    ops.append(
                        DDLOp("drop_index", ddl_body("drop_index", key, known_indexes[index_ident].name))
                    )
            for index_ident in sorted(indexes):
                if known_indexes.get(index_ident) != indexes[index_ident]:
                    ops.append(DDLOp("create_index", ddl_body("create_index", key, indexes[index_ident])))
        return [*ops, *self._pending_ops]
