"""Transaction windows: a transaction's writes stay applied between its statements.

Once an explicit transaction (or one of ``autocommit=0``) has written, each of its statements must
run on top of its earlier writes, which nobody else may see before COMMIT. The writer connection
cannot keep them between statements: it is shared by every session, by replication and by the
store, and holding SQLite's write lock across a client round trip would stall them all. So each
statement used to open ``BEGIN IMMEDIATE`` on the writer, replay every earlier write of the
transaction, run, and roll back: the k-th statement ran k-1 others again, and a transaction of n
statements cost O(n^2) (2,000 single-row INSERTs: 1.7 ms each, against 0.24 ms for 250).

A **window** is a second connection to the database file on which a transaction keeps its writes,
inside ``BEGIN IMMEDIATE``, from one statement to the next. Each statement runs in a savepoint,
so a failing one undoes only itself, as in MySQL. Nobody waits for a window: every connection that
may write (the writer and the windows) has the busy handler of this module, which rolls back the
open windows of the database (they *yield*) and retries at once. A window keeps its writes as an
SQLite changeset when it yields, and the transaction's next statement reopens it by applying them
(in C, about a microsecond a row). Where they no longer apply (another client changed one of those
rows, the schema changed) or nothing was kept (an error rolled the window back), the statement
replays the transaction's recorded writes instead (the old way, once). COMMIT closes the
window and commits through the store as before: one replay on the writer, under change capture.

Other connections never see a window's writes: SQLite isolates connections, and WAL readers read
the last commit. A window's statement may not write through the writer connection (it would yield
its own window): statements that draw AUTO_INCREMENT ids row by row (INSERT ... SELECT) take the
old way, as do in-memory databases (no second connection), sessions with temporary tables (they
live on the writer connection) and statements on the node's catalog tables.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import apsw

from p2pdb.schema import is_internal
from p2pdb.sql import autoids, local_triggers
from p2pdb.sql.functions import register as register_functions
from p2pdb.store import Database
from p2pdb.store.collation import connect
from p2pdb.store.engine import FileEngine

log = logging.getLogger(__name__)

#: How long a connection that needs the write lock waits for one held outside this process (the
#: busy timeout the engine set before this module's handler replaced it).
BUSY_SECONDS = 5.0
#: Idle window connections kept for the next transactions: per database, and in all.
POOL = 8
POOL_TOTAL = 32
#: Windows per database at most. Each is an SQLite connection (two file descriptors, its own page
#: cache): a thousand clients in open transactions must not exhaust the process's descriptors.
#: Transactions beyond it replay their writes on the writer connection (the old way).
MAX_WINDOWS = 64
_SLEEP = 0.005


class Window:
    """A transaction's connection while it writes."""

    __slots__ = ("__weakref__", "capture", "conn", "db", "kept", "open", "running")

    def __init__(self, db: Database, conn: apsw.Connection) -> None:
        self.db = weakref.ref(db)
        self.conn = conn
        self.open = False  # inside BEGIN IMMEDIATE with the transaction's writes applied
        self.running = False  # one of its statements runs now: it cannot yield
        #: Records the window's writes while it is open (an SQLite session).
        self.capture: apsw.Session | None = None
        #: Its writes when it last yielded, as a changeset: its next opening applies them.
        self.kept: bytes | None = None


class _Windows:
    """The windows of one database: open ones, and idle connections for the next."""

    def __init__(self) -> None:
        self.open: weakref.WeakSet[Window] = weakref.WeakSet()
        self.idle: list[apsw.Connection] = []
        self.taken = 0  # windows given to transactions and not closed yet


_by_db: weakref.WeakKeyDictionary[Database, _Windows] = weakref.WeakKeyDictionary()


def supported(db: Database) -> bool:
    return isinstance(db.engine, FileEngine)


def install(db: Database) -> None:
    """Give ``db``'s writer connection the busy handler that makes open windows yield."""
    if supported(db) and db not in _by_db:
        _by_db[db] = _Windows()
        db.conn.set_busy_handler(_busy_handler(db))


