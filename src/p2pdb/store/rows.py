"""Per-row bookkeeping (causal length, per-column versions), hidden row identities, and the SQL that
writes the rows SQL shows.

``_p2pdb_rows(tbl, pk, state)`` keeps one :class:`~p2pdb.crdt.RowState` per row ever seen, keyed by the
table identity and the canonical dag-cbor encoding of the key values; the state is stored with local
numbers for its author keys (:mod:`p2pdb.store.stored_state`). A table without a primary key
gives each row a hidden identity (a byte string made from the inserting entry's clock and a sequence
number, so no two peers ever make the same one); ``_p2pdb_rids(tbl, rid, lrow)`` maps it to the row's
SQLite rowid on this replica. SQL never sees the identity: ``SELECT *`` shows the user's columns only.

Statements are built from quoted identifiers only and cached per (table, columns); values are bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import apsw

from p2pdb.crdt import RowState, SqlValue
from p2pdb.log import codec
from p2pdb.schema import TableSpec, quote
from p2pdb.store.stored_state import Authors, load_state, store_state

ROWS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_rows ("
    " tbl TEXT NOT NULL, pk BLOB NOT NULL, state BLOB NOT NULL, PRIMARY KEY (tbl, pk)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_rids ("
    " tbl TEXT NOT NULL, rid BLOB NOT NULL, lrow INTEGER NOT NULL, PRIMARY KEY (tbl, rid)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX IF NOT EXISTS _p2pdb_rids_lrow ON _p2pdb_rids (tbl, lrow)",
)


#: Keys per query of :meth:`RowStates.batch` (SQLite allows 32,766 bound values).
_IN_CHUNK = 500


@lru_cache(maxsize=64)
def _in_sql(count: int) -> str:
    marks = ", ".join("?" * count)
    return f"SELECT pk, state FROM _p2pdb_rows WHERE tbl = ? AND pk IN ({marks})"


#: Encoded keys :class:`RowStates` keeps (see ``_keys``).
_KEYS_KEPT = 1024


def pk_key(pk: Sequence[SqlValue]) -> bytes:
    return codec.encode(list(pk))


def pk_from_key(key: bytes) -> tuple[SqlValue, ...]:
    return tuple(codec.decode(key))


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def make_rid(time: int, seq: int, author: bytes) -> bytes:
    """A row identity no other insert anywhere can make: the entry's Lamport time and the row's
    number in the entry (prefix-free varints), then the author key. An author never signs two entries
    with one time, so two identities are equal only for the same row."""
    return _uvarint(time) + _uvarint(seq) + author


class RowStates:
    """Reads and writes row states on one connection, inside the caller's transaction."""

    __slots__ = ("_batch", "_conn", "_keys", "authors")

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        #: Inside :meth:`batch`: the states known by (table, key) (None: no state) and whether each
        #: is still to be written.
        self._batch: dict[tuple[str, bytes], tuple[RowState | None, bool]] | None = None
        #: The encoded key of the last key objects met (tuples), by their id: a commit reads each
        #: row's state when it captures the change, then again in its batch, then writes it. Each
        #: value holds its key object, so no other object takes that id while it is here.
        self._keys: dict[int, tuple[tuple[SqlValue, ...], bytes]] = {}
        for statement in ROWS_SCHEMA:
            conn.execute(statement)
        #: States are stored with local numbers for author keys (p2pdb.store.stored_state).
        self.authors = Authors(conn)

    def reload(self) -> None:
        """After a rollback: numbers given to new author keys in it are gone."""
        self.authors.reload()
        self._keys.clear()
        if self._batch is not None:
            self._batch.clear()

    @contextmanager
    def batch(
        self,
        keys: Sequence[tuple[str, Sequence[SqlValue]]] = (),
        known: Sequence[tuple[str, Sequence[SqlValue], RowState | None]] = (),
    ) -> Iterator[None]:
        """Read the states of ``keys`` in one query per table (``known``: states the caller read
        already), keep every state read or written in memory, and write the written ones in one
        statement at the end. Inside it, nothing may read ``_p2pdb_rows`` but :meth:`get`; any
        other method writes the pending states first. When the body raises, the pending states
        are dropped: the caller rolls back. For one row it does nothing: its prefetch and
        ``executemany`` cost more than they save."""
        if self._batch is not None or len(keys) + len(known) < 2:  # nested: the outer batch writes
            yield
            return
        try:
            self._batch = self._prefetch(keys)
            for table, pk, state in known:
                self._batch[(table, self._key(pk))] = (state, False)
            yield
            self._write_pending()
        finally:
            self._batch = None

    def _prefetch(
        self, keys: Sequence[tuple[str, Sequence[SqlValue]]]
    ) -> dict[tuple[str, bytes], tuple[RowState | None, bool]]:
        known: dict[tuple[str, bytes], tuple[RowState | None, bool]] = {}
        wanted: dict[str, list[bytes]] = {}
        for table, pk in keys:
            key = self._key(pk)
            if (table, key) not in known:
                known[(table, key)] = (None, False)
                wanted.setdefault(table, []).append(key)
        for table, keys_of in wanted.items():
            for i in range(0, len(keys_of), _IN_CHUNK):
                chunk = keys_of[i : i + _IN_CHUNK]
                for key, blob in self._conn.execute(_in_sql(len(chunk)), (table, *chunk)):
                    known[(table, bytes(key))] = (self._decode(blob), False)
        return known

    def _write_pending(self) -> None:
        """Write the states put in the batch, if any, and forget what it knew (also before any
        statement but get/put touches ``_p2pdb_rows``)."""
        known = self._batch
        if not known:
            return
        number = self.authors.number
        rows = [
            (table, key, store_state(state, number))
            for (table, key), (state, dirty) in known.items()
            if dirty and state is not None
        ]
        if rows:
            self._conn.executemany(
                "INSERT OR REPLACE INTO _p2pdb_rows (tbl, pk, state) VALUES (?, ?, ?)", rows
            )
        known.clear()

    def _decode(self, blob: bytes) -> RowState:
        return load_state(blob, self.authors.key)

    def _key(self, pk: Sequence[SqlValue]) -> bytes:
        if type(pk) is not tuple:  # (a list could change under its id)
            return pk_key(pk)
        keys = self._keys
        seen = keys.get(id(pk))
        if seen is not None and seen[0] is pk:
            return seen[1]
        key = pk_key(pk)
        if len(keys) >= _KEYS_KEPT:
            keys.clear()
        keys[id(pk)] = (pk, key)
        return key

    def get(self, table: str, pk: Sequence[SqlValue]) -> RowState | None:
        known = self._batch
        if known is not None:
            hit = known.get((table, self._key(pk)))
            if hit is not None:
                return hit[0]
        for (blob,) in self._conn.execute(
            "SELECT state FROM _p2pdb_rows WHERE tbl = ? AND pk = ?", (table, self._key(pk))
        ):
            return self._decode(blob)
        return None

    def put(self, table: str, pk: Sequence[SqlValue], state: RowState) -> None:
        known = self._batch
        if known is not None:
            known[(table, self._key(pk))] = (state, True)
            return
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_rows (tbl, pk, state) VALUES (?, ?, ?)",
            (table, self._key(pk), store_state(state, self.authors.number)),
        )

    def drop_table(self, table: str) -> None:
        self._write_pending()
        self._conn.execute("DELETE FROM _p2pdb_rows WHERE tbl = ?", (table,))
        self._conn.execute("DELETE FROM _p2pdb_rids WHERE tbl = ?", (table,))

    def scan(self, table: str) -> Iterator[tuple[tuple[SqlValue, ...], RowState]]:
        """Every row state of a table, in key order."""
        self._write_pending()
        rows = list(
            self._conn.execute("SELECT pk, state FROM _p2pdb_rows WHERE tbl = ? ORDER BY pk", (table,))
        )
        for key, blob in rows:
            yield pk_from_key(key), self._decode(blob)

    # -- hidden identities -----------------------------------------------------------------------

    def rowid_of(self, table: str, rid: bytes) -> int | None:
        for (lrow,) in self._conn.execute(
            "SELECT lrow FROM _p2pdb_rids WHERE tbl = ? AND rid = ?", (table, rid)
        ):
            return int(lrow)
        return None

    def rid_of(self, table: str, rowid: int) -> bytes | None:
        for (rid,) in self._conn.execute(
            "SELECT rid FROM _p2pdb_rids WHERE tbl = ? AND lrow = ?", (table, rowid)
        ):
            return bytes(rid)
        return None

    def map_rid(self, table: str, rid: bytes, rowid: int) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_rids (tbl, rid, lrow) VALUES (?, ?, ?)", (table, rid, rowid)
        )

    def unmap_rid(self, table: str, rid: bytes) -> None:
        self._conn.execute("DELETE FROM _p2pdb_rids WHERE tbl = ? AND rid = ?", (table, rid))

    def clear_rids(self, table: str) -> None:
        self._conn.execute("DELETE FROM _p2pdb_rids WHERE tbl = ?", (table,))


