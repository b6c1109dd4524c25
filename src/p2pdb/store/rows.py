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

    __slots__ = ("_conn", "_last", "authors")

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        #: The last key encoded and its bytes: a merge reads, then writes, the state of one key.
        self._last: tuple[Sequence[SqlValue], bytes] | None = None
        for statement in ROWS_SCHEMA:
            conn.execute(statement)
        #: States are stored with local numbers for author keys (p2pdb.store.stored_state).
        self.authors = Authors(conn)

    def reload(self) -> None:
        """After a rollback: numbers given to new author keys in it are gone."""
        self.authors.reload()
        self._last = None

    def _decode(self, blob: bytes) -> RowState:
        return load_state(blob, self.authors.key)

    def _key(self, pk: Sequence[SqlValue]) -> bytes:
        last = self._last
        if last is not None and last[0] is pk and type(pk) is tuple:  # the same (immutable) key object
            return last[1]
        key = pk_key(pk)
        self._last = (pk, key)
        return key

    def get(self, table: str, pk: Sequence[SqlValue]) -> RowState | None:
        for (blob,) in self._conn.execute(
            "SELECT state FROM _p2pdb_rows WHERE tbl = ? AND pk = ?", (table, self._key(pk))
        ):
            return self._decode(blob)
        return None

    def put(self, table: str, pk: Sequence[SqlValue], state: RowState) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO _p2pdb_rows (tbl, pk, state) VALUES (?, ?, ?)",
            (table, self._key(pk), store_state(state, self.authors.number)),
        )

    def drop_table(self, table: str) -> None:
        self._conn.execute("DELETE FROM _p2pdb_rows WHERE tbl = ?", (table,))
        self._conn.execute("DELETE FROM _p2pdb_rids WHERE tbl = ?", (table,))

    def scan(self, table: str) -> Iterator[tuple[tuple[SqlValue, ...], RowState]]:
        """Every row state of a table, in key order."""
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
    """The rows SQL shows, addressed by row key (or hidden identity)."""

    __slots__ = ("_conn", "_states")

    def __init__(self, conn: apsw.Connection, states: RowStates) -> None:
        self._conn = conn
        self._states = states

    def _address(self, spec: TableSpec, pk: Sequence[SqlValue]) -> tuple[Any, ...] | None:
        if spec.pk:
            return tuple(pk)
        rid = pk[0]
        assert isinstance(rid, bytes)
        rowid = self._states.rowid_of(spec.ident, rid)
        return None if rowid is None else (rowid,)

    def fetch(self, spec: TableSpec, pk: Sequence[SqlValue]) -> dict[str, SqlValue] | None:
        address = self._address(spec, pk)
        if address is None:
            return None
        for row in self._conn.execute(_select_sql(spec.name, spec.column_names, spec.pk), address):
            return dict(zip(spec.column_names, row, strict=True))
        return None

    def insert(self, spec: TableSpec, pk: Sequence[SqlValue], row: Mapping[str, SqlValue]) -> None:
        """Insert the full row (every column of ``spec`` by name). Raises apsw.ConstraintError on a
        UNIQUE clash."""
        columns = spec.column_names
        self._conn.execute(_insert_sql(spec.name, columns), tuple(row[c] for c in columns))
        if not spec.pk:
            rid = pk[0]
            assert isinstance(rid, bytes)
            self._states.map_rid(spec.ident, rid, self._conn.last_insert_rowid())

    def update(self, spec: TableSpec, pk: Sequence[SqlValue], changed: Mapping[str, SqlValue]) -> None:
        cols = tuple(c for c in spec.column_names if c in changed and c not in spec.pk)
        address = self._address(spec, pk)
        if cols and address is not None:
            self._conn.execute(_update_sql(spec.name, cols, spec.pk), (*(changed[c] for c in cols), *address))

    def delete(self, spec: TableSpec, pk: Sequence[SqlValue]) -> bool:
        """Delete the SQL row; True if there was one."""
        address = self._address(spec, pk)
        if address is None:
            return False
        self._conn.execute(_delete_sql(spec.name, spec.pk), address)
        if not spec.pk:
            rid = pk[0]
            assert isinstance(rid, bytes)
            self._states.unmap_rid(spec.ident, rid)
        return self._conn.changes() > 0
