"""What a client statement may touch and how long it may run, enforced inside SQLite.

Every SQLite connection that runs client statements (each database's writer, the reader connections
of :mod:`p2pdb.sql.readers`, the scratch connections) gets one :class:`ConnGuard`: an authorizer and
a progress handler that act only while a client statement runs on that connection
(:meth:`ConnGuard.client`). The store's own work on the same connection (capture, log entries, merge
state, the information_schema refill) runs outside that window and is never checked or interrupted.

While a client statement runs:

- **Internal tables are out of reach.** Reading or writing a table whose name starts with ``_p2pdb_``
  or ``sqlite_`` (any case), a ``pragma_*`` table-valued function or ``dbstat`` is refused while SQLite
  prepares the statement, whatever the SQL looks like (joins, subqueries, quoting, ``main.``
  qualifiers); so are ATTACH/DETACH, PRAGMA (but SQLite's session extension may read the column list
  of a user table), transaction control, triggers, views, virtual tables and ``load_extension``.
  SQLite's nested statements of a client's DDL may read ``sqlite_master``. The client gets MySQL
  error 1146 (reads and writes of internal tables), 1103, 1305, 1235 or 1064 (:meth:`ConnGuard.error`).
  Prepared statements that SQLite caches are keyed by their SQL text: client SQL is run with a prefix
  (:data:`CLIENT_MARK`) so it can never reuse a statement the store prepared without the check.
- **Deadlines and KILL.** The progress handler (every :data:`PROGRESS_STEPS` SQLite VM steps, a few
  microseconds) stops the statement once its deadline passed (``max_execution_time``, or
  ``p2pdb_max_write_time`` for statements that run on the event loop), it was killed, or the node is
  shutting down; and, for a read that may move to a reader thread, once it ran longer than
  :data:`INLINE_BUDGET` on the event loop (:class:`Offload`).
- **Values are bounded**: SQLite's ``SQLITE_LIMIT_LENGTH`` is ``max_allowed_packet`` for the
  statement, so no string or blob it produces can be larger.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import apsw

from p2pdb.sql.protocol.errors import ErrorCode, MySQLError

#: SQLite VM steps between two calls of the progress handler (one call every ~20 µs of work).
PROGRESS_STEPS = 4000
#: Seconds a read may run on the event loop before it is moved to a reader thread.
INLINE_BUDGET = 0.005
#: Prefix of every client statement's SQL (keeps SQLite's statement cache apart from the store's).
CLIENT_MARK = "/*c*/"
CTE_FUNCTION = "p2pdb_cte_depth"
#: Names of the writer's TEMP triggers of CHECK and FOREIGN KEY enforcement (p2pdb.sql.local_triggers).
LOCAL_TRIGGER_PREFIX = "_p2pdb_lt_"
_SQLITE_DEFAULT_LENGTH = 1_000_000_000

# Why a statement stopped.
TIMEOUT = 1  # max_execution_time
WRITE_TIMEOUT = 2  # p2pdb_max_write_time
KILLED = 3  # KILL QUERY / KILL CONNECTION
SHUTDOWN = 4  # the node is stopping

_HIDDEN_PREFIXES = ("_p2pdb_", "sqlite_", "pragma_")
_MASTER = frozenset(("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"))
_DENIED_FUNCTIONS = frozenset(("load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"))
_SESSION_PRAGMAS = frozenset(("table_info", "table_xinfo"))
_DDL = frozenset(
    (apsw.SQLITE_CREATE_TABLE, apsw.SQLITE_CREATE_INDEX, apsw.SQLITE_DROP_TABLE, apsw.SQLITE_DROP_INDEX)
)
_INDEX_OPS = frozenset((apsw.SQLITE_CREATE_INDEX, apsw.SQLITE_DROP_INDEX))
_UNSUPPORTED = frozenset(
    (
        apsw.SQLITE_CREATE_TRIGGER,
        apsw.SQLITE_CREATE_TEMP_TRIGGER,
        apsw.SQLITE_DROP_TRIGGER,
        apsw.SQLITE_DROP_TEMP_TRIGGER,
        apsw.SQLITE_CREATE_VIEW,
        apsw.SQLITE_CREATE_TEMP_VIEW,
        apsw.SQLITE_DROP_VIEW,
        apsw.SQLITE_DROP_TEMP_VIEW,
        apsw.SQLITE_CREATE_TEMP_TABLE,
        apsw.SQLITE_CREATE_TEMP_INDEX,
        apsw.SQLITE_DROP_TEMP_TABLE,
        apsw.SQLITE_DROP_TEMP_INDEX,
        apsw.SQLITE_CREATE_VTABLE,
        apsw.SQLITE_DROP_VTABLE,
    )
)
_OK = apsw.SQLITE_OK
_DENY = apsw.SQLITE_DENY
_monotonic = time.monotonic
_shutting_down = False


def is_hidden(name: str | None) -> bool:
    """Internal tables (``_p2pdb_*``, ``sqlite_*``), pragma functions and ``dbstat``: never a client's."""
    if not name:
        return False
    low = name.lower()
    return low.startswith(_HIDDEN_PREFIXES) or low == "dbstat"