@lru_cache(maxsize=1024)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    # Plain INSERT: a clash on a UNIQUE index must raise (the store settles it), not silently delete
    # the other row as OR REPLACE would.
    return f"INSERT INTO {quote(table)} ({cols}) VALUES ({marks})"


@lru_cache(maxsize=1024)
def _where(pk: tuple[str, ...]) -> str:
    return " AND ".join(f"{quote(c)} = ?" for c in pk) if pk else "rowid = ?"


@lru_cache(maxsize=1024)
def _update_sql(table: str, columns: tuple[str, ...], pk: tuple[str, ...]) -> str:
    sets = ", ".join(f"{quote(c)} = ?" for c in columns)
    return f"UPDATE {quote(table)} SET {sets} WHERE {_where(pk)}"


@lru_cache(maxsize=1024)
def _delete_sql(table: str, pk: tuple[str, ...]) -> str:
    return f"DELETE FROM {quote(table)} WHERE {_where(pk)}"


@lru_cache(maxsize=1024)
def _select_sql(table: str, columns: tuple[str, ...], pk: tuple[str, ...]) -> str:
    cols = ", ".join(quote(c) for c in columns)
    return f"SELECT {cols} FROM {quote(table)} WHERE {_where(pk)}"


class SqlRows:
    """The rows SQL shows, addressed by row key (or hidden identity).

    Inside :meth:`deferred`, :meth:`insert_later` keeps full rows of tables with a primary key and
    writes them with one ``executemany`` per table (a single-row ``execute`` costs about three times
    as much); any other method here, and :meth:`flush`, writes them first.
    """

    __slots__ = ("_conn", "_later", "_states")

    def __init__(self, conn: apsw.Connection, states: RowStates) -> None:
        self._conn = conn
        self._states = states
        self._later: dict[str, list[list[SqlValue]]] | None = None

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Let :meth:`insert_later` keep rows until the block ends (when it raises, they are
        dropped: the caller rolls back)."""
        if self._later is not None:  # nested: the outer block writes
            yield
            return
        self._later = {}
        try:
            yield
            self.flush()
        finally:
            self._later = None

    def insert_later(self, spec: TableSpec, row: Mapping[str, SqlValue]) -> None:
        """:meth:`insert` of a row of a table with a primary key and no UNIQUE index (nothing but a
        key clash could refuse it), written at the latest when the :meth:`deferred` block ends."""
        later = self._later
        if later is None:
            self.insert(spec, (), row)
            return
        sql = _insert_sql(spec.name, spec.column_names)
        pending = later.get(sql)
        if pending is None:
            pending = later[sql] = []
        pending.append([row[c] for c in spec.column_names])

    def flush(self) -> None:
        later = self._later
        if later:
            for sql, rows in later.items():
                self._conn.executemany(sql, rows)
            later.clear()

    def _address(self, spec: TableSpec, pk: Sequence[SqlValue]) -> tuple[Any, ...] | None:
        if spec.pk:
            return tuple(pk)
        rid = pk[0]
        assert isinstance(rid, bytes)
        rowid = self._states.rowid_of(spec.ident, rid)
        return None if rowid is None else (rowid,)

    def fetch(self, spec: TableSpec, pk: Sequence[SqlValue]) -> dict[str, SqlValue] | None:
        if self._later:
            self.flush()
        address = self._address(spec, pk)
        if address is None:
            return None
        for row in self._conn.execute(_select_sql(spec.name, spec.column_names, spec.pk), address):
            return dict(zip(spec.column_names, row, strict=True))
        return None

    def insert(self, spec: TableSpec, pk: Sequence[SqlValue], row: Mapping[str, SqlValue]) -> None:
        """Insert the full row (every column of ``spec`` by name). Raises apsw.ConstraintError on a
        UNIQUE clash."""
        if self._later:
            self.flush()
        columns = spec.column_names
        self._conn.execute(_insert_sql(spec.name, columns), [row[c] for c in columns])
        if not spec.pk:
            rid = pk[0]
            assert isinstance(rid, bytes)
            self._states.map_rid(spec.ident, rid, self._conn.last_insert_rowid())

    def update(self, spec: TableSpec, pk: Sequence[SqlValue], changed: Mapping[str, SqlValue]) -> None:
        if self._later:
            self.flush()
        cols = tuple(c for c in spec.column_names if c in changed and c not in spec.pk)
        address = self._address(spec, pk)
        if cols and address is not None:
            self._conn.execute(_update_sql(spec.name, cols, spec.pk), (*(changed[c] for c in cols), *address))

    def delete(self, spec: TableSpec, pk: Sequence[SqlValue]) -> bool:
        """Delete the SQL row; True if there was one."""
        if self._later:
            self.flush()
        address = self._address(spec, pk)
        if address is None:
            return False
        self._conn.execute(_delete_sql(spec.name, spec.pk), address)
        if not spec.pk:
            rid = pk[0]
            assert isinstance(rid, bytes)
            self._states.unmap_rid(spec.ident, rid)
        return self._conn.changes() > 0
