"""Storage engines: how a database's SQLite connection is opened.

Both engines hand out one writer connection; all writes of a database go through it (one writer
per database). ``FileEngine`` is the production engine: one SQLite file per database in WAL mode,
so readers on other connections read a snapshot and never block the writer. ``MemoryEngine`` keeps
everything in memory for development and tests; its reader is the writer connection itself.

Durability: ``synchronous=NORMAL`` in WAL mode keeps every committed transaction across a killed
process (kill -9); ``durability="full"`` also survives power loss, at the cost of an fsync per commit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import apsw

from p2pdb.store.collation import connect

_SYNC = {"normal": "NORMAL", "full": "FULL"}


class Engine(Protocol):
    """Opens the connections of one database."""

    def writer(self) -> apsw.Connection:
        """The single connection that writes (created on first call, then the same one)."""
        ...

    def reader(self) -> apsw.Connection:
        """A connection for reads that may run while the writer writes."""
        ...

    def close(self) -> None: ...

    @property
    def location(self) -> str: ...


def give_back_free_pages(conn: apsw.Connection) -> None:
    """Return the file's free pages to the file system (``auto_vacuum = INCREMENTAL`` files).
    The pragma frees one page per step of its statement: it must be stepped to the end (a bare
    ``execute`` freed a single page, and a light node kept every page its pruning freed)."""
    conn.execute("PRAGMA incremental_vacuum").fetchall()


def configure(conn: apsw.Connection) -> None:
    conn.setbusytimeout(5000)
    conn.execute("PRAGMA foreign_keys = OFF")  # replicas apply rows in merge order, not FK order


class MemoryEngine:
    """An in-memory database (SQLite ``:memory:``)."""

    def __init__(self) -> None:
        self._conn: apsw.Connection | None = None

    def writer(self) -> apsw.Connection:
        if self._conn is None:
            self._conn = connect(":memory:")
            configure(self._conn)
        return self._conn

    def reader(self) -> apsw.Connection:
        return self.writer()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def location(self) -> str:
        return ":memory:"


class FileEngine:
    """One SQLite file in WAL mode."""

    def __init__(self, path: str | os.PathLike[str], *, durability: str = "normal") -> None:
        if durability not in _SYNC:
            raise ValueError("durability is 'normal' or 'full'")
        self.path = Path(path)
        self.durability = durability
        self._writer: apsw.Connection | None = None
        self._readers: list[apsw.Connection] = []

    def writer(self) -> apsw.Connection:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(str(self.path))
            configure(conn)
            # A new file gives pages freed by pruning back to the file system (PRAGMA
            # incremental_vacuum); an existing file keeps its mode (SQLite fixes it at creation).
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {_SYNC[self.durability]}")
            self._writer = conn
        return self._writer

    def reader(self) -> apsw.Connection:
        self.writer()  # the file and its WAL exist before anyone reads
        conn = connect(str(self.path), apsw.SQLITE_OPEN_READONLY)
        configure(conn)
        self._readers.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def location(self) -> str:
        return str(self.path)
