"""A block store in SQLite tables, for the same file as the database (DESIGN.md §1).

Tables (hidden from users by the ``_p2pdb_`` prefix)::

    _p2pdb_blocks(id INTEGER PRIMARY KEY, cid BLOB UNIQUE, data BLOB)  blocks in arrival order
    _p2pdb_heads(log_id TEXT, position INTEGER, cid BLOB, PRIMARY KEY(log_id, position))
    _p2pdb_floor(log_id, cid, time, author, control)   pruned entries later entries may name
    _p2pdb_floor_control(id, cids)                      their control sets, each stored once

The store works on any DB-API-like connection with ``execute(sql, params)`` returning an iterable
cursor: the stdlib ``sqlite3`` module and ``apsw`` both qualify. Transactions belong to the caller
when ``autocommit=False`` (so a commit's rows and its entry land in one SQLite transaction);
with ``autocommit=True`` every mutating call commits by itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from p2pdb.log.blockstore import FloorNode
from p2pdb.log.cid import CID


class _Connection(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


SCHEMA = (
    # Blocks are appended in rowid order and found by the index on their CID: a CID is a random
    # key, and with the blocks themselves in a B-tree ordered by it every new block dirtied a random
    # page full of other blocks (a batch of 64 wrote about 64 pages). Files made before this keep
    # their table (cid BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID: every statement
    # here works on both.
    "CREATE TABLE IF NOT EXISTS _p2pdb_blocks ("
    " id INTEGER PRIMARY KEY, cid BLOB NOT NULL UNIQUE, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _p2pdb_heads ("
    " log_id TEXT NOT NULL, position INTEGER NOT NULL, cid BLOB NOT NULL,"
    " PRIMARY KEY (log_id, position)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_floor ("
    " log_id TEXT NOT NULL, cid BLOB NOT NULL, time INTEGER NOT NULL, author BLOB NOT NULL,"
    " control INTEGER NOT NULL, parents BLOB NOT NULL, PRIMARY KEY (log_id, cid)) WITHOUT ROWID",
    # control sets are few and shared by many floor entries: stored once each
    "CREATE TABLE IF NOT EXISTS _p2pdb_floor_control (id INTEGER PRIMARY KEY, cids BLOB NOT NULL UNIQUE)",
    # per author, the highest Lamport time of the entries pruned (the pruned version vector)
    "CREATE TABLE IF NOT EXISTS _p2pdb_pruned (log_id TEXT NOT NULL, author BLOB NOT NULL,"
    " time INTEGER NOT NULL, PRIMARY KEY (log_id, author)) WITHOUT ROWID",
)


class SQLiteBlockStore:
    """Blocks and heads in SQLite tables of an existing connection (or a file it opens)."""

    __slots__ = ("_autocommit", "_conn")

    def __init__(self, connection: _Connection | str, *, autocommit: bool | None = None) -> None:
        if isinstance(connection, str):
            conn = sqlite3.connect(connection, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn: _Connection = conn
            self._autocommit = True if autocommit is None else autocommit
        else:
            self._conn = connection
            self._autocommit = bool(autocommit)
        for statement in SCHEMA:
            self._conn.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Own a transaction in autocommit mode; otherwise run inside the caller's."""
        if not self._autocommit:
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get(self, cid: CID) -> bytes | None:
        for (data,) in self._conn.execute("SELECT data FROM _p2pdb_blocks WHERE cid = ?", (bytes(cid),)):
            return bytes(data)
        return None

    def has(self, cid: CID) -> bool:
        for _ in self._conn.execute("SELECT 1 FROM _p2pdb_blocks WHERE cid = ?", (bytes(cid),)):
            return True
        return False

    def put(self, cid: CID, data: bytes) -> None:
        self.put_many(((cid, data),))

    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        with self._transaction():
            for cid, data in blocks:
                self._conn.execute(
                    "INSERT OR IGNORE INTO _p2pdb_blocks (cid, data) VALUES (?, ?)", (bytes(cid), bytes(data))
                )

    def delete(self, cid: CID) -> None:
        with self._transaction():
            self._conn.execute("DELETE FROM _p2pdb_blocks WHERE cid = ?", (bytes(cid),))

    def get_heads(self, log_id: str) -> list[CID]:
        rows = self._conn.execute(
            "SELECT cid FROM _p2pdb_heads WHERE log_id = ? ORDER BY position", (log_id,)
        )
        return [CID(bytes(cid)) for (cid,) in rows]

    def set_heads(self, log_id: str, heads: Iterable[CID]) -> None:
        with self._transaction():
            self._conn.execute("DELETE FROM _p2pdb_heads WHERE log_id = ?", (log_id,))
            for position, cid in enumerate(heads):
                self._conn.execute(
                    "INSERT INTO _p2pdb_heads (log_id, position, cid) VALUES (?, ?, ?)",
                    (log_id, position, bytes(cid)),
                )

    def cids(self) -> Iterator[CID]:
        return iter([CID(bytes(cid)) for (cid,) in self._conn.execute("SELECT cid FROM _p2pdb_blocks")])

    def __len__(self) -> int:
        for (count,) in self._conn.execute("SELECT count(*) FROM _p2pdb_blocks"):
            return int(count)
        return 0

    def get_floor(self, log_id: str) -> list[FloorNode]:
        sets: dict[int, frozenset[CID]] = {}
        for ident, cids in self._conn.execute("SELECT id, cids FROM _p2pdb_floor_control"):
            raw = bytes(cids)
            sets[ident] = frozenset(_split(raw))
        rows = self._conn.execute(
            "SELECT cid, time, author, control, parents FROM _p2pdb_floor WHERE log_id = ?", (log_id,)
        )
        return [
            FloorNode(CID(bytes(c)), int(t), bytes(a), sets[k], _split(bytes(p))) for c, t, a, k, p in rows
        ]

    def set_floor(self, log_id: str, nodes: Iterable[FloorNode]) -> None:
        with self._transaction():
            self._conn.execute("DELETE FROM _p2pdb_floor WHERE log_id = ?", (log_id,))
            ids: dict[frozenset[CID], int] = {}
            for node in nodes:
                key = ids.get(node.control)
                if key is None:
                    blob = b"".join(bytes(c) for c in sorted(node.control))
                    self._conn.execute(
                        "INSERT OR IGNORE INTO _p2pdb_floor_control (cids) VALUES (?)", (blob,)
                    )
                    for (found,) in self._conn.execute(
                        "SELECT id FROM _p2pdb_floor_control WHERE cids = ?", (blob,)
                    ):
                        key = ids[node.control] = int(found)
                self._conn.execute(
                    "INSERT OR REPLACE INTO _p2pdb_floor VALUES (?, ?, ?, ?, ?, ?)",
                    (log_id, bytes(node.cid), node.time, node.author, key, b"".join(node.parents)),
                )
            self._conn.execute(
                "DELETE FROM _p2pdb_floor_control WHERE id NOT IN (SELECT control FROM _p2pdb_floor)"
            )

    def get_pruned(self, log_id: str) -> dict[bytes, int]:
        rows = self._conn.execute("SELECT author, time FROM _p2pdb_pruned WHERE log_id = ?", (log_id,))
        return {bytes(a): int(t) for a, t in rows}

    def raise_pruned(self, log_id: str, times: dict[bytes, int]) -> None:
        with self._transaction():
            for author, time in times.items():
                self._conn.execute(
                    "INSERT INTO _p2pdb_pruned VALUES (?, ?, ?) ON CONFLICT (log_id, author)"
                    " DO UPDATE SET time = max(time, excluded.time)",
                    (log_id, author, time),
                )


def _split(raw: bytes) -> tuple[CID, ...]:
    """CIDs stored back to back (entry CIDs are 36 bytes each)."""
    return tuple(CID(raw[i : i + 36]) for i in range(0, len(raw), 36))