def take(db: Database) -> Window | None:
    """A window for a transaction on ``db`` (closed: :func:`begin` opens it), or None when
    :data:`MAX_WINDOWS` transactions hold one already (the transaction replays its writes on the
    writer connection instead, as before windows)."""
    install(db)
    windows = _by_db[db]
    if windows.taken >= MAX_WINDOWS:
        return None
    conn = windows.idle.pop() if windows.idle else _connect(db)
    windows.taken += 1
    return Window(db, conn)


def begin(window: Window) -> bool:
    """Open ``window``: BEGIN IMMEDIATE (making other open windows yield), then the writes it kept
    when it last yielded. False when the transaction must replay its statements instead: it kept
    nothing (new, or rolled back by an error) or what it kept no longer applies (another client
    changed one of its rows meanwhile, or the schema changed)."""
    conn = window.conn
    conn.execute("BEGIN IMMEDIATE")
    window.open = True
    db = window.db()
    if db is not None:
        _by_db[db].open.add(window)
    window.capture = _capture(conn)
    kept, window.kept = window.kept, None
    if kept is None:
        return False
    try:
        apsw.Changeset.apply(kept, conn, conflict=_abort)
    except apsw.Error:
        log.debug("a transaction's kept writes no longer apply: it replays its statements")
        rollback(window)
        begin(window)
        return False
    return True


def _capture(conn: apsw.Connection) -> apsw.Session:
    session = apsw.Session(conn, "main")
    session.config(apsw.SQLITE_SESSION_OBJCONFIG_ROWID, 1)  # tables without a primary key
    session.table_filter(lambda name: not is_internal(name))
    session.attach()
    return session


def _abort(_reason: int, _change: apsw.TableChange) -> int:
    return apsw.SQLITE_CHANGESET_ABORT


def close(window: Window, *, keep: bool = True) -> None:
    """Roll back ``window``; ``keep``: its connection serves the next transaction."""
    rollback(window)
    db = window.db()
    windows = _by_db.get(db) if db is not None else None
    if windows is not None:
        windows.taken -= 1
    if keep and windows is not None and len(windows.idle) < POOL and _idle_total() < POOL_TOTAL:
        windows.idle.append(window.conn)
    else:
        window.conn.close()


def _idle_total() -> int:
    return sum(len(windows.idle) for windows in _by_db.values())


def yield_open(db: Database) -> bool:
    """Roll back every open window of ``db`` (but one whose statement runs now); True if one was."""
    windows = _by_db.get(db)
    if windows is None:
        return False
    yielded = False
    for window in list(windows.open):
        if window.running:
            continue
        try:
            kept = window.capture.changeset() if window.capture is not None else None
        except apsw.Error:  # nothing kept: the transaction replays its statements
            kept = None
        rollback(window)
        window.kept = kept
        yielded = True
    return yielded


def rollback(window: Window) -> None:
    """Roll ``window`` back, forgetting its writes (its transaction replays its statements)."""
    window.kept = None
    if window.capture is not None:
        window.capture.close()
        window.capture = None
    if window.open:
        window.open = False
        db = window.db()
        if db is not None and db in _by_db:
            _by_db[db].open.discard(window)
    if not window.conn.getautocommit():
        window.conn.execute("ROLLBACK")


def _connect(db: Database) -> apsw.Connection:
    assert isinstance(db.engine, FileEngine)
    conn = connect(str(db.engine.path))
    conn.execute("PRAGMA foreign_keys = OFF")  # as on the writer: the store's rules, not SQLite's
    register_functions(conn)
    autoids.register(conn)
    local_triggers.register(db, conn)
    # A window needs the lock only in BEGIN IMMEDIATE, when it is not open itself: it makes all yield.
    conn.set_busy_handler(_busy_handler(db))
    return conn


def _busy_handler(db: Database) -> Callable[[int], bool]:
    """Busy handler of a connection of ``db`` that may write: the open windows yield and the write
    lock is retried at once; a lock held by another process is waited for as before."""
    ref = weakref.ref(db)

    def handler(prior: int) -> bool:
        found = ref()
        if found is not None and yield_open(found):
            return True
        if prior * _SLEEP >= BUSY_SECONDS:
            return False
        time.sleep(_SLEEP)
        return True

    return handler
