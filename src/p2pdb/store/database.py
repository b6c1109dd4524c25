"""One replicated database: SQLite data, its Merkle-CRDT log, and the merge between them.

Invariant 1 (DESIGN §2): a local commit writes its rows and its log entry in one SQLite
transaction. :meth:`Database.write` runs the caller's statements inside ``BEGIN IMMEDIATE``, records
their row changes with SQLite's session extension, detects schema changes, turns both into the ops
of one signed entry, updates per-row merge state and commits everything together. If anything
fails, the transaction rolls back and neither data nor log keeps a trace.

Remote entries go through :meth:`Database.join`: the log verifies them (invariant 2), and every
newly integrated entry is merged by :mod:`p2pdb.crdt` and applied, the whole batch in one SQLite
transaction and each entry inside a savepoint, so an entry whose ops do not fit the schema is
rejected whole (and recorded) while the rest of the batch applies. Applying never runs capture.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import apsw

from p2pdb.crdt import MergeOutcome, RowChange, RowState, SqlValue, merge
from p2pdb.log import CID, Clock, Entry, EntryError, Log, Manifest, SQLiteBlockStore, codec
from p2pdb.log.identity import Identity
from p2pdb.log.log import Block, JoinResult
from p2pdb.store.catalog import Catalog
from p2pdb.store.changes import ChangeFeed
from p2pdb.store.engine import Engine, MemoryEngine
from p2pdb.store.errors import InvalidOps, StoreError, UnsupportedChange
from p2pdb.store.ops import DDLOp, Op, decode_ops, encode_ops
from p2pdb.store.rows import RowStates, write_outcome
from p2pdb.store.schema import TableSpec, is_internal, quote
from p2pdb.store.validate import DEFAULT_MAX_VALUE_SIZE, check_change

log = logging.getLogger(__name__)
T = TypeVar("T")

REJECTED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_rejected (id INTEGER PRIMARY KEY, cid BLOB NOT NULL,"
    " reason TEXT NOT NULL)"
)

DEFAULT_AUTO_INCREMENT = 1024


@dataclass(slots=True)
class WriteResult(Generic[T]):
    """What :meth:`Database.write` returns: the callback's value and the entry (None if the
    transaction changed nothing)."""

    value: T
    entry: Entry | None


@dataclass(slots=True)
class ApplyResult:
    """What :meth:`Database.join` did: entries applied (causal order), entries whose ops were
    rejected (cid, reason), CIDs still missing, and blocks the log refused (bad signature...)."""

    applied: list[Entry] = field(default_factory=list)
    rejected_ops: list[tuple[CID, str]] = field(default_factory=list)
    missing: set[CID] = field(default_factory=set)
    rejected_blocks: list[EntryError] = field(default_factory=list)


class Database:
    """A database replicated through its log. Not thread-safe: one owner calls it."""

    def __init__(
        self,
        identity: Identity,
        manifest: Manifest,
        engine: Engine | None = None,
        *,
        max_value_size: int = DEFAULT_MAX_VALUE_SIZE,
        auto_increment_increment: int = DEFAULT_AUTO_INCREMENT,
        auto_increment_offset: int | None = None,
    ) -> None:
        self.identity = identity
        self.manifest = manifest
        self.name = manifest.name
        self.engine: Engine = engine if engine is not None else MemoryEngine()
        self.conn = self.engine.writer()
        self.max_value_size = max_value_size
        self.blocks = SQLiteBlockStore(self.conn, autocommit=False)
        self.conn.execute(REJECTED_SCHEMA)
        self.rows = RowStates(self.conn)
        self.catalog = Catalog(self.conn)
        self.changes = ChangeFeed(self.conn, manifest.name)
        self.log = Log(identity, manifest, self.blocks)
        self.auto_increment_increment = auto_increment_increment
        if auto_increment_offset is None:
            digest = hashlib.sha256(identity.public_key).digest()
            auto_increment_offset = int.from_bytes(digest[:4], "big") % auto_increment_increment + 1
        if not 1 <= auto_increment_offset <= auto_increment_increment:
            raise ValueError("auto_increment_offset must be between 1 and auto_increment_increment")
        self.auto_increment_offset = auto_increment_offset
        self._auto_last: dict[tuple[str, str], int] = {}
        # Largest value committed per AUTO_INCREMENT column (local or remote), once first read.
        self._auto_max: dict[tuple[str, str], int] = {}
        self.listeners: list[Callable[[Entry, bool], None]] = []

    def close(self) -> None:
        self.engine.close()

    # -- local writes ---------------------------------------------------------------------------

    def write(self, fn: Callable[[apsw.Connection], T], *, allow_drop: bool = False) -> WriteResult[T]:
        """Run ``fn(conn)`` as one local transaction and commit it with its log entry.

        ``fn`` runs SQL on the writer connection; it must not BEGIN/COMMIT itself. Raises what
        ``fn`` raises, or :class:`UnsupportedChange`/:class:`InvalidOps` when the transaction
        cannot be replicated; in every failure case nothing is kept.
        """
        outcomes, entry = self._commit([fn], allow_drop=allow_drop, isolate=False)
        outcome = outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return WriteResult(outcome, entry)

    def write_batch(self, fns: Sequence[Callable[[apsw.Connection], Any]]) -> list[Any]:
        """Group commit: run several independent transactions and commit them together, with one
        log entry and one SQLite commit. Each ``fn`` runs in its own savepoint, so each stays atomic:
        a failing one is rolled back alone and its exception is returned in its place.
        Returns, per ``fn``, its value or the exception it raised.
        """
        if len(fns) == 1:  # nothing to isolate from: skip the savepoint, errors go to the caller
            try:
                return [self.write(fns[0]).value]
            except Exception as exc:
                return [exc]
        try:
            outcomes, _ = self._commit(fns, allow_drop=False, isolate=True)
        except (InvalidOps, UnsupportedChange, ValueError):
            # One transaction's changes could not be captured: commit them one by one instead.
            outcomes = []
            for fn in fns:
                try:
                    outcomes.append(self.write(fn).value)
                except Exception as exc:
                    outcomes.append(exc)
        return outcomes

    def _commit(
        self, fns: Sequence[Callable[[apsw.Connection], Any]], *, allow_drop: bool, isolate: bool
    ) -> tuple[list[Any], Entry | None]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        entry: Entry | None = None
        appending = False
        outcomes: list[Any] = []
        try:
            session = apsw.Session(conn, "main")
            try:
                session.table_filter(lambda name: not is_internal(name))
                session.attach()
                for fn in fns:
                    if not isolate:
                        outcomes.append(fn(conn))
                        continue
                    conn.execute("SAVEPOINT p2pdb_txn")
                    try:
                        outcomes.append(fn(conn))
                    except Exception as exc:
                        conn.execute("ROLLBACK TO p2pdb_txn")
                        outcomes.append(exc)
                    conn.execute("RELEASE p2pdb_txn")
                changeset = session.changeset()
            finally:
                session.close()
            clock = self.log.next_clock()
            ddl = self.catalog.diff(clock, allow_drop=allow_drop)
            for op in ddl:
                self.changes.record(_ddl_table(op), "ddl", [], op.to_ipld(), [])
            ops: list[Op] = list(ddl)
            ops.extend(self._capture(changeset, clock))
            if ops:
                appending = True
                entry = self.log.append(encode_ops(ops))
                self.changes.flush(entry.cid, entry.author, entry.clock.time)
            conn.execute("COMMIT")
        except BaseException:
            # The log's in-memory index changes only in append; rebuilding it walks the whole log,
            # far too slow for every failed statement (a duplicate key, say).
            self._rollback(reload_log=appending)
            raise
        if entry is not None:
            self._notify(entry, True)
            self.changes.notify()
        return outcomes, entry

    def _rollback(self, *, reload_log: bool = True) -> None:
        self.changes.reset()
        self._auto_max.clear()  # a rolled-back transaction may have noted ids: read them again
        if not self.conn.getautocommit():
            self.conn.execute("ROLLBACK")
        if reload_log:
            self.log.reload()
        self.catalog.reload()

    def _capture(self, changeset: bytes, clock: Clock) -> list[RowChange]:
        """Turn the session's net row changes into merged row changes (and new row states)."""
        changes: list[RowChange] = []
        for change in apsw.Changeset.iter(changeset):
            spec = self.catalog.tables.get(change.name)
            if spec is None:
                raise UnsupportedChange(f"table {change.name!r} is not known to the replicated schema")
            rule = self.catalog.rules[spec.name]
            names = spec.column_names
            old_all: tuple[Any, ...] = change.old or ()
            new_all: tuple[Any, ...] = change.new or ()
            if change.op == "INSERT":
                new = dict(zip(names, new_all, strict=True))
                pk = tuple(new[c] for c in spec.pk)
                state = self.rows.get(spec.name, pk)
                cl = _next_insert_cl(state)
                row_change = RowChange(spec.name, pk, cl, new)
            elif change.op == "UPDATE":
                pk = tuple(old_all[names.index(c)] for c in spec.pk)
                changed = [i for i, v in enumerate(new_all) if v is not apsw.no_change]
                old = {names[i]: old_all[i] for i in changed}
                new = {names[i]: new_all[i] for i in changed}
                values, deltas = rule.split_update(old, new)
                state = self.rows.get(spec.name, pk)
                cl = state.cl if state is not None and state.cl % 2 == 1 else _next_insert_cl(state)
                row_change = RowChange(spec.name, pk, cl, values, deltas)
            else:  # DELETE
                pk = tuple(old_all[names.index(c)] for c in spec.pk)
                state = self.rows.get(spec.name, pk)
                cl = (state.cl + 1) if state is not None and state.cl % 2 == 1 else _next_insert_cl(state) + 1
                row_change = RowChange(spec.name, pk, cl)
            check_change(spec, row_change, self.max_value_size)
            outcome = merge(state, row_change, clock, rule)
            if outcome.state_changed:
                self.rows.put(spec.name, pk, outcome.state)
            changes.append(row_change)
            if self._auto_max and change.op == "INSERT":
                self._note_ids(spec.name, row_change.values)
            op = {"INSERT": "insert", "UPDATE": "update"}.get(change.op, "delete")
            row = dict(outcome.row) if op != "delete" else {}
            self.changes.record(spec.name, op, pk, row, [*row_change.values, *row_change.deltas])
        return changes

    # -- remote entries -------------------------------------------------------------------------

    def join(self, blocks: Iterable[Block]) -> ApplyResult:
        """Verify and integrate remote blocks and apply the entries that became complete."""
        return self._join(lambda: self.log.join(blocks))

    def join_heads(self, heads: Iterable[CID]) -> ApplyResult:
        """Take a peer's heads: apply what the local store already holds below them (blocks kept
        from an interrupted sync) and report in ``missing`` what must be fetched."""
        return self._join(lambda: self.log.join_heads(heads))

    def _join(self, integrate: Callable[[], JoinResult]) -> ApplyResult:
        result = ApplyResult()
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            joined = integrate()
            for entry in joined.added:
                reason = self._apply_entry(entry)
                if reason is None:
                    result.applied.append(entry)
                else:
                    result.rejected_ops.append((entry.cid, reason))
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        result.missing = joined.missing
        result.rejected_blocks = joined.rejected
        for error in joined.rejected:
            log.warning("rejected block %s: %s: %s", error.cid, type(error).__name__, error)
        for entry in result.applied:
            self._notify(entry, False)
        if result.applied:
            self.changes.notify()
        return result

    def _apply_entry(self, entry: Entry) -> str | None:
        """Apply one integrated entry inside a savepoint; return the reason if it was rejected."""
        self.conn.execute("SAVEPOINT p2pdb_entry")
        mark = self.changes.mark()
        try:
            for op in decode_ops(entry.ops):
                if isinstance(op, DDLOp):
                    self.catalog.apply(op, entry.clock, self._replay_table)
                    self.changes.record(_ddl_table(op), "ddl", [], op.to_ipld(), [])
                else:
                    self._apply_row(op, entry.clock)
            self.changes.flush(entry.cid, entry.author, entry.clock.time)
        except (InvalidOps, StoreError, apsw.Error, ValueError) as exc:
            self.changes.discard_since(mark)
            self.conn.execute("ROLLBACK TO p2pdb_entry")
            self.conn.execute("RELEASE p2pdb_entry")
            self.catalog.reload()
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("rejected entry %s by %s: %s", entry.cid, entry.author.hex()[:16], reason)
            self.conn.execute(
                "INSERT INTO _p2pdb_rejected (cid, reason) VALUES (?, ?)", (bytes(entry.cid), reason)
            )
            return reason
        self.conn.execute("RELEASE p2pdb_entry")
        return None

    def _apply_row(self, change: RowChange, clock: Clock) -> None:
        if change.table in self.catalog.dropped:
            return  # the table was dropped concurrently: its row changes are void
        spec = self.catalog.tables.get(change.table)
        if spec is None:
            raise InvalidOps(f"unknown table {change.table!r}")
        try:
            check_change(spec, change, self.max_value_size)
        except InvalidOps as exc:
            if change.table not in self.catalog.contested:
                raise
            # Written against the losing definition of a contested table: void on every replica
            # (a replica that held the loser drops it when it rebuilds), the entry's other ops stand.
            log.info("row change written for a losing definition of %s ignored: %s", change.table, exc)
            return
        state = self.rows.get(spec.name, change.pk)
        outcome = merge(state, change, clock, self.catalog.rules[spec.name])
        if outcome.state_changed:
            self.rows.put(spec.name, change.pk, outcome.state)
        existed = state is not None and state.alive  # else no SQL row has this key
        try:
            write_outcome(self.conn, spec, change.pk, outcome, existed=existed)
        except apsw.ConstraintError as exc:
            if "UNIQUE" not in str(exc):
                raise
            settled = self._settle_unique(spec, change.pk, outcome)
            write_outcome(self.conn, spec, change.pk, settled, existed=existed)
        if self._auto_max and outcome.action in ("insert", "update"):
            self._note_ids(spec.name, outcome.changed)
        if outcome.action != "none":
            row = dict(outcome.row) if outcome.action != "delete" else {}
            self.changes.record(spec.name, outcome.action, change.pk, row, outcome.changed)

    def _settle_unique(
        self, spec: TableSpec, pk: tuple[SqlValue, ...], outcome: MergeOutcome
    ) -> MergeOutcome:
        """Two rows written concurrently with one value of a UNIQUE index: the row whose cells for
        that index carry the higher version (Lamport time, then author key) shows the value; the
        other shows NULL there (or is hidden, when a column is NOT NULL). The merge state keeps the
        true values; this only decides what SQL shows, the same way on every replica."""
        row = dict(outcome.row)
        changed = dict(outcome.changed)
        hidden = False
        for index in self.catalog.indexes.values():
            if index.table != spec.name or not index.unique:
                continue
            cols = index.columns
            values = [row.get(c) for c in cols]
            if any(v is None for v in values):
                continue
            where = " AND ".join(f"{quote(c)} = ?" for c in cols)
            select = ", ".join(quote(c) for c in spec.pk)
            mine = max(
                (outcome.state.cells[c].version for c in cols if c in outcome.state.cells), default=None
            )
            for other in list(
                self.conn.execute(f"SELECT {select} FROM {quote(spec.name)} WHERE {where}", values)
            ):
                other_pk = tuple(other)
                if other_pk == tuple(pk):
                    continue
                state = self.rows.get(spec.name, other_pk)
                theirs = max(
                    (state.cells[c].version for c in cols if state is not None and c in state.cells),
                    default=None,
                )
                # Tie-break: the higher version keeps the value (the whitepaper's compareClock).
                if theirs is None or (mine is not None and mine > theirs):
                    self._hide_value(spec, other_pk, cols)
                else:
                    for column in cols:
                        row[column] = changed[column] = None
                    hidden = hidden or any((col := spec.column(c)) is not None and col.not_null for c in cols)
        if hidden:  # the losing row cannot show NULL in a NOT NULL column: it stays out of SQL
            return MergeOutcome("none", {}, {}, outcome.state, outcome.state_changed)
        return MergeOutcome(outcome.action, row, changed, outcome.state, outcome.state_changed)

    def _hide_value(self, spec: TableSpec, pk: tuple[SqlValue, ...], cols: Sequence[str]) -> None:
        where = " AND ".join(f"{quote(c)} = ?" for c in spec.pk)
        if any((col := spec.column(c)) is not None and col.not_null for c in cols):
            self.conn.execute(f"DELETE FROM {quote(spec.name)} WHERE {where}", pk)
        else:
            sets = ", ".join(f"{quote(c)} = NULL" for c in cols)
            self.conn.execute(f"UPDATE {quote(spec.name)} SET {sets} WHERE {where}", pk)

    def _replay_table(self, table: str) -> None:
        """Re-merge every row change of ``table`` from the log (after its definition changed)."""
        self.rows.drop_table(table)
        rejected = {bytes(c) for (c,) in self.conn.execute("SELECT cid FROM _p2pdb_rejected")}
        for entry in self.log.traverse():
            if bytes(entry.cid) in rejected:
                continue  # an entry rejected on arrival stays without effect
            try:
                ops = decode_ops(entry.ops)
            except InvalidOps:
                continue
            for op in ops:
                if isinstance(op, RowChange) and op.table == table:
                    try:
                        self._apply_row(op, entry.clock)
                    except (InvalidOps, apsw.Error, ValueError) as exc:
                        log.info("row change of %s dropped by the table rebuild: %s", table, exc)

    def _notify(self, entry: Entry, local: bool) -> None:
        for listener in self.listeners:
            listener(entry, local)

    # -- helpers for the SQL layer and tests ------------------------------------------------------

    def next_auto_id(self, table: str, column: str) -> int:
        """The next AUTO_INCREMENT value for ``table.column`` on this peer.

        MySQL's multi-primary scheme: values are ``offset (mod increment)``, the smallest such value
        above the column's current maximum. Peers with different offsets never allocate the same
        value, so concurrent inserts on two peers never merge into one row. The offset defaults to
        a value derived from the peer key; set it explicitly to guarantee distinct offsets.
        """
        key = (table, column)
        if key not in self._auto_max:  # read once; then every committed insert keeps it current
            self._auto_max[key] = 0
            for (value,) in self.conn.execute(f"SELECT max({quote(column)}) FROM {quote(table)}"):
                if isinstance(value, (int, float)):
                    self._auto_max[key] = int(value)
        current = max(self._auto_last.get(key, 0), self._auto_max[key])
        step, offset = self.auto_increment_increment, self.auto_increment_offset
        base = current - current % step + offset
        value = base if base > current else base + step
        # Remembered so that open transactions of other sessions never get the same value.
        self._auto_last[(table, column)] = value
        return value

    def _note_ids(self, table: str, values: Mapping[str, Any]) -> None:
        for (name, column), current in list(self._auto_max.items()):
            if name == table:
                value = values.get(column)
                if isinstance(value, int) and value > current:
                    self._auto_max[(name, column)] = value

    def next_auto_ids(self, table: str, column: str, count: int) -> list[int]:
        """``count`` consecutive AUTO_INCREMENT values of this peer (one multi-row INSERT)."""
        first = self.next_auto_id(table, column)
        values = [first + i * self.auto_increment_increment for i in range(count)]
        self._auto_last[(table, column)] = values[-1]
        return values

    def tables(self) -> list[TableSpec]:
        return [self.catalog.tables[name] for name in sorted(self.catalog.tables)]

    def rejected(self) -> list[tuple[CID, str]]:
        return [(CID(bytes(c)), r) for c, r in self.conn.execute("SELECT cid, reason FROM _p2pdb_rejected")]

    def row_state(self, table: str, pk: Sequence[SqlValue]) -> RowState | None:
        return self.rows.get(table, pk)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the writer connection (tests, tools)."""
        return [tuple(row) for row in self.conn.execute(sql, tuple(params))]

    def state_hash(self) -> str:
        """Deterministic hash of every user table's definition-independent content: table names,
        column names (sorted) and rows ordered by primary key. Equal on converged replicas."""
        digest = hashlib.sha256()
        for spec in self.tables():
            cols = sorted(spec.column_names)
            digest.update(codec.encode([spec.name, cols]))
            order = ", ".join(quote(c) for c in spec.pk)
            select = ", ".join(quote(c) for c in cols)
            for row in self.conn.execute(f"SELECT {select} FROM {quote(spec.name)} ORDER BY {order}"):
                digest.update(codec.encode(list(row)))
        return digest.hexdigest()


def _ddl_table(op: DDLOp) -> str:
    spec = op.body.get("spec")
    name = spec.get("name") if isinstance(spec, dict) else None
    name = name or op.body.get("t") or op.body.get("name")
    return name if isinstance(name, str) else ""


def _next_insert_cl(state: RowState | None) -> int:
    """Causal length of an insert: the next odd value above the row's current one."""
    if state is None:
        return 1
    return state.cl + 1 if state.cl % 2 == 0 else state.cl + 2
