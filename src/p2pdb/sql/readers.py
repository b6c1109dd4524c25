"""Worker threads that run long reads away from the event loop.

A read starts on the event loop (most take microseconds); one that runs longer than
:data:`p2pdb.sql.guard.INLINE_BUDGET` is stopped there and run again here, on a read-only SQLite
connection of its database in a worker thread, while the loop goes on serving other clients,
replication and the HTTP API (its plan is marked so the next execution comes here directly).

- Each database on a file gets reader connections (WAL: they read the last committed snapshot and
  never block the writer), opened on demand, at most one per worker, with the MySQL functions and a
  :class:`~p2pdb.sql.guard.ConnGuard`. The in-memory engine has no other connection to its data:
  its reads stay on the loop (bounded by ``p2pdb_max_write_time``).
- Statements that name no database run on a per-thread in-memory connection.
- ``threads`` workers (daemon threads: a stuck statement never holds up the process exit); jobs
  beyond them wait in a queue. :meth:`QueryPool.close` stops the workers; running statements are
  interrupted by their guards (the node marks them stopped first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import apsw

from p2pdb.sql import guard
from p2pdb.sql.functions import register as register_functions
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.store import Database
from p2pdb.store.collation import connect
from p2pdb.store.engine import FileEngine

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = tuple[
    Database | None, Callable[[apsw.Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"
]


def supports_readers(db: Database | None) -> bool:
    """Whether reads of ``db`` can run on another connection (None: a statement without a database)."""
    return db is None or isinstance(db.engine, FileEngine)


def _prepare(conn: apsw.Connection) -> apsw.Connection:
    conn.setbusytimeout(5000)
    register_functions(conn)
    guard.guard_of(conn)
    return conn


class QueryPool:
    """Reader connections and the worker threads that use them."""

    def __init__(self, threads: int = 4) -> None:
        self.threads = max(1, threads)
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._idle: dict[int, tuple[Database, list[apsw.Connection]]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        self.busy = 0

    async def run(self, db: Database | None, job: Callable[[apsw.Connection], T]) -> T:
        """Run ``job(conn)`` on a worker thread with a reader connection of ``db``."""
        if self._closed:
            raise MySQLError(ErrorCode.SERVER_SHUTDOWN, "Server shutdown in progress")
        if len(self._workers) < self.threads and self.busy >= len(self._workers):
            self._start_worker()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self.busy += 1
        try:
            self._queue.put((db, job, loop, future))
            return await future
        finally:
            self.busy -= 1

    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._work, name=f"p2pdb-query-{len(self._workers)}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            db, job, loop, future = item
            try:
                conn = self._acquire(db)
            except BaseException as exc:
                self._deliver(loop, future, None, exc)
                continue
            try:
                result = job(conn)
            except BaseException as exc:
                self._deliver(loop, future, None, exc)
            else:
                self._deliver(loop, future, result, None)
            finally:
                self._release(db, conn)

    @staticmethod
    def _deliver(
        loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, exc: BaseException | None
    ) -> None:
        def settle() -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle)

    def _acquire(self, db: Database | None) -> apsw.Connection:
        if db is None:
            conn = getattr(self._local, "scratch", None)
            if conn is None:
                conn = self._local.scratch = _prepare(connect(":memory:"))
            return conn
        with self._lock:
            entry = self._idle.get(id(db))
            if entry is not None and entry[0] is db and entry[1]:
                return entry[1].pop()
        if db.engine.location == ":memory:" or db.conn is None:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{db.name}'")
        try:
            conn = connect(db.engine.location, apsw.SQLITE_OPEN_READONLY)
        except apsw.Error as exc:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{db.name}'") from exc
        return _prepare(conn)

    def _release(self, db: Database | None, conn: apsw.Connection) -> None:
        if db is None:
            return
        with self._lock:
            entry = self._idle.get(id(db))
            if entry is None or entry[0] is not db:
                entry = self._idle[id(db)] = (db, [])
            if not self._closed and len(entry[1]) < self.threads:
                entry[1].append(conn)
                return
        conn.close()

    def forget(self, keep: Callable[[Database], bool]) -> None:
        """Close the idle readers of databases that are gone (dropped, closed)."""
        with self._lock:
            gone = [key for key, (db, _) in self._idle.items() if not keep(db)]
            closing = [conn for key in gone for conn in self._idle.pop(key)[1]]
        for conn in closing:
            conn.close()

    def close(self, timeout: float = 3.0) -> None:
        """Stop the workers (waiting up to ``timeout`` s for running jobs) and close idle readers."""
        self._closed = True
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=timeout)
        with self._lock:
            closing = [conn for _, conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in closing:
            try:
                conn.close()
            except apsw.Error:
                log.debug("closing a reader failed", exc_info=True)
