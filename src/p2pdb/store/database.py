"""One replicated database: SQLite data, its Merkle-CRDT log, and the merge between them.

Invariant 1 (DESIGN §2): a local commit writes its rows and its log entry in one SQLite transaction.
:meth:`Database.write` runs the caller's statements inside ``BEGIN IMMEDIATE``, records their row changes
with SQLite's session extension, detects schema changes, turns both into the ops of one signed entry,
updates per-row merge state and commits everything together. If anything fails, the transaction rolls
back and neither data nor log keeps a trace.

Remote entries go through :meth:`Database.join`: the log verifies them (invariant 2), and every newly
integrated entry is checked against the schema of its causal past (so whether it is rejected is a
function of the entry and its past, never of arrival order), merged by :mod:`p2pdb.crdt` and shown by
the :class:`~p2pdb.store.apply.Materializer`, the whole batch in one SQLite transaction and each entry
inside a savepoint: an entry that fails is rejected whole (and recorded) while the rest of the batch
applies. Applying never runs capture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import apsw

from p2pdb.acl import ANYONE, Acl, AclOp
from p2pdb.checkpoint import CheckpointOp, CountersignOp, decode_checkpoint_op
from p2pdb.crdt import (
    InvalidChangeError,
    RowChange,
    RowState,
    SqlValue,
    UnknownRule,
    first_insert,
    is_known,
    merge,
    rule_from_spec,
)
from p2pdb.log import CID, Clock, Entry, EntryError, Log, Manifest, SQLiteBlockStore, codec
from p2pdb.log.blockstore import FloorNode
from p2pdb.log.cid import cid_for_block
from p2pdb.log.errors import TransactionTooLarge
from p2pdb.log.identity import Identity, public_key_from_peer_id
from p2pdb.log.log import Block, JoinResult
from p2pdb.schema import (
    ResolvedTable,
    Schema,
    SchemaError,
    SchemaEvent,
    TableSpec,
    ViewSpec,
    check_event,
    ident,
    make_event,
    parse_ddl,
)
from p2pdb.store import collation, state_hash
from p2pdb.store.access import Access, WriteDenied, check_acl_op, check_ddl, check_ids, check_row
from p2pdb.store.apply import Materializer
from p2pdb.store.autoinc import IdClass, IdSpace, type_max
from p2pdb.store.capture import Captured, capture
from p2pdb.store.catalog import Catalog, TableMap, rules_by_ident
from p2pdb.store.changes import ChangeFeed
from p2pdb.store.checkpoints import Checkpoints
from p2pdb.store.conflicts import ConflictRecord, Conflicts
from p2pdb.store.decimal_text import decimal_scales, exact_key, exact_row
from p2pdb.store.engine import Engine, MemoryEngine
from p2pdb.store.errors import IdRangeExhausted, InvalidOps, NoIdRange, StoreError, UnsupportedChange
from p2pdb.store.ops import DDLOp, IdsOp, Op, decode_ops, encode_ops
from p2pdb.store.orphans import Orphans
from p2pdb.store.parts import plan_parts
from p2pdb.store.rows import RowStates, SqlRows, pk_from_key
from p2pdb.store.schema import is_internal, quote
from p2pdb.store.sealed import NotAReader, SealedOps, key_event, new_key, seal, unseal
from p2pdb.store.settle import Settler
from p2pdb.store.validate import DEFAULT_MAX_VALUE_SIZE, check_change

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Entries of an encrypted database this node holds no key for (a blind relay): stored, forwarded, not applied.
SEALED_SCHEMA = "CREATE TABLE IF NOT EXISTS _p2pdb_sealed (cid BLOB PRIMARY KEY)"
#: Entries held back because they need a conflict rule this node does not have (``rule``), with the
#: tables they touch (a JSON list): every later entry touching those tables waits too.
PARKED_SCHEMA = "CREATE TABLE IF NOT EXISTS _p2pdb_parked (cid BLOB PRIMARY KEY, rule TEXT NOT NULL, tables TEXT NOT NULL)"
#: What :meth:`Database._apply_entry` returns for an entry it held back (not a rejection).
PARKED = "parked: a conflict rule is missing here"
REJECTED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_rejected (id INTEGER PRIMARY KEY, cid BLOB NOT NULL,"
    " reason TEXT NOT NULL)"
)


def is_control_entry(entry: Entry) -> bool:
    """The log's control entries of a database: those that change its schema or its access rules
    (what an entry may do depends on both)."""
    ops = entry.ops
    # a sealed entry that changes the schema says so in clear: {"enc": ..., "ddl": true}
    return isinstance(ops, list) and any(isinstance(op, dict) and ("ddl" in op or "acl" in op) for op in ops)


@dataclass(slots=True)
class WriteResult(Generic[T]):
    """What :meth:`Database.write` returns: the callback's value and the entry (None if the
    transaction changed nothing; the last of its entries if it took several, docs/crdt.md §16)."""

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
    #: Missing ancestors of the entries this join left waiting (ask the sender for them).
    wanted: set[CID] = field(default_factory=set)
    #: Entries held back: they need a conflict rule this node does not have (docs/crdt.md).
    parked: list[CID] = field(default_factory=list)


_ABSENT: Any = object()
#: A transaction too large for one entry goes in entries whose changes take at most this fraction of
#: the entry size limit (512 KiB of 4 MiB), and at most half the data items one value may hold.
PART_FRACTION = 8
#: A transaction of this many ops or more in clear has each op encoded once, by itself: the bytes of
#: its entry are those ops' bytes joined, and a split into parts needs no encoding again.
ENCODE_EACH = 256


def _need_rule(spec: Mapping[str, Any]) -> None:
    """Raise :class:`UnknownRule` if the rule ``spec`` names is not installed here."""
    name = spec.get("rule", "lww")
    if not is_known(str(name)):
        raise UnknownRule(str(name), f"conflict rule {name!r} is not installed here")


class Database:
    """A database replicated through its log. Not thread-safe: one owner calls it."""

    def __init__(
        self,
        identity: Identity,
        manifest: Manifest,
        engine: Engine | None = None,
        *,
        max_value_size: int = DEFAULT_MAX_VALUE_SIZE,
        checkpoint_quorum: int = 2,
    ) -> None:
        self.identity = identity
        self.manifest = manifest
        self.name = manifest.name
        self.engine: Engine = engine if engine is not None else MemoryEngine()
        self.conn = self.engine.writer()
        self.max_value_size = max_value_size
        self.blocks = SQLiteBlockStore(self.conn, autocommit=False)
        self.conn.execute(REJECTED_SCHEMA)
        self.log = Log(identity, manifest, self.blocks, is_control=is_control_entry)
        self.rows = RowStates(self.conn)
        self.sql = SqlRows(self.conn, self.rows)
        self.catalog = Catalog(self.conn, self.log)
        self.access = Access(self.conn, self.log, identity)
        self.conn.execute(SEALED_SCHEMA)
        self.conn.execute(PARKED_SCHEMA)
        #: Tables whose entries wait for a missing rule, by table identity: the rule's name.
        self.parked_tables: dict[str, str] = {}
        self.conflicts = Conflicts(self.conn)
        self.checkpoints = Checkpoints(self.conn, self.access.current, checkpoint_quorum, self.access.at)
        self.settler = Settler(self.conn, self.rows, self.sql)
        self.changes = ChangeFeed(self.conn, manifest.name)
        self.ids = IdSpace(self.conn)
        self.orphans = Orphans(self.conn)
        self.materializer = Materializer(self)
        #: The SQL layer's translation of a view's query to SQLite (set by the SQL backend); views
        #: are made in SQLite only with it (docs/mysql-compatibility.md "DDL").
        self.compile_view: Callable[[ViewSpec], str] | None = None
        self.rejected_cids: set[bytes] = set()
        #: Entries integrated by the running join and not applied yet (a table replay skips them).
        self.unapplied: set[CID] = set()
        self._appending = False
        self._load_rejected()
        self._auto_last: dict[tuple[str, str], int] = {}
        # Largest value committed per AUTO_INCREMENT column (local or remote), once first read.
        self._auto_max: dict[tuple[str, str], int] = {}
        #: ``may_claim_ids()``: whether this node may take the root id class now (nobody holds one);
        #: the node asks its peers first. None: always (a database on its own).
        self.may_claim_ids: Callable[[], bool] | None = None
        #: ``request_ids()``: ask peers for an id class (set by the replicator).
        self.request_ids: Callable[[], None] | None = None
        self._staged_ids: list[IdsOp] = []
        self.listeners: list[Callable[[Entry, bool], None]] = []
        #: Merges that needed history this node pruned (a light node): its state may differ from an
        #: archive's, so it vouches for no checkpoint until it starts again from a snapshot.
        self.history_gaps: list[str] = []
        collation.upgrade(self)  # tables of an older version: binary text columns
        self._load_parked()
        if self.parked_tables:
            self.open_parked()  # rules installed since the last start

    def note_history_gap(self, reason: str) -> None:
        if reason not in self.history_gaps:
            self.history_gaps.append(reason)
            log.error("database %s: %s; its state may differ from an archive's", self.name, reason)

    def _load_rejected(self) -> None:
        self.rejected_cids = {bytes(c) for (c,) in self.conn.execute("SELECT cid FROM _p2pdb_rejected")}

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
        self,
        fns: Sequence[Callable[[apsw.Connection], Any]],
        *,
        allow_drop: bool,
        isolate: bool,
        extra: Sequence[IdsOp | AclOp] = (),
        empty: bool = False,
    ) -> tuple[list[Any], Entry | None]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        self._appending = False
        outcomes: list[Any] = []
        try:
            session = apsw.Session(conn, "main")
            try:
                session.config(apsw.SQLITE_SESSION_OBJCONFIG_ROWID, 1)  # tables without a primary key
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
            entries = self._record_local(changeset, allow_drop=allow_drop, extra=extra, empty=empty)
            conn.execute("COMMIT")
        except BaseException:
            # The log's in-memory index changes only in append; rebuilding it walks the whole log,
            # far too slow for every failed statement (a duplicate key, say).
            self._rollback(reload_log=self._appending)
            raise
        for entry in entries:
            self._notify(entry, True)
        if entries:
            self.changes.notify()
        return outcomes, entries[-1] if entries else None

    def _record_local(
        self, changeset: bytes, *, allow_drop: bool, extra: Sequence[IdsOp | AclOp], empty: bool = False
    ) -> list[Entry]:
        """Capture, check and log a local transaction: its entries (one, unless its changes do not
        fit one entry, see :mod:`p2pdb.store.parts`; none if it changed nothing)."""
        clock = self.log.next_clock()
        past = self.log.control_heads()
        acl = self.access.at(past)
        me = self.identity.public_key
        ddl = self.catalog.diff(allow_drop=allow_drop)
        own: list[SchemaEvent] = []
        schema = self.catalog.schema
        for i, op in enumerate(ddl):
            try:
                event = make_event(
                    op.kind, op.body, time=clock.time, author=clock.id, cid=b"", index=i, past=past
                )
                check_event(event, schema)
            except SchemaError as exc:
                raise UnsupportedChange(str(exc)) from exc
            check_ddl(acl, me, op.kind, event.table)
            own.append(event)
            schema = self.catalog.with_events(past, own)
        if own:
            tables = TableMap(schema).by_ident
            rules = rules_by_ident(tables)
        else:  # the schema is the catalog's: its maps, not new ones per commit (one per table)
            tables, rules = self.catalog.tables.by_ident, self.catalog.rules
        captured = capture(changeset, tables, rules, self.rows, clock)
        for item in captured:
            check_change(item.spec, item.change, self.max_value_size)
            check_row(acl, me, item.change)
        rules_change = any(isinstance(e, AclOp) for e in extra)
        if not rules_change:  # an entry that changes the rules carries nothing else (it stays in clear)
            extra = [*extra, *self._staged_ids]
            self._staged_ids = []
        for extra_op in extra:
            if isinstance(extra_op, AclOp):
                check_acl_op(acl, me, extra_op)
            else:
                check_ids(acl, me)
        ops: list[Op] = [*ddl, *(c.change for c in captured), *extra]
        if not ops and not empty:
            return []
        self._appending = True
        splittable = not rules_change and any(c.change.insert for c in captured)
        parts = self._log_changes(acl, ops, ddl, captured, splittable=splittable)
        entry = parts[0][0]  # the first entry: its clock is ``clock``; DDL and id ranges are in it
        if own:
            events = [dataclasses.replace(e, cid=entry.cid) for e in own]
            before, after = self.catalog.add(events)
            self.materializer.migrate(before, after, events, local=True)
            self.conflicts.replace_schema(after.conflicts)
        first = len(ddl) + len(parts[0][1])
        ranges = [(first + j, op) for j, op in enumerate(extra) if isinstance(op, IdsOp)]
        if ranges:
            self.ids.add(ranges, time=clock.time, author=clock.id, cid=entry.cid)
        changes = [(first + j, op) for j, op in enumerate(extra) if isinstance(op, AclOp)]
        if changes:
            self.access.add(entry.cid, clock.time, clock.id, changes)
        # Their states (read by the capture) written in one statement. Each row merges under the
        # clock of the entry that carries it, as a replica merges it.
        with self.rows.batch(known=[(c.change.table, c.change.pk, c.state) for c in captured]):
            for part, items in parts:
                for item in items:
                    self._merge_local(item, part.clock)
                self.changes.flush(part.cid, part.author, part.clock.time, part.wall)
        self.catalog.refresh_version()
        return [part for part, _ in parts]

    def _log_changes(
        self,
        acl: Acl,
        ops: list[Op],
        ddl: Sequence[DDLOp],
        captured: Sequence[Captured],
        *,
        splittable: bool,
    ) -> list[tuple[Entry, list[Captured]]]:
        """Append a transaction's entries, each with the captured changes it carries: one entry, or
        a chain when it does not fit and its new rows may move (:mod:`p2pdb.store.parts`). A large
        transaction in clear has each change encoded once, for its entry or for its parts."""
        encoded: list[bytes] | None = None
        values: list[dict[str, Any]] | None = None
        try:
            if acl.key_id is not None or len(ops) < ENCODE_EACH:
                return [(self.log.append(self._encode_local(acl, ops, ddl=bool(ddl))), list(captured))]
            values = encode_ops(ops)
            encoded = [codec.encode(value) for value in values]
            if not splittable or sum(map(len, encoded)) <= self.log.max_entry_size:
                return [(self.log.append(values, encoded=encoded), list(captured))]
            # (larger than an entry by its ops alone: no entry is tried, nor its data items counted)
        except TransactionTooLarge:
            if not splittable:
                raise  # nothing that may move to a later entry: too large as it is
        return self._append_parts(acl, ops, ddl, captured, values, encoded)

    def _append_parts(
        self,
        acl: Acl,
        ops: list[Op],
        ddl: Sequence[DDLOp],
        captured: Sequence[Captured],
        values: list[dict[str, Any]] | None,
        encoded: list[bytes] | None,
    ) -> list[tuple[Entry, list[Captured]]]:
        """Log a transaction too large for one entry as a chain of entries (:mod:`p2pdb.store.parts`):
        the first holds its schema changes, updates, deletes and id ranges, later ones new rows.
        ``ops`` is ``[*ddl, *changes, *extras]`` (``changes`` the ``captured`` ones; the extras, id
        ranges, follow them); ``values`` and ``encoded`` their encodings, if made."""
        budget = max(1, min(self.log.max_entry_size // PART_FRACTION, codec.MAX_ITEMS // 2))
        sizes = (
            [len(b) for b in encoded]
            if encoded is not None
            else [len(codec.encode(v)) for v in encode_ops(ops)]
        )
        changes = range(len(ddl), len(ddl) + len(captured))
        fixed = sum(sizes) - sum(sizes[p] for p in changes)
        plan = plan_parts([sizes[p] for p in changes], [c.change.insert for c in captured], fixed, budget)
        parts: list[tuple[Entry, list[Captured]]] = []
        for number, indices in enumerate(plan):
            positions = [changes[i] for i in indices]
            if number == 0:
                positions = [*range(len(ddl)), *positions, *range(changes.stop, len(ops))]
            if values is not None and encoded is not None:
                part = [values[p] for p in positions]
                entry = self.log.append(part, encoded=[encoded[p] for p in positions])
            else:
                holds_ddl = bool(ddl) and number == 0
                entry = self.log.append(self._encode_local(acl, [ops[p] for p in positions], ddl=holds_ddl))
            parts.append((entry, [captured[i] for i in indices]))
        log.info(
            "database %s: a transaction of %d changes was logged as %d entries",
            self.name, len(captured), len(parts),
        )  # fmt: skip
        return parts

    def _encode_local(self, acl: Acl, ops: list[Op], *, ddl: bool) -> list[dict[str, Any]]:
        """The entry's ops: in an encrypted database all but the ACL ops sealed with its key."""
        if acl.key_id is None:
            return encode_ops(ops)
        if any(isinstance(op, AclOp) for op in ops):
            return encode_ops(ops)  # only ACL ops (see _record_local): in clear, for every replica
        key = self.access.keyring.get(acl.key_id)
        if key is None:
            raise NotAReader("this node was not given the key of this encrypted database")
        return [seal(key, self.log.id, encode_ops(ops), ddl=ddl).to_ipld()]

    def ops_of(self, entry: Entry, decoded: list[Op] | None = None) -> list[Op]:
        """An entry's ops (``decoded``: already decoded), opened when sealed with a key this node
        holds (a :class:`SealedOps` stays in the list when it is not)."""
        ops = decoded if decoded is not None else decode_ops(entry.ops)
        if not ops or not isinstance(ops[0], SealedOps):
            return ops
        key = self.access.keyring.get(ops[0].key_id)
        if key is None:
            return ops
        inner = decode_ops(unseal(key, self.log.id, ops[0]))
        if any(isinstance(op, (SealedOps, AclOp)) for op in inner):
            raise InvalidOps("sealed ops hold no ACL or sealed ops")
        if ops[0].ddl != any(isinstance(op, DDLOp) for op in inner):
            raise InvalidOps("the clear ddl flag of sealed ops does not match what they hold")
        return inner

    def _merge_local(self, item: Captured, clock: Clock) -> None:
        change = item.change
        table = self.catalog.schema.tables[change.table]
        rule = self.catalog.rules[change.table]
        state = first_insert(item.state, change, clock, rule)  # a new row: most local writes
        if state is not None:
            duplicate = None
            self.rows.put(change.table, change.pk, state)
        else:
            outcome = merge(item.state, change, clock, rule)
            state, duplicate = outcome.state, outcome.duplicate
            if outcome.state_changed:
                self.rows.put(change.table, change.pk, state)
        if self._auto_max and change.insert:
            self._note_ids(change.table, change.values)
        names = table.spec.name_of
        changed = [names[c] for c in (*change.values, *change.deltas) if c in names]
        waiting = table.spec.ident in self.settler.active and any(i.unique for i in table.indexes)
        if not state.alive:
            row, op = {}, "delete"
        elif waiting:
            # Rows of this table wait for UNIQUE values: the statement's row is what SQL shows now
            # (its true values may differ); the settlement then records what it changes.
            row = self.sql.fetch(table.spec, change.pk) or {}
            op = "insert" if change.insert else "update"
        else:
            row, _ = self.materializer.project(table, state, change.pk)
            op = "insert" if change.insert else "update"
            if not rule.local_wins:
                # A pluggable rule may let a local write lose (a max, say): SQL shows what the merge keeps.
                shown = self.sql.fetch(table.spec, change.pk)
                fix = {c: v for c, v in row.items() if shown is None or shown.get(c, _ABSENT) != v}
                if fix:
                    self.sql.update(table.spec, change.pk, fix)
        pk = change.pk
        scales = decimal_scales(table.spec)
        if scales:  # DECIMAL columns: exact text in the feed
            pk, row = exact_key(table.spec, pk, scales), exact_row(row, scales)
        self.changes.record(table.spec.name, op, pk, row, changed)
        # A new life (a delete, a re-insert) ends the old one's concurrent-insert records.
        self.materializer.track_duplicates(change, clock, b"", item.state, state, duplicate)
        self.materializer.after_local(table, change.pk, item.state, state, row)

    def write_ops(self, ops: Sequence[IdsOp]) -> Entry | None:
        """Commit an entry carrying only ``ops`` (id ranges)."""
        _, entry = self._commit([], allow_drop=False, isolate=False, extra=ops)
        return entry

    def genesis(self, access: str = "open") -> Entry | None:
        """Start the log of a database created here (CREATE DATABASE), so that it has heads: peers
        that replicate it create it from that content (a bare name creates nothing, docs/protocol.md).
        ``access``: ``"owned"`` (only this node writes until it grants), ``"open"`` (anyone, until
        an owner revokes; this node owns it) or ``"none"`` (no ACL in the log: the configuration's
        ``access`` alone decides). Nothing if the log has entries already."""
        if len(self.log):
            return None
        extra: list[IdsOp | AclOp] = []
        if access in ("owned", "open"):
            extra.append(AclOp("init", owners=(self.identity.public_key,), open=access == "open"))
        elif access != "none":
            raise ValueError(f"database access is owned, open or none, not {access!r}")
        _, entry = self._commit([], allow_drop=False, isolate=False, extra=extra, empty=True)
        return entry

    def change_access(self, ops: Sequence[AclOp]) -> Entry | None:
        """Commit an entry that changes the access rules (GRANT, REVOKE, new owners, keys). In an
        encrypted database a reader granted SELECT on the database gets every key (it reads the whole
        history); a reader revoked makes a new key for the others (it reads nothing written after)."""
        ops = [*ops, *self._key_changes(ops)]
        _, entry = self._commit([], allow_drop=False, isolate=False, extra=ops)
        return entry

    def encrypt(self) -> Entry | None:
        """Make this database encrypted from now on (ALTER DATABASE ... ENCRYPTION = 'Y'): a new key
        for the owners and every key granted SELECT on the whole database. Nothing if it already is."""
        acl = self.access.current()
        if acl.key_id is not None:
            return None
        readers: set[bytes] = set(acl.owners) | {self.identity.public_key}
        readers |= {
            g.to
            for g in acl.grants()
            if g.privilege == "SELECT" and g.table is None and isinstance(g.to, bytes)
        }
        return self.change_access([key_event(new_key(), readers)])

    def _key_changes(self, ops: Sequence[AclOp]) -> list[AclOp]:
        acl = self.access.current()
        if acl.key_id is None:
            return []
        reading = [
            op
            for op in ops
            if op.kind in ("grant", "revoke") and "SELECT" in op.privileges and op.table is None
        ]
        if any(op.to == ANYONE and op.kind == "grant" for op in reading):
            raise UnsupportedChange(
                "an encrypted database cannot be read by anyone ('*'): grant SELECT to peers"
            )
        added = {op.to for op in reading if op.kind == "grant" and isinstance(op.to, bytes)} - acl.readers
        removed = {op.to for op in reading if op.kind == "revoke" and isinstance(op.to, bytes)} & acl.readers
        removed -= acl.owners  # owners always read
        out: list[AclOp] = []
        if added:
            out += [key_event(key, added) for key in self.access.keyring.keys.values()]
        if removed:
            out.append(key_event(new_key(), (acl.readers | added) - removed))
        return out

    def _rollback(self, *, reload_log: bool = True) -> None:
        self.changes.reset()
        self._staged_ids = []
        self._auto_max.clear()  # a rolled-back transaction may have noted ids: read them again
        if not self.conn.getautocommit():
            self.conn.execute("ROLLBACK")
        if reload_log:
            self.log.reload()
        self._reload_state()

    def _reload_state(self) -> None:
        self.rows.reload()
        self.catalog.reload()
        self.access.reload()
        self.settler.reload()
        self.conflicts.reload()
        self.ids.reload()
        self.orphans.reload()
        self.checkpoints.reload()
        self._load_rejected()

    # -- remote entries -------------------------------------------------------------------------

    def join(self, blocks: Iterable[Block], checked: Container[CID] = frozenset()) -> ApplyResult:
        """Verify and integrate remote blocks and apply the entries that became complete
        (``checked``: see :meth:`p2pdb.log.Log.join`)."""
        return self._join(lambda: self.log.join(blocks, checked))

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
            self.unapplied = {e.cid for e in joined.added}
            for entry in joined.added:
                reason = self._apply_entry(entry)
                self.unapplied.discard(entry.cid)
                if reason is None:
                    result.applied.append(entry)
                elif reason is PARKED:
                    result.parked.append(entry.cid)
                else:
                    result.rejected_ops.append((entry.cid, reason))
            conn.execute("COMMIT")
        except BaseException:
            self.unapplied = set()
            self._rollback()
            raise
        result.missing = joined.missing
        result.wanted = joined.wanted
        result.rejected_blocks = joined.rejected
        for error in joined.rejected:
            log.warning("rejected block %s: %s: %s", error.cid, type(error).__name__, error)
        for entry in result.applied:
            self._notify(entry, False)
        if result.applied:
            self.changes.notify()
        return result

    def _apply_entry(self, entry: Entry) -> str | None:
        """Apply one integrated entry inside a savepoint; return the reason if it was rejected
        (:data:`PARKED` if it waits for a missing conflict rule)."""
        self.conn.execute("SAVEPOINT p2pdb_entry")
        mark = self.changes.mark()
        try:
            if self.parked_tables:
                frozen = self._touched_tables(entry) & self.parked_tables.keys()
                if frozen:
                    raise UnknownRule(self.parked_tables[min(frozen)], "its table waits for a missing rule")
            self._apply_ops(entry)
            self.changes.flush(entry.cid, entry.author, entry.clock.time, entry.wall)
        except UnknownRule as exc:
            return self._park(entry, mark, exc.rule)
        except (InvalidOps, StoreError, SchemaError, InvalidChangeError, apsw.Error, ValueError) as exc:
            return self._reject(entry, mark, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not stop replication of everything else
            log.exception("applying entry %s failed", entry.cid)
            return self._reject(entry, mark, f"internal error: {type(exc).__name__}: {exc}")
        self.conn.execute("RELEASE p2pdb_entry")
        return None

    def _park(self, entry: Entry, mark: int, rule: str) -> str:
        """Hold ``entry`` back, applied in nothing, until rule ``rule`` is installed: every replica
        that has the rule merges it by that rule; one without must not merge it any other way."""
        self._undo_entry(mark)
        tables = sorted(self._touched_tables(entry))
        self.conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_parked (cid, rule, tables) VALUES (?, ?, ?)",
            (bytes(entry.cid), rule, json.dumps(tables)),
        )
        fresh = [t for t in tables if t not in self.parked_tables]
        for table in tables:
            self.parked_tables.setdefault(table, rule)
        if fresh:
            log.error(
                "database %s: table(s) %s merge by conflict rule %r, which is not installed here: their"
                " entries wait (install the package that provides the rule, then restart)",
                self.name, ", ".join(fresh), rule,
            )  # fmt: skip
        return PARKED

    def _touched_tables(self, entry: Entry) -> set[str]:
        """The tables (identities) an entry's schema and row ops name (none for a sealed entry)."""
        tables: set[str] = set()
        try:
            raw = decode_ops(entry.ops)
        except (InvalidOps, ValueError):
            return tables
        for op in raw:
            if isinstance(op, DDLOp):
                with contextlib.suppress(SchemaError, ValueError, TypeError):
                    tables.add(ident(parse_ddl(op.kind, op.body)[0]))
            elif isinstance(op, RowChange):
                tables.add(op.table)
        return tables

    def parked(self) -> dict[str, int]:
        """Entries held back, by the missing rule they wait for."""
        return {
            str(r): int(n)
            for r, n in self.conn.execute("SELECT rule, count(*) FROM _p2pdb_parked GROUP BY rule")
        }

    def open_parked(self) -> int:
        """Apply the held-back entries whose rules are installed now, in the log's order (merges
        commute: applying them late gives what every other replica has). Returns how many were applied."""
        waiting = {bytes(c): str(r) for c, r in self.conn.execute("SELECT cid, rule FROM _p2pdb_parked")}
        if not waiting or not any(is_known(r) for r in set(waiting.values())):
            return 0
        applied = 0
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("DELETE FROM _p2pdb_parked")
            self.parked_tables = {}
            for entry in self.log.traverse():
                if bytes(entry.cid) not in waiting or bytes(entry.cid) in self.rejected_cids:
                    continue
                if self._apply_entry(entry) is None:
                    applied += 1
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        if applied:
            log.info("database %s: applied %d entries that waited for a conflict rule", self.name, applied)
            self.changes.notify()
        return applied

    def _load_parked(self) -> None:
        self.parked_tables = {}
        for rule, tables in self.conn.execute("SELECT rule, tables FROM _p2pdb_parked"):
            for table in json.loads(tables):
                self.parked_tables.setdefault(str(table), str(rule))

    def _undo_entry(self, mark: int) -> None:
        """Undo what applying an entry did (its savepoint, its feed events, the cached state)."""
        self.changes.discard_since(mark)
        self.conn.execute("ROLLBACK TO p2pdb_entry")
        self.conn.execute("RELEASE p2pdb_entry")
        self._reload_state()

    def _reject(self, entry: Entry, mark: int, reason: str) -> str:
        self._undo_entry(mark)
        log.warning("rejected entry %s by %s: %s", entry.cid, entry.author.hex()[:16], reason)
        self.conn.execute(
            "INSERT INTO _p2pdb_rejected (cid, reason) VALUES (?, ?)", (bytes(entry.cid), reason)
        )
        self.rejected_cids.add(bytes(entry.cid))
        return reason

    def _apply_ops(self, entry: Entry) -> None:
        """Check every op against the schema its author had, then apply them all."""
        past = self.log.control_past(entry.cid)
        acl = self.access.at(past)
        author = entry.author
        raw = decode_ops(entry.ops)
        sealed = raw[0] if raw and isinstance(raw[0], SealedOps) else None
        clear = (AclOp, CheckpointOp, CountersignOp)  # what an encrypted database's entries say in clear
        if acl.key_id is not None and sealed is None and any(not isinstance(op, clear) for op in raw):
            raise InvalidOps("an entry of an encrypted database writes in clear")
        if sealed is not None and sealed.key_id != acl.key_id:
            # The key of the entry's own past: a write concurrent with a rotation uses the old key.
            raise InvalidOps("sealed with a key that is not the database's key in the entry's past")
        ops = self.ops_of(entry, raw)
        if ops and isinstance(ops[0], SealedOps):  # no key here: keep it, forward it, apply nothing
            check_ids(acl, author)
            self.conn.execute("INSERT OR IGNORE INTO _p2pdb_sealed VALUES (?)", (bytes(entry.cid),))
            return
        own: list[SchemaEvent] = []
        ids: list[tuple[int, IdsOp]] = []
        rules: list[tuple[int, AclOp]] = []
        rows: list[tuple[RowChange, ResolvedTable]] = []
        schema = self.catalog.at(past)
        for i, op in enumerate(ops):
            if isinstance(op, AclOp):
                check_acl_op(acl, author, op)
                rules.append((i, op))
            elif isinstance(op, DDLOp):
                event = make_event(
                    op.kind,
                    op.body,
                    time=entry.clock.time,
                    author=entry.author,
                    cid=entry.cid,
                    index=i,
                    past=past,
                )
                check_event(event, schema)
                check_ddl(acl, author, op.kind, event.table)
                own.append(event)
                schema = self.catalog.with_events(past, own)
                changed = schema.tables.get(event.table)
                if changed is not None:
                    _need_rule(changed.spec.rule)
            elif isinstance(op, IdsOp):
                check_ids(acl, author)
                ids.append((i, op))
            elif isinstance(op, CheckpointOp | CountersignOp):
                check_ids(acl, author)  # any key that may write may vouch for a version
                self._record_checkpoint(entry, op)
            elif isinstance(op, SealedOps):
                raise InvalidOps("sealed ops that did not open")
            else:
                at = schema.tables.get(op.table)
                if at is None:
                    raise InvalidOps(f"unknown table {op.table!r}")
                _need_rule(at.spec.rule)
                check_row(acl, author, op)
                check_change(at.spec, op, self.max_value_size)
                if op.deltas:  # increments only where the author's table counts (its rule)
                    rule_from_spec(at.spec.rule).check(op)
                rows.append((op, at))
        if own:
            before, after = self.catalog.add(own)
            self.materializer.migrate(before, after, own, local=False)
            self.conflicts.replace_schema(after.conflicts)
        if ids:
            self.ids.add(ids, time=entry.clock.time, author=entry.author, cid=entry.cid)
        if rules and self.access.add(entry.cid, entry.clock.time, author, rules):
            self._open_sealed()
        if len(rows) > 1:
            # Their states read in one query, written in one statement; first inserts' SQL rows too.
            with self.rows.batch([(c.table, c.pk) for c, _ in rows]), self.sql.deferred():
                self._apply_rows(rows, entry)
        else:
            self._apply_rows(rows, entry)

    def _apply_rows(self, rows: Sequence[tuple[RowChange, ResolvedTable]], entry: Entry) -> None:
        cid = bytes(entry.cid)
        for change, at in rows:
            self.materializer.apply_row(change, entry.clock, cid, at)
            if self._auto_max and change.insert:
                self._note_ids(change.table, change.values)

    def _record_checkpoint(self, entry: Entry, op: CheckpointOp | CountersignOp) -> None:
        if isinstance(op, CountersignOp):
            self.checkpoints.add_countersign(entry, op)
            return
        # The previous checkpoint must lie in the proposal entry's past: a proposal is kept in every
        # floor, so light nodes and archives decide this alike.
        covers = op.prev is None or self.log.is_ancestor(op.prev, entry.cid)
        heads = op.covered(entry.parents)
        self.checkpoints.add_proposal(entry, op, covers, self.log.control_past(entry.cid), heads)

    def append_checkpoint(
        self, op: CheckpointOp | CountersignOp, covers: Sequence[CID] | None = None
    ) -> Entry:
        """Commit an entry holding one checkpoint op. The entry follows the current heads, like any
        entry this node writes (one author's entries form a chain: snapshots' version vectors rely
        on it). A proposal covers ``covers``, the heads its version was computed at: when they are
        no longer the current heads (this node wrote meanwhile), the op names them (``heads``)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        self._appending = False
        try:
            check_ids(self.access.current(), self.identity.public_key)
            if isinstance(op, CheckpointOp) and covers is not None:
                wanted = tuple(sorted(set(covers)))
                if wanted != tuple(sorted(self.log.heads)):
                    op = dataclasses.replace(op, heads=wanted)
                decode_checkpoint_op(op.to_ipld())  # what peers would refuse is refused here
            self._appending = True
            entry = self.log.append(encode_ops([op]))
            self._record_checkpoint(entry, op)
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(reload_log=self._appending)
            raise
        self._notify(entry, True)
        return entry

    def _open_sealed(self) -> None:
        """This node was just given a content key: apply the entries it kept sealed that the key
        opens, in the log's order (merges commute, so applying them late gives the same rows)."""
        waiting = {bytes(c) for (c,) in self.conn.execute("SELECT cid FROM _p2pdb_sealed")}
        if not waiting:
            return
        for entry in self.log.traverse():
            if bytes(entry.cid) not in waiting or bytes(entry.cid) in self.rejected_cids:
                continue
            raw = decode_ops(entry.ops)
            if raw and isinstance(raw[0], SealedOps) and self.access.keyring.get(raw[0].key_id) is None:
                continue  # still no key for this one
            self.conn.execute("DELETE FROM _p2pdb_sealed WHERE cid = ?", (bytes(entry.cid),))
            self._apply_entry(entry)  # in its own savepoint: a bad one is rejected alone

    def boundary_of(
        self, cids: Iterable[CID], horizon: Iterable[CID]
    ) -> tuple[list[tuple[bytes, list[CID], list[CID]]], list[bytes]]:
        """For a light peer whose state holds everything below ``horizon`` (its heads and its
        floor's): of the entries ``cids`` it lacks, those in the causal past of the horizon are
        *boundary* (their block, to know them by, the control entries of their past: already
        applied there, and the horizon entries in their past: the peer's floor keeps ancestry
        exact with them), the others plain blocks to apply. Entries unknown here are left out."""
        known = [h for h in horizon if h in self.log]
        boundary: list[tuple[bytes, list[CID], list[CID]]] = []
        blocks: list[bytes] = []
        for cid in cids:
            if cid not in self.log or cid in self.log.floor:
                continue
            data = self.log.store.get(cid)
            if data is None:
                continue
            if any(cid == h or self.log.is_ancestor(cid, h) for h in known):
                below = sorted(h for h in known if self.log.is_ancestor(h, cid))
                boundary.append((data, sorted(self.log.control_set(cid)), below))
            else:
                blocks.append(data)
        return boundary, blocks

    def join_boundary(self, items: Iterable[tuple[bytes, Sequence[CID], Sequence[CID]]]) -> ApplyResult:
        """Learn boundary entries from a peer (a light node: entries below its floor that later entries
        name) and apply what waited for them. Each is verified (CID, signature, database); its
        control entries must all be known here (they are kept in every floor). Its floor ancestors
        are its own parents that this floor holds and those the peer names (entries of our floor
        in its past), so that ancestry between floor entries stays exact."""
        from p2pdb.log.entry import decode_entry

        nodes = []
        for block, control, below in items:
            try:
                entry = decode_entry(block, cid_for_block(block), max_size=self.log.max_entry_size)
            except EntryError as exc:
                log.warning("refused boundary entry: %s", exc)
                continue
            if entry.db != self.manifest.address or any(c not in self.log for c in control):
                log.warning(
                    "refused boundary entry %s: another database or unknown control entries", entry.cid
                )
                continue
            floor = self.log.floor
            parents = {p for p in (*entry.parents, *below) if p in floor and p != entry.cid}
            nodes.append(
                FloorNode(
                    entry.cid, entry.clock.time, entry.author, frozenset(control), tuple(sorted(parents))
                )
            )
        return self.add_floor(nodes)

    def add_floor(self, nodes: Sequence[FloorNode]) -> ApplyResult:
        """Know these entries by id only (already reflected in this state) and apply what waited
        for them."""
        fresh = [n for n in nodes if n.cid not in self.log]
        if not fresh:
            return ApplyResult()
        return self._join(lambda: self.log.join_floor(fresh))

    def prune_history(self, heads: Sequence[CID], since: Sequence[CID]) -> int:
        """Forget the log below a final checkpoint (a light node): the blocks of every entry in the
        causal past of ``heads``, and their change-feed events. The entries after ``since`` (the
        checkpoint's last interval) stay known by id, so that late entries naming them still
        integrate. Rows and merge state are untouched. Returns how many blocks were deleted."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            keep = self.log.since_cids(since, below=heads)
            keep += (c for c in self.checkpoints.proposal_cids() if c in self.log)
            gone = self.log.past(heads) - self.log.floor
            deleted = self.log.prune(heads, keep)
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS p2pdb_pruned (cid BLOB PRIMARY KEY)")
            conn.execute("DELETE FROM temp.p2pdb_pruned")
            conn.executemany(
                "INSERT OR IGNORE INTO temp.p2pdb_pruned VALUES (?)", ((bytes(c),) for c in gone)
            )
            self.changes.forget("cid IN (SELECT cid FROM temp.p2pdb_pruned)")
            conn.execute("DELETE FROM temp.p2pdb_pruned")
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return deleted

    def prune_pending(self) -> int:
        """Drop entries that waited too long for their ancestors (the log's limits)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            dropped = self.log.prune_pending()
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    # -- history, for the materializer ------------------------------------------------------------

    def row_ops_at(self, entry: Entry, ops: Sequence[Op]) -> list[tuple[RowChange, ResolvedTable]]:
        """The row changes of an entry, each with its table as the entry's author had it."""
        past = self.log.control_past(entry.cid)
        own: list[SchemaEvent] = []
        schema: Schema = self.catalog.at(past)
        out = []
        for i, op in enumerate(ops):
            if isinstance(op, DDLOp):
                own.append(
                    make_event(
                        op.kind,
                        op.body,
                        time=entry.clock.time,
                        author=entry.author,
                        cid=entry.cid,
                        index=i,
                        past=past,
                    )
                )
                schema = self.catalog.with_events(past, own)
            elif isinstance(op, RowChange):
                at = schema.tables.get(op.table)
                if at is not None:
                    out.append((op, at))
        return out

    def row_changes_of(self, table: str) -> Iterator[tuple[Entry, RowChange, ResolvedTable]]:
        """Every applied row change of ``table`` in the log's order (causal, then Lamport)."""
        for entry in self.log.traverse():
            if bytes(entry.cid) in self.rejected_cids or entry.cid in self.unapplied:
                continue
            try:
                ops = self.ops_of(entry)
            except InvalidOps:
                continue
            if not any(isinstance(op, RowChange) and op.table == table for op in ops):
                continue
            for change, at in self.row_ops_at(entry, ops):
                if change.table == table:
                    yield entry, change, at

    def _notify(self, entry: Entry, local: bool) -> None:
        # The entry is committed: a failing listener (a link that just closed) must not turn an
        # acknowledged commit into an error for the writer.
        for listener in self.listeners:
            try:
                listener(entry, local)
            except Exception:
                log.exception("listener of %s failed on entry %s", self.name, entry.cid)

    # -- AUTO_INCREMENT ---------------------------------------------------------------------------

    def id_class(self) -> IdClass | None:
        """The id class this node generates AUTO_INCREMENT values from in this database, or None."""
        return self.ids.main(self.identity.public_key)

    def claim_ids(self) -> bool:
        """Take the root id class if nobody holds one yet (as far as this node knows)."""
        if not self.ids.empty:
            return False
        ops = self.ids.root(self.identity.public_key)
        if self.conn.getautocommit():
            self.write_ops(ops)
        else:  # inside a local transaction: the claim travels in its entry
            self._staged_ids.extend(ops)
            self.ids.stage(ops)
        return self.id_class() is not None

    def grant_ids(self, to: bytes) -> bool:
        """Give peer ``to`` an id class from this node's own, if it holds none yet (and this node may
        still write: a node that lost its grants gives nothing)."""
        if self.ids.main(to) is not None or to == self.identity.public_key:
            return False
        if not self.access.current().may_write_any(self.identity.public_key):
            return False
        ops = self.ids.grant(self.identity.public_key, to, self.watermarks())
        if not ops:
            return False
        self.write_ops(ops)
        return True

    def watermarks(self) -> dict[str, int]:
        """Per table with an AUTO_INCREMENT column: the highest id present or handed out here."""
        out: dict[str, int] = {}
        for spec in self.tables():
            column = next((c for c in spec.columns if c.auto_increment), None)
            if column is None:
                continue
            key = (spec.ident, column.ident)
            high = max(self._current_max(spec, column.name), self._auto_last.get(key, 0))
            if high > 0:
                out[spec.ident] = high
        return out

    def _current_max(self, spec: TableSpec, column: str) -> int:
        key = (spec.ident, ident(column))
        if key not in self._auto_max:  # read once; then every committed insert keeps it current
            self._auto_max[key] = 0
            for (value,) in self.conn.execute(f"SELECT max({quote(column)}) FROM {quote(spec.name)}"):
                if isinstance(value, (int, float)):
                    self._auto_max[key] = int(value)
        return self._auto_max[key]

    def peek_auto_id(self, table: str) -> int | None:
        """The AUTO_INCREMENT value this node would give ``table``'s next row, without taking it
        (``SHOW CREATE TABLE``'s ``AUTO_INCREMENT=``); None when the table has no such column."""
        spec = self.catalog.table(table)
        column = next((c for c in spec.columns if c.extra.get("ai")), None) if spec is not None else None
        if spec is None or column is None:
            return None
        key = (spec.ident, column.ident)
        cls = self.id_class()
        floor = max(self._current_max(spec, column.name), self._auto_last.get(key, 0), _start(spec) - 1)
        if cls is None:
            return floor + 1
        return cls.first_above(max(floor, cls.watermarks.get(spec.ident, 0)))

    def next_auto_id(self, table: str, column: str) -> int:
        return self.next_auto_ids(table, column, 1)[0]

    def check_insert(self, table: str) -> None:
        """Raise :class:`WriteDenied` when this node may not insert into ``table`` (before it waits
        for an AUTO_INCREMENT id range that could not be used)."""
        denied = self.access.current().check(self.identity.public_key, "INSERT", ident(table))
        if denied is not None:
            raise WriteDenied(self.identity.public_key, denied)

    def next_auto_ids(self, table: str, column: str, count: int, above: int = 0) -> list[int]:
        """``count`` AUTO_INCREMENT values for ``table.column`` from this node's id class, above every
        id this node has seen or handed out (and above the watermarks of the grant that gave it the
        class), and above ``above`` (an id an earlier row of the same statement gives). Raises :class:`NoIdRange` when this node holds no class (ask a peer: see
        :meth:`claim_ids`, :meth:`grant_ids`) and :class:`IdRangeExhausted` past the column type's
        largest value."""
        cls = self.id_class()
        if cls is None and self.ids.empty and (self.may_claim_ids is None or self.may_claim_ids()):
            self.claim_ids()
            cls = self.id_class()
        if cls is None:
            raise NoIdRange(f"this node holds no AUTO_INCREMENT id range in database {self.name!r} yet")
        spec = self.catalog.table(table)
        if spec is None:
            raise InvalidOps(f"unknown table {table!r}")
        col = spec.column(column)
        key = (spec.ident, ident(column))
        floor = max(
            self._current_max(spec, column),
            self._auto_last.get(key, 0),
            cls.watermarks.get(spec.ident, 0),
            _start(spec) - 1,
            above,
        )
        first = cls.first_above(floor)
        values = [first + i * cls.modulus for i in range(count)]
        limit = type_max(col.extra.get("mt") if col is not None else None)
        if values[-1] > limit:
            raise IdRangeExhausted(
                f"Failed to read auto-increment value from storage engine (column {column!r} is at {limit})"
            )
        # Remembered so that open transactions of other sessions never get the same value.
        self._auto_last[key] = values[-1]
        return values

    def restart_auto_ids(self, table: str) -> None:
        """Number ``table``'s next AUTO_INCREMENT ids again from the ids it holds now (and its
        ``AUTO_INCREMENT`` start), forgetting higher ones handed out before: after TRUNCATE and
        ``ALTER TABLE ... AUTO_INCREMENT = n``, as in MySQL. An open transaction of another session
        that drew ids before can then draw the same ids as a new one; the later commit fails with a
        duplicate key (MySQL's metadata lock makes TRUNCATE wait instead)."""
        spec = self.catalog.table(table)
        if spec is None:
            return
        for key in [k for k in (*self._auto_max, *self._auto_last) if k[0] == spec.ident]:
            self._auto_max.pop(key, None)
            self._auto_last.pop(key, None)

    def _note_ids(self, table: str, values: Mapping[str, Any]) -> None:
        for (name, column), current in list(self._auto_max.items()):
            if name == table:
                value = values.get(column)
                if isinstance(value, int) and value > current:
                    self._auto_max[(name, column)] = value

    # -- reading, for the SQL layer and tests -------------------------------------------------------

    def tables(self) -> list[TableSpec]:
        return [self.catalog.schema.tables[key].spec for key in sorted(self.catalog.schema.tables)]

    def rejected(self) -> list[tuple[CID, str]]:
        return [(CID(bytes(c)), r) for c, r in self.conn.execute("SELECT cid, reason FROM _p2pdb_rejected")]

    def row_state(self, table: str, pk: Sequence[SqlValue]) -> RowState | None:
        return self.rows.get(ident(table), pk)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the writer connection (tests, tools)."""
        return [tuple(row) for row in self.conn.execute(sql, tuple(params))]

    def shown_conflicts(self) -> list[ConflictRecord]:
        """:meth:`conflict_records` with each table as SQL names it (its spelling, when it exists)."""
        out = []
        for record in self.conflict_records():
            spec = self.catalog.table(record.table)
            out.append(dataclasses.replace(record, table=spec.name) if spec is not None else record)
        return out

    def conflict_records(self) -> list[ConflictRecord]:
        """Every conflict record: the merge's (:mod:`p2pdb.store.conflicts`) and current UNIQUE clashes."""
        records = []
        for record in self.conflicts.read(lambda key: list(pk_from_key(key))):
            if record.kind == "duplicate_key" and record.author is not None:
                # the losing insert, from the log (None where it was pruned below a checkpoint)
                insert = self.materializer.insert_of(
                    record.table,
                    tuple(record.key),
                    Clock(record.time, public_key_from_peer_id(record.author)),
                )
                if insert is not None:
                    record = dataclasses.replace(record, cid=str(CID(insert[0])), lost=insert[1])
            records.append(record)
        schema = self.catalog.schema
        for table, key, index, vkey, lost, hidden in self.settler.records():
            if not lost:
                continue
            resolved = schema.tables.get(table)
            spec = resolved.spec if resolved is not None else None
            found = resolved.index(index) if resolved is not None else None
            columns = found.columns if found is not None else ()
            values = dict(zip(columns, codec.decode(vkey), strict=False))
            detail = (
                "row hidden: it holds a UNIQUE value an earlier row holds"
                if hidden
                else "shows NULL: an earlier row holds this UNIQUE value"
            )
            records.append(
                ConflictRecord(
                    "unique",
                    table if spec is None else spec.ident,
                    list(pk_from_key(key)),
                    found.name if found else index,
                    detail,
                    values,
                    None,
                    None,
                    0,
                )
            )
        return records

    def merge_state_hash(self) -> str:
        """Hash of the merge state behind the rows (:func:`p2pdb.store.state_hash.merge_state_hash`)."""
        return state_hash.merge_state_hash(self.conn)

    def state_hash(self) -> str:
        """Hash of what SQL shows (:func:`p2pdb.store.state_hash.state_hash`)."""
        return state_hash.state_hash(self.conn, self.catalog.schema)


def _start(spec: TableSpec) -> int:
    """The table's ``AUTO_INCREMENT = n`` start (1 when it has none)."""
    start = spec.meta.get("ai", 1)
    return start if isinstance(start, int) else 1