def begin_shutdown() -> None:
    """Stop every running client statement of this process now (SIGTERM/SIGINT)."""
    global _shutting_down
    _shutting_down = True


class Offload(Exception):
    """A read ran past :data:`INLINE_BUDGET` on the event loop: run it again on a reader thread."""


class CteDepthExceeded(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class Running:
    """A client statement from the moment it is received until its reply: what SHOW PROCESSLIST
    shows, its deadline, and why it was stopped (``stop``: 0 while it may run).

    ``deadline``: monotonic time at which max_execution_time stops it (inf: no limit);
    ``write_limit``: ``p2pdb_max_write_time`` in seconds (0: none), for its time on the event loop;
    ``database``: the session's database when it started (PROCESSLIST ``db``, error messages).
    """

    __slots__ = (
        "cte_limit",
        "database",
        "deadline",
        "insert_id",
        "max_value",
        "started",
        "state",
        "stop",
        "text",
        "variables",
        "warnings",
        "write_limit",
    )

    def __init__(
        self,
        text: str,
        *,
        write_limit: float = 0.0,
        cte_limit: int = 1000,
        max_value: int = 64 * 1024 * 1024,
        database: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.text = text
        self.started = _monotonic()
        self.deadline = math.inf
        self.stop = 0
        self.write_limit = write_limit
        self.cte_limit = cte_limit
        self.max_value = max_value
        self.database = database
        self.state = "executing"
        self.warnings: list[tuple[str, int, str]] | None = None
        #: The session's user variables, for a statement that assigns them (p2pdb.sql.user_variables).
        self.variables = variables
        #: LAST_INSERT_ID(expr)'s value, the session's next LAST_INSERT_ID() (None: not called).
        self.insert_id: int | None = None

    def kill(self, reason: int = KILLED) -> None:
        if not self.stop:
            self.stop = reason

    def check(self) -> None:
        """Raise the statement's error if it was stopped before or between its SQLite calls."""
        if self.stop:
            raise stop_error(self.stop, self)
        if _shutting_down:
            self.stop = SHUTDOWN
            raise stop_error(SHUTDOWN, self)
        if _monotonic() >= self.deadline:
            self.stop = TIMEOUT
            raise stop_error(TIMEOUT, self)

    def warn(self, code: int, message: str, level: str = "Warning") -> None:
        if self.warnings is None:
            self.warnings = []
        if len(self.warnings) < 64:  # max_error_count
            self.warnings.append((level, code, message))


def stop_error(reason: int, running: Running | None = None) -> MySQLError:
    if reason == KILLED:
        return MySQLError(ErrorCode.QUERY_INTERRUPTED, "Query execution was interrupted")
    if reason == SHUTDOWN:
        return MySQLError(ErrorCode.SERVER_SHUTDOWN, "Server shutdown in progress")
    message = "Query execution was interrupted, maximum statement execution time exceeded"
    if reason == WRITE_TIMEOUT and running is not None:
        limit = round(running.write_limit * 1000)
        message += f" (p2pdb_max_write_time: {limit} ms for statements that hold the database's writer)"
    return MySQLError(ErrorCode.QUERY_TIMEOUT, message)


class ConnGuard:
    """The authorizer and progress handler of one connection (see the module docstring)."""

    __slots__ = (
        "__weakref__",
        "budget",
        "conn",
        "current",
        "ddl",
        "denied",
        "depth",
        "offload",
        "until",
        "write_until",
    )

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = weakref.ref(conn)
        self.current: Running | None = None
        self.depth = 0
        self.until = math.inf
        self.budget = math.inf
        self.write_until = math.inf
        self.ddl = False
        self.offload = False
        self.denied: tuple[int, str] | None = None
        conn.authorizer = self._authorize
        conn.set_progress_handler(self._progress, PROGRESS_STEPS)
        conn.create_scalar_function(CTE_FUNCTION, self._cte_depth, 1, deterministic=False)  # type: ignore[arg-type]

    # -- the window in which a client statement runs -----------------------------------------------

    def client(self, running: Running, *, offload: bool = False, on_loop: bool = True) -> ConnGuard:
        """``with guard.client(running): ...`` runs a client statement: checks and limits apply
        inside, SQLite errors they cause become MySQL errors. ``offload``: the read may move to a
        reader thread (raises :class:`Offload` after :data:`INLINE_BUDGET`); ``on_loop``: it runs on
        the event loop, so ``p2pdb_max_write_time`` bounds it. Nested uses (a DDL callback inside a
        guarded statement) keep the outer one's settings."""
        now = _monotonic()
        if running.stop or _shutting_down or now >= running.deadline:
            running.check()
        self.depth += 1
        if self.depth > 1:
            return self
        self.budget = now + INLINE_BUDGET if offload else math.inf
        self.write_until = now + running.write_limit if on_loop and running.write_limit else math.inf
        self.until = min(running.deadline, self.budget, self.write_until)
        self.ddl = False
        self.offload = False
        self.denied = None
        self.current = running
        conn = self.conn()
        if conn is not None:
            conn.limit(apsw.SQLITE_LIMIT_LENGTH, max(1, running.max_value))
        return self

    def __enter__(self) -> ConnGuard:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.depth -= 1
        if self.depth:
            return
        running = self.current
        self.current = None
        self.until = math.inf
        conn = self.conn()
        if conn is not None:
            conn.limit(apsw.SQLITE_LIMIT_LENGTH, _SQLITE_DEFAULT_LENGTH)
        if exc is None or running is None or isinstance(exc, (Offload, MySQLError)):
            return
        if isinstance(exc, apsw.InterruptError):
            raise self._stopped(running) from None
        if isinstance(exc, CteDepthExceeded):
            raise MySQLError(
                ErrorCode.CTE_MAX_RECURSION_DEPTH,
                f"Recursive query aborted after {exc.limit + 1} iterations. Try increasing"
                " @@cte_max_recursion_depth to a larger value.",
            ) from None
        if isinstance(exc, apsw.TooBigError):
            raise MySQLError(
                ErrorCode.WARN_ALLOWED_PACKET_OVERFLOWED,
                f"Result of a string or blob expression was larger than max_allowed_packet"
                f" ({running.max_value})",
            ) from None
        if isinstance(exc, apsw.Error) and self.denied is not None:
            raise self.error(running.database) from None  # SQLite reports some refusals as plain errors
        return

    @contextmanager
    def internal(self) -> Iterator[None]:
        """Store work inside a client statement (AUTO_INCREMENT ids drawn by ``p2pdb_auto_id``)."""
        saved, self.current = self.current, None
        until, self.until = self.until, math.inf
        depth, self.depth = self.depth, 0
        conn = self.conn()
        assert conn is not None
        limit = conn.limit(apsw.SQLITE_LIMIT_LENGTH, _SQLITE_DEFAULT_LENGTH)
        try:
            yield
        finally:
            self.current, self.until, self.depth = saved, until, depth
            conn.limit(apsw.SQLITE_LIMIT_LENGTH, limit)

    def check(self) -> None:
        """For long Python functions (SLEEP): raise when the statement must stop or move."""
        running = self.current
        if running is None:
            return
        if running.stop or _shutting_down or _monotonic() >= self.until:
            self._expire(_monotonic())
            if self.offload:
                raise Offload()
            raise stop_error(running.stop or KILLED, running)

    # -- SQLite callbacks --------------------------------------------------------------------------

    def _progress(self) -> bool:
        running = self.current
        if running is None:
            return False
        if running.stop or _shutting_down:
            if not running.stop:
                running.stop = SHUTDOWN
            return True
        now = _monotonic()
        if now < self.until:
            return False
        self._expire(now)
        return True

    def _expire(self, now: float) -> None:
        running = self.current
        if running is None:
            return
        if _shutting_down and not running.stop:
            running.stop = SHUTDOWN
        if running.stop:
            return
        if now >= running.deadline:
            running.stop = TIMEOUT
        elif now >= self.write_until:
            running.stop = WRITE_TIMEOUT
        elif now >= self.budget:
            self.offload = True

    def _stopped(self, running: Running) -> Exception:
        if self.offload and not running.stop:
            return Offload()
        return stop_error(running.stop or KILLED, running)

    def _cte_depth(self, depth: Any) -> Any:
        running = self.current
        limit = running.cte_limit if running is not None else 1000
        if isinstance(depth, int) and depth > limit:
            raise CteDepthExceeded(limit)
        return depth

    def _authorize(self, op: int, one: str | None, two: str | None, _db: str | None, _by: str | None) -> int:
        if self.current is None:
            return _OK
        if op == apsw.SQLITE_READ:
            if one is not None and is_hidden(one):
                if self.ddl and one.lower() in _MASTER:
                    return _OK  # SQLite's own nested statements of a DDL statement
                return self._deny(op, one)
            return _OK
        if op == apsw.SQLITE_SELECT or op == apsw.SQLITE_RECURSIVE:
            self.ddl = False
            return _OK
        if op in (apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE, apsw.SQLITE_DELETE):
            if one is not None and one.lower() in _MASTER:
                return _OK  # DDL bookkeeping; SQLite refuses direct writes to its schema table
            return self._deny(op, one) if is_hidden(one) else _OK
        if op == apsw.SQLITE_FUNCTION:
            return self._deny(op, two) if (two or "").lower() in _DENIED_FUNCTIONS else _OK
        if op in _DDL:
            # (table, None) or (index, table); SQLite names the indexes of keys sqlite_autoindex_*
            table = two if op in _INDEX_OPS else one
            if is_hidden(table) or (one or "").lower().startswith("_p2pdb_"):
                return self._deny(op, table if is_hidden(table) else one)
            self.ddl = True
            return _OK
        if op == apsw.SQLITE_ALTER_TABLE:
            if is_hidden(two):
                return self._deny(op, two)
            self.ddl = True
            return _OK
        if op == apsw.SQLITE_REINDEX:
            return _OK if self.ddl else self._deny(op, one)
        if op == apsw.SQLITE_PRAGMA:
            # SQLite's session extension reads a user table's columns while it records changes.
            if (one or "").lower() in _SESSION_PRAGMAS and two and not is_hidden(two):
                return _OK
            return self._deny(op, two if is_hidden(two) else one)
        if op == apsw.SQLITE_SAVEPOINT:
            return _OK  # SAVEPOINT / ROLLBACK TO / RELEASE of a client's transaction
        if op == apsw.SQLITE_DROP_TEMP_TRIGGER and (one or "").startswith(LOCAL_TRIGGER_PREFIX):
            return _OK  # DROP TABLE of a table with constraints (p2pdb.sql.local_triggers)
        return self._deny(op, one)

    def _deny(self, op: int, name: str | None) -> int:
        if self.denied is None:
            self.denied = (op, name or "")
        return _DENY

    def error(self, database: str | None = None) -> MySQLError:
        """The MySQL error for the statement the authorizer refused."""
        op, name = self.denied if self.denied is not None else (apsw.SQLITE_READ, "")
        if op == apsw.SQLITE_FUNCTION:
            return MySQLError(1305, f"FUNCTION {database or ''}.{name} does not exist")
        if op == apsw.SQLITE_CREATE_TABLE:
            return MySQLError(ErrorCode.WRONG_TABLE_NAME, f"Incorrect table name '{name}'")
        if op in _UNSUPPORTED:
            return MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                "This version of P2PDB doesn't yet support triggers, views and virtual tables",
            )
        if op in _CONTROL and not (op == apsw.SQLITE_PRAGMA and is_hidden(name)):
            return MySQLError(
                ErrorCode.PARSE_ERROR,
                "You have an error in your SQL syntax; check the manual that corresponds to your MySQL"
                " server version for the right syntax to use",
            )
        return MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{database or ''}.{name}' doesn't exist")


_CONTROL = frozenset(
    (apsw.SQLITE_ATTACH, apsw.SQLITE_DETACH, apsw.SQLITE_TRANSACTION, apsw.SQLITE_PRAGMA, apsw.SQLITE_ANALYZE)
)

_guards: weakref.WeakKeyDictionary[apsw.Connection, ConnGuard] = weakref.WeakKeyDictionary()
_by_id: dict[int, ConnGuard] = {}
_lock = threading.Lock()


def guard_of(conn: apsw.Connection) -> ConnGuard:
    """The connection's guard, installed on first use."""
    guard = _by_id.get(id(conn))
    if guard is not None and guard.conn() is conn:
        return guard
    with _lock:
        guard = _guards.get(conn)
        if guard is None:
            guard = _guards[conn] = ConnGuard(conn)
        if len(_by_id) > 4096:  # ids of connections that are gone
            for key in [k for k, g in _by_id.items() if g.conn() is None]:
                del _by_id[key]
        _by_id[id(conn)] = guard
    return guard
