"""One client's SQL session: statements, transactions, variables and prepared statements.

Where statements run (DESIGN §2, invariant 8: no query stops the node):

- a read starts on the event loop (most take microseconds); one that runs longer than
  :data:`~p2pdb.sql.guard.INLINE_BUDGET` there is stopped and run again on a reader connection in a
  worker thread (:mod:`p2pdb.sql.readers`), and its plan goes there directly from then on;
- statements that need a database's writer (writes, DDL, the statements of a transaction after its
  first write) and every statement of an in-memory database run on the event loop, at most
  ``p2pdb_max_write_time`` ms; SELECTs stop after ``max_execution_time``; KILL stops any of them.
  All of this is enforced inside SQLite by each connection's :class:`~p2pdb.sql.guard.ConnGuard`,
  which also keeps the internal tables out of reach.

A statement never holds SQLite's write lock across a client round trip (DESIGN §6):

- autocommit writes run as one store transaction each (capture + log entry + commit);
- in an explicit transaction, statements are *recorded*. A write (or a read after the first write)
  runs inside ``BEGIN IMMEDIATE`` on top of a replay of the transaction's earlier writes and is
  rolled back right away, so the client sees its own writes; COMMIT replays everything once more
  in one store transaction. If a replayed write or locking read (``FOR UPDATE``) now gives a
  different result, another client changed the same data: the transaction is rolled back and the
  client gets error 1213 (ER_LOCK_DEADLOCK), which drivers and ORMs treat as "retry".
  AUTO_INCREMENT ids are drawn once, when a statement first runs, and a replay reuses them (an
  ``INSERT ... SELECT`` keeps its ids in the :class:`~p2pdb.sql.autoids.AutoIds` of its bindings), so
  the rows committed carry the ids the client saw.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import inspect
import itertools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw
import sqlglot
from sqlglot import exp

from p2pdb.schema import ident
from p2pdb.sql import (
    in_lists,
    insert_rows,
    local_triggers,
    mysqltypes,
    system_time,
    timezones,
    user_variables,
    windows,
)
from p2pdb.sql.account_statements import authorize, check_use
from p2pdb.sql.autoids import AutoIds, drawing
from p2pdb.sql.cte import limit_recursion
from p2pdb.sql.ddl import mysql_index_name
from p2pdb.sql.errors_map import to_mysql
from p2pdb.sql.exact import bits_number, character_text, is_bits_literal
from p2pdb.sql.guard import CLIENT_MARK, KILLED, ConnGuard, Offload, Running, guard_of
from p2pdb.sql.history import equalities, history_filter
from p2pdb.sql.information_schema import names_session_tables
from p2pdb.sql.lexer import (
    QUALIFIER,
    Lexed,
    lex,
    split_statements,
    unwrap_version_comments,
    without_qualifier,
)
from p2pdb.sql.load_data import refuse_server_files
from p2pdb.sql.plan import Plan, build_plan, projection_names, render_name
from p2pdb.sql.protocol.backend import ConnectInfo, HandOff
from p2pdb.sql.protocol.constants import FieldType
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column, OkResult, Result, ResultSet
from p2pdb.sql.readers import supports_readers
from p2pdb.sql.translate import transpile
from p2pdb.sql.variables import as_bool, normalize_name
from p2pdb.store import Database, StoreError
from p2pdb.store.engine import FileEngine

if TYPE_CHECKING:
    from p2pdb.sql.backend import SQLBackend

log = logging.getLogger(__name__)
_PNAMES = [f"p{i}" for i in range(1, 70000)]
_INT64_MAX = 2**63 - 1
_DIGITS = frozenset("0123456789.")
_NO_SELECT_LIMIT = 2**64 - 1
_HAS_LIMIT = re.compile(r"\bLIMIT\b", re.IGNORECASE)
_SHAPE_PARAM = re.compile(r":[pgu]\d+\b")
_INSERTS = re.compile(r"^\s*(?:INSERT|REPLACE)\b", re.IGNORECASE)
#: A statement that changes session values as it runs (user variables, LAST_INSERT_ID(expr)).
_EFFECTS = re.compile(r"\bP2PDB_SET_VAR\s*\(|\bLAST_INSERT_ID\s*\(\s*[^\s)]", re.IGNORECASE)
#: ``SELECT ... INTO @a, @b`` (after the projection or at the end), user variables as the lexer names them.
_INTO_VARIABLES = re.compile(r"\s+INTO\s+(:u\d+(?:\s*,\s*:u\d+)*)(?![\w(])", re.IGNORECASE)
_OK = OkResult()
_CLOCK_NAMES = ("f_now", "f_now6", "f_curdate", "f_curtime")
# First keywords of MySQL statements this layer has no handler for: 1235 (not supported yet);
# any other unknown first word is a syntax error (1064), as in MySQL.
_MYSQL_STATEMENTS = frozenset(("BINLOG", "CACHE", "CALL", "CHANGE", "CLONE", "DEALLOCATE", "DECLARE", "EXECUTE",
    "GET", "GRANT", "HANDLER", "HELP", "IMPORT", "INSTALL", "LOAD", "PREPARE", "PURGE", "RENAME", "RESET",
    "RESIGNAL", "RESTART", "REVOKE", "SHUTDOWN", "SIGNAL", "UNINSTALL", "XA"))  # fmt: skip


ID_CLASS_WAIT = 10.0
_SELECT_KINDS = frozenset(("SELECT", "WITH", "TABLE", "VALUES"))
_DML_KINDS = frozenset(("SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "VALUES", "TABLE"))
_HINT = re.compile(r"^\s*(?:\(\s*)*SELECT\s*/\*\+[^*]*?\bMAX_EXECUTION_TIME\s*\(\s*(\d+)\s*\)", re.IGNORECASE)


async def ensure_id_class(db: Database) -> None:
    """Wait until this node holds an AUTO_INCREMENT id class in ``db`` (docs: store/autoinc), asking
    connected peers for one; a node that may take the root class takes it on its first allocation."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ID_CLASS_WAIT
    delay = 0.01
    while db.id_class() is None:
        if db.ids.empty and (db.may_claim_ids is None or db.may_claim_ids()):
            return
        if db.request_ids is not None:
            db.request_ids()
        if loop.time() > deadline:
            raise MySQLError(
                1467,
                f"Failed to read auto-increment value from storage engine: this node holds no id range in"
                f" database '{db.name}' and no connected peer gave one (connect to a peer of that database)",
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


class Conflict(Exception):
    """A replayed statement of a transaction no longer gives the result the client saw."""


@dataclass(slots=True)
class Recorded:
    """One statement of an open transaction, with what it returned the first time."""

    plan: Plan
    bindings: dict[str, Any]
    check: bool
    fingerprint: Any = None
    #: The session's user variables before the statement ran, when it assigns some (``@v := ...``,
    #: ``LAST_INSERT_ID(expr)``): a replay runs on a copy of them, so it writes what the client saw.
    variables: dict[str, Any] | None = None


@dataclass(slots=True)
class Transaction:
    db: Database | None = None
    statements: list[Recorded] = field(default_factory=list)
    first_write: int | None = None
    allow_drop: bool = False
    #: BEGIN / START TRANSACTION; an implicit one (autocommit off) is open only once a statement ran.
    explicit: bool = False
    #: The connection that keeps the transaction's writes between its statements (:mod:`.windows`).
    window: windows.Window | None = None
    #: START TRANSACTION READ ONLY (True) / READ WRITE (False); None: as transaction_read_only says.
    read_only: bool | None = None


#: Main process: statements in a row that a reader process could have run, after which an idle
#: autocommit connection goes back to one (a pooled connection that wrote once, then only reads).
READS_BEFORE_LEAVING = 8
#: A reader process starts and ends transactions that only read (plain BEGIN / START TRANSACTION,
#: COMMIT, ROLLBACK; nothing after them such as AND CHAIN, TO SAVEPOINT or RELEASE).
_TXN_HERE = re.compile(
    r"^\s*(?:BEGIN(?:\s+WORK)?|START\s+TRANSACTION(?:\s+(?:READ\s+(?:ONLY|WRITE)|WITH\s+CONSISTENT\s+SNAPSHOT)"
    r"(?:\s*,\s*(?:READ\s+(?:ONLY|WRITE)|WITH\s+CONSISTENT\s+SNAPSHOT))*)?|COMMIT(?:\s+WORK)?|ROLLBACK(?:\s+WORK)?)\s*$",
    re.IGNORECASE,
)
_TXN_KINDS = frozenset(("BEGIN", "START", "COMMIT", "ROLLBACK"))


_ROUTINE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?(?:AGGREGATE\s+)?"
    r"(?:PROCEDURE|FUNCTION|TRIGGER|EVENT)\b",
    re.IGNORECASE,
)


class SQLSession:
    """Implements :class:`p2pdb.sql.protocol.backend.Session` over the node's databases."""

    def __init__(self, backend: SQLBackend, info: ConnectInfo) -> None:
        self.backend = backend
        self.info = info
        self.user = info.user
        self.database: str | None = None
        #: SET TRANSACTION READ ONLY / READ WRITE (no scope): the access mode of the next transaction.
        self.next_read_only: bool | None = None
        self.variables: dict[str, Any] = backend.session_defaults()
        self.user_vars: dict[str, Any] = {}
        #: SQL-level prepared statements (PREPARE name FROM ...): name -> statement text.
        self.sql_prepared: dict[str, str] = {}
        #: The last statement was a COMMIT or ROLLBACK that ended a BEGIN's transaction, and how many
        #: statements in a row a reader process could have run (main process, for a connection a
        #: reader handed over; None: not counted). See may_leave.
        self.ended_transaction = False
        self.reads_in_a_row: int | None = None
        #: Rows the last REPLACE deleted (its probe), added to its affected rows.
        self._replaced = 0
        #: Rows a multi-row INSERT's upserts returned (their ids), and the row that failed (its number
        #: and statement): see _execute.
        self._fetched: list[Any] | None = None
        self._failed_row: tuple[int, Lexed] | None = None
        self._running_row: Lexed | None = None
        self.txn: Transaction | None = None
        self.last_insert_id = 0
        self.row_count = -1
        self.found_rows = 0
        self.warnings: list[tuple[str, int, str]] = []
        #: The statement running now (SHOW PROCESSLIST, KILL), and since when the session is in its
        #: current command.
        self.running: Running | None = None
        self.command = "Sleep"
        self.since = time.monotonic()
        self.closed = False
        if info.database:
            self._use(info.database)
        backend.sessions[info.connection_id] = self

    # -- protocol Session interface -------------------------------------------------------------

    @property
    def autocommit(self) -> bool:
        return bool(self.variables["autocommit"])

    @property
    def in_transaction(self) -> bool:
        """SERVER_STATUS_IN_TRANS: after BEGIN, or with autocommit off once a statement on a table ran
        (as MySQL: ``SET autocommit = 0`` alone opens none, so a driver's start_transaction() works)."""
        txn = self.txn
        return txn is not None and (txn.explicit or bool(txn.statements))

    async def execute(self, sql: str, *, multi: bool) -> Sequence[Result]:
        if _ROUTINE.match(sql):  # a body with its own semicolons: one statement, refused whole
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                "This version of P2PDB doesn't yet support stored procedures, functions, triggers and"
                " events (see docs/mysql-compatibility.md)",
            )
        statements = split_statements(sql) if ";" in sql else [sql]
        if len(statements) > 1 and not multi:
            raise MySQLError(ErrorCode.PARSE_ERROR, "multi-statements are not enabled for this connection")
        if not statements:
            raise MySQLError(ErrorCode.EMPTY_QUERY, "Query was empty")
        results: list[Result] = []
        for statement in statements:
            try:
                results.append(await self.run(lex(statement), statement))
            except MySQLError as exc:
                exc.partial = list(results)
                raise
        return results

    async def prepare(self, sql: str) -> PreparedStatement:
        statements = split_statements(sql)
        if len(statements) != 1:
            raise MySQLError(ErrorCode.UNSUPPORTED_PS, "prepared statements take exactly one statement")
        statement = PreparedStatement(self, statements[0])
        if statement.lexed.kind == "SELECT":
            statement.result_columns = await self.backend.describe(self, statement.lexed)
        return statement

    def adopt(self, stmt: object) -> bool:
        """Take over a statement an earlier session of this connection prepared in this process
        (:meth:`p2pdb.sql.protocol.prepared.StatementRegistry.restore`); False if it is not one."""
        if type(stmt) is not PreparedStatement or type(stmt.session) is not type(self):
            return False
        stmt.session = self
        return True

    async def use(self, database: str) -> None:
        self._use(database)

    async def field_list(self, table: str, wildcard: str) -> Sequence[Column]:
        db = self._current_db()
        spec = db.catalog.tables.get(table)
        if spec is None:
            raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db.name}.{table}' doesn't exist")
        return [self.backend.column_for(db, spec, col.name, col.name) for col in spec.columns]

    async def reset(self) -> None:
        self._drop_txn()
        self.variables = self.backend.session_defaults()
        self.user_vars.clear()
        self.sql_prepared.clear()
        self.warnings.clear()

    def close(self) -> None:
        self._drop_txn()
        self.closed = True
        temp = getattr(self, "_temp_tables", None)
        if temp is not None:  # CREATE TEMPORARY TABLE lasts as long as the connection
            temp.drop_all(self.backend.registry)
        if self.running is not None:
            self.running.kill(KILLED)
        if self.backend.sessions.get(self.info.connection_id) is self:
            del self.backend.sessions[self.info.connection_id]

    # -- what runs, and stopping it -------------------------------------------------------------

    def kill_query(self, reason: int = KILLED) -> None:
        """KILL QUERY: stop the running statement (the connection stays)."""
        if self.running is not None:
            self.running.kill(reason)

    def kill_connection(self) -> None:
        """KILL CONNECTION: stop the running statement and close the connection."""
        self.kill_query()
        closer = self.info.closer
        if closer is not None:
            closer()

    def processlist_row(self, now: float) -> tuple[Any, ...]:
        """(Id, User, Host, db, Command, Time, State, Info) as SHOW PROCESSLIST shows this session."""
        running = self.running
        return (
            self.info.connection_id,
            self.user,
            self.info.peer_host,
            self.database,
            self.command,
            int(now - self.since),
            running.state if running is not None else "",
            running.text if running is not None else None,
        )

    def note(self, code: int, message: str, level: str = "Note") -> OkResult:
        """An OK with one warning that SHOW WARNINGS lists (``DROP TABLE IF EXISTS`` of a missing table...)."""
        self.warnings.append((level, code, message))
        return OkResult(warnings=len(self.warnings))

    def _new_running(self, text: str) -> Running:
        variables = self.variables  # SET keeps these integers (statements._integer_variable)
        return Running(
            text,
            write_limit=variables["p2pdb_max_write_time"] / 1000,
            cte_limit=variables["cte_max_recursion_depth"],
            max_value=variables["max_allowed_packet"],
            database=self.database,
            variables=self.user_vars,
        )

    def _time_limit(self, running: Running, text: str) -> None:
        """``max_execution_time`` (or its optimizer hint) applies to this SELECT."""
        limit = _int(self.variables.get("max_execution_time"))
        if "/*+" in text:
            hint = _HINT.match(text)
            if hint is not None:
                limit = int(hint.group(1))
        if limit > 0:
            running.deadline = running.started + limit / 1000

    def guarded(self, conn: apsw.Connection, *, offload: bool = False) -> ConnGuard:
        """``with session.guarded(conn):`` runs part of the current statement on ``conn`` under its
        guard (see :mod:`.guard`)."""
        running = self.running
        if running is None:  # a statement run outside run() (internal callers): no limits
            running = Running("")
        # ON UPDATE CURRENT_TIMESTAMP, CHECK and FOREIGN KEY triggers follow the schema
        local_triggers.ensure(conn, self.variables.get("foreign_key_checks", 1))
        return guard_of(conn).client(running, offload=offload)

    # -- dispatch -------------------------------------------------------------------------------

    async def run(self, lexed: Lexed, text: str, command: str = "Query", kind: str | None = None) -> Result:
        """Run one statement; ``kind`` is ``lexed.kind`` when the caller knows it already."""
        outer = self.running
        running = self.running = self._new_running(text)
        if outer is None:
            self.command, self.since = command, running.started
        if kind is None:
            kind = lexed.kind
        self._failed_row = None
        if outer is None and self.reads_in_a_row is not None:  # a connection a reader handed over
            here = self.idle_autocommit() and self.backend.statement_runs_here(lexed, kind)
            self.reads_in_a_row = self.reads_in_a_row + 1 if here else 0
        try:
            authorize(self, lexed, kind)
            if kind in _DML_KINDS:
                if kind != "SHOW" and not _reads_diagnostics(lexed):
                    self.warnings.clear()
                result = await self._dml(lexed, kind)
            else:
                result = await self._run(lexed, text, kind)
        except Exception as exc:
            error = self._mysql_error(exc, text)
            if outer is None:  # the error joins the diagnostics area: SHOW WARNINGS / SHOW ERRORS list it
                if running.warnings:
                    self.warnings.extend(running.warnings)
                    running.warnings = None
                if len(self.warnings) < 64:  # max_error_count
                    self.warnings.append(("Error", error.code, error.message))
            raise error from exc
        finally:
            self.running = outer
            if outer is None:
                self.command, self.since = "Sleep", time.monotonic()
            if running.warnings:
                self.warnings.extend(running.warnings)
        if isinstance(result, ResultSet):
            self.row_count = -1  # ROW_COUNT() after a statement that returned rows
        if running.insert_id is not None:  # LAST_INSERT_ID(expr) ran
            self.last_insert_id = running.insert_id
            if isinstance(result, OkResult):
                result = OkResult(result.affected_rows, running.insert_id, result.warnings, result.info)
        if running.warnings:
            if isinstance(result, ResultSet):
                result.warnings = len(self.warnings)
            elif isinstance(result, OkResult):
                result = OkResult(
                    result.affected_rows, result.last_insert_id, len(self.warnings), result.info
                )
        return result

    def runs_here(self, lexed: Lexed, kind: str) -> bool:
        """In a reader process (:mod:`p2pdb.sql.serving`): whether this statement runs here: reads
        and session statements outside any transaction, and the start, the reads and the end of a
        transaction that has not written yet; everything else goes to the main process."""
        if kind in _TXN_KINDS:
            return (self.idle_autocommit() or self.reading_transaction()) and _TXN_HERE.match(
                lexed.shape
            ) is not None
        if self.idle_autocommit():
            return self.backend.statement_runs_here(lexed, kind)
        return (
            kind == "SELECT" and self.reading_transaction() and self.backend.statement_runs_here(lexed, kind)
        )

    def idle_autocommit(self) -> bool:
        """No transaction open or pending, and autocommit on."""
        return self.txn is None and self.next_read_only is None and bool(self.variables["autocommit"])

    def may_leave(self) -> bool:
        """Main process with reader processes: whether the connection goes back to one now. After
        a BEGIN's transaction ended (COMMIT or ROLLBACK), or, for a connection a reader handed over
        (``reads_in_a_row`` counted), after :data:`READS_BEFORE_LEAVING` statements in a row that a
        reader could have run; in autocommit mode, with nothing only this process holds (temporary
        tables). A connection that mixes autocommit writes and reads stays here: moving it both
        ways at every INSERT would cost more than it saves (a move costs both processes about as
        much as a few reads). One the kernel dealt to this process stays for its reads too: the
        processes share the clients that only read."""
        ended, self.ended_transaction = self.ended_transaction, False
        reads = self.reads_in_a_row
        if not ended and (reads is None or reads < READS_BEFORE_LEAVING):
            return False
        if reads is not None:
            self.reads_in_a_row = 0
        return self.idle_autocommit() and self.running is None and getattr(self, "_temp_tables", None) is None

    def reading_transaction(self) -> bool:
        """In autocommit mode, a BEGIN's transaction that has not written: a reader process serves
        its reads (they see the last commit, as the main process's reads before a transaction's
        first write do) and hands it over at its first other statement, a locking read included
        (:meth:`export_state` checks that none was recorded)."""
        txn = self.txn
        return (
            txn is not None
            and txn.explicit
            and txn.first_write is None
            and txn.window is None
            and bool(self.variables["autocommit"])
        )

    def export_state(self) -> dict[str, Any]:
        """What a process passes on with a connection it hands to another (:mod:`p2pdb.sql.serving`):
        the session, and a transaction that has only read so far."""
        txn = self.txn
        moving: dict[str, Any] | None = None
        # (a reader never runs a locking read, so only here is it looked for: once per move, not
        # once per statement of a long transaction)
        if (
            txn is not None
            and self.reading_transaction()
            and not any(recorded.check for recorded in txn.statements)
        ):
            moving = {"read_only": txn.read_only, "db": txn.db.name if txn.db is not None else None}
        elif txn is not None and (txn.explicit or txn.statements or txn.db is not None):
            raise ValueError("a session inside a transaction that wrote cannot move")
        info = self.info
        return {
            "user": info.user,
            "collation": info.collation,
            "found_rows_flag": info.found_rows,
            "attributes": dict(info.attributes),
            "database": self.database,
            "variables": self.variables,
            "user_vars": self.user_vars,
            "warnings": [list(w) for w in self.warnings],
            "last_insert_id": self.last_insert_id,
            "row_count": self.row_count,
            "found_rows": self.found_rows,
            "next_read_only": self.next_read_only,
            "sql_prepared": self.sql_prepared,
            "txn": moving,
        }

    def import_state(self, state: dict[str, Any]) -> None:
        """Take over a session a reader process handed over (:meth:`export_state`)."""
        self.database = state["database"]
        self.variables = dict(state["variables"])
        self.user_vars = dict(state["user_vars"])
        self.warnings = [(str(level), int(code), str(text)) for level, code, text in state["warnings"]]
        self.last_insert_id = int(state["last_insert_id"])
        self.row_count = int(state["row_count"])
        self.found_rows = int(state["found_rows"])
        self.next_read_only = state["next_read_only"]
        self.sql_prepared = dict(state["sql_prepared"])
        moving = state.get("txn")
        if moving is not None:  # begun (and only read) in the other process
            name = moving["db"]
            db = self.backend.registry.get(name) if name is not None else None
            self.txn = Transaction(db=db, explicit=True, read_only=moving["read_only"])
        elif not self.autocommit:
            self.txn = Transaction()  # autocommit off: the next statement opens one

    async def run_inside(self, lexed: Lexed, text: str) -> Result:
        """Run a statement on behalf of another one (a prepare's describing run, SET's subquery):
        what ROW_COUNT() and FOUND_ROWS() report stays as the client's last statement left it."""
        counts = self.row_count, self.found_rows
        try:
            return await self.run(lexed, text)
        finally:
            self.row_count, self.found_rows = counts

    async def _run(self, lexed: Lexed, text: str, kind: str) -> Result:
        if kind != "SHOW":
            self.warnings.clear()
        handler = self.backend.handlers.get(kind)
        if handler is None and kind not in _MYSQL_STATEMENTS:
            raise MySQLError(
                ErrorCode.PARSE_ERROR,
                "You have an error in your SQL syntax; check the manual that corresponds to your MySQL"
                f" server version for the right syntax to use near '{text.strip()[:64]}' at line 1",
            )
        if handler is None:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                f"This version of P2PDB doesn't yet support '{text.strip()[:64]}'",
            )
        result = handler(self, lexed, unwrap_version_comments(text))
        return await result if inspect.isawaitable(result) else result

    def _mysql_error(self, exc: Exception, text: str) -> MySQLError:
        """Any failure of a statement as the MySQL error the client gets (the connection stays)."""
        failed, self._failed_row = self._failed_row, None
        if failed is not None:  # a row of a multi-row INSERT: the error names it, as MySQL's does
            number, row = failed
            error = self._mysql_error(exc, insert_rows.text_of(row))
            message = insert_rows.at_row(error.message, number)
            return error if message == error.message else MySQLError(error.code, message, error.sqlstate)
        if isinstance(exc, MySQLError):
            return exc
        if isinstance(exc, Conflict):
            self._drop_txn()
            return MySQLError(
                ErrorCode.LOCK_DEADLOCK,
                f"Deadlock found when trying to get lock; try restarting transaction ({exc})",
            )
        error = to_mysql(exc, self.database)
        if error.code == ErrorCode.PARSE_ERROR and _SHAPE_PARAM.search(error.message):
            error = self._unshaped(error, text)
        if error.code == ErrorCode.BAD_NULL_ERROR and _INSERTS.match(text):
            error = _omitted_column(error, text)
        if error.code == ErrorCode.DUP_ENTRY and (db := self._db_or_none()) is not None:
            error = _duplicate_entry(error, str(exc), text, db)
        if error.code == ErrorCode.NO_SUCH_TABLE:
            error = self._waiting_table(error)
        if error.code == ErrorCode.UNKNOWN_ERROR:
            log.debug("statement failed: %s", text[:200], exc_info=True)
        return error

    @staticmethod
    def _unshaped(error: MySQLError, text: str) -> MySQLError:
        """SQLite quoted the statement's shape (``near ':p1'``): the client sees its own literals."""
        try:
            message = render_name(error.message, lex(text))
        except IndexError:  # not this statement's parameters
            return error
        return MySQLError(error.code, message, error.sqlstate)

    def _waiting_table(self, error: MySQLError) -> MySQLError:
        """A missing table whose entries wait for a conflict rule not installed here says so."""
        match = re.search(r"Table '(?:([^'.]*)\.)?([^']*)'", error.message)
        name = (match.group(1) or self.database) if match else None
        db = self.backend.registry.get(name) if name else None
        rule = db.parked_tables.get(ident(match.group(2))) if db is not None and match else None
        if rule is None:
            return error
        return MySQLError(
            error.code,
            f"{error.message} on this node: it merges by conflict rule {rule!r}, which is not installed"
            " here (install the package that provides it, then restart the node)",
        )

    def _use(self, name: str) -> None:
        if name.lower() == "information_schema":
            self.database = "information_schema"
            return
        if self.backend.registry.get(name) is None:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{name}'")
        check_use(self, name)
        self.database = name

    def _current_db(self) -> Database:
        if self.database is None:
            raise MySQLError(ErrorCode.NO_DB_ERROR, "No database selected")
        db = self.backend.registry.get(self.database)
        if db is None:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{self.database}'")
        return db

    def _db_or_none(self) -> Database | None:
        if self.database is None or self.database == "information_schema":
            return None
        return self.backend.registry.get(self.database)

    # -- statements on data ---------------------------------------------------------------------

    def bindings(self, lexed: Lexed, plan: Plan) -> dict[str, Any]:
        params = lexed.params
        bound: dict[str, Any] = dict(zip(_PNAMES, params, strict=False)) if params else {}
        for index in plan.text_params:  # numeric literals computed exactly: their text, not a double
            raw = lexed.raw[index]
            if raw[:1] in _DIGITS:  # (a plan is shared by shapes whose literals are strings there)
                bound[_PNAMES[index]] = raw
        for index in plan.number_params:  # 0xFF, b'101' where a number is expected
            value = params[index]
            if type(value) is bytes and is_bits_literal(lexed.raw[index]):
                bound[_PNAMES[index]] = bits_number(value)
        for index in plan.string_params:  # 0x41 or _binary'A' written to a VARCHAR: the text 'A'
            value = params[index]
            if type(value) is bytes:
                bound[_PNAMES[index]] = character_text(value)
        if lexed.sysvars:
            for key, name in lexed.sysvars.items():
                value = self._sysvar(name)
                # 64-bit unsigned values (sql_select_limit's 18446744073709551615) exceed SQLite's int64
                bound[key] = str(value) if type(value) is int and value > _INT64_MAX else value
        if lexed.uservars:
            for key, name in lexed.uservars.items():
                bound[key] = self.user_vars.get(name.lower())
        if ":f_" in plan.sql:
            if ":f_now" in plan.sql or ":f_cur" in plan.sql:
                bound.update(self._clock())
            bound.update(
                f_lid=self.last_insert_id,
                f_db=self.database,
                f_cid=self.info.connection_id,
                f_user=f"{self.user}@{self.info.peer_host}",
                f_found=self.found_rows,
                f_rowcount=self.row_count,
            )
        return bound

    def time_zone(self) -> datetime.tzinfo:
        """The session's ``time_zone`` (SYSTEM: UTC)."""
        return timezones.zone(self.variables.get("time_zone", "SYSTEM")) or datetime.UTC

    def _clock(self) -> dict[str, str]:
        """NOW(), CURDATE(), CURTIME() of this statement, in the session's ``time_zone``."""
        zone = timezones.zone(self.variables.get("time_zone", "SYSTEM")) or datetime.UTC
        moment = datetime.datetime.now(zone)
        whole = moment.strftime("%Y-%m-%d %H:%M:%S")
        return {
            "f_now": whole,
            "f_now6": f"{whole}.{moment.microsecond:06d}",
            "f_curdate": moment.strftime("%Y-%m-%d"),
            "f_curtime": moment.strftime("%H:%M:%S"),
        }

    def refresh_auto_vars(self) -> None:
        """``auto_increment_increment``/``_offset`` tell the id class this node generates ids from in
        the current database (1 and 1, MySQL's defaults, until it holds one)."""
        db = self._db_or_none()
        cls = db.id_class() if db is not None else None
        self.variables["auto_increment_increment"] = cls.modulus if cls is not None else 1
        self.variables["auto_increment_offset"] = cls.offset if cls is not None else 1

    def _sysvar(self, name: str) -> Any:
        key = normalize_name(name)
        if key.startswith("auto_increment_"):
            self.refresh_auto_vars()
        if key in ("last_insert_id", "identity"):
            return self.last_insert_id
        if key == "warning_count":
            return len(self.warnings)
        if key == "error_count":
            return sum(1 for level, _, _ in self.warnings if level == "Error")
        if key not in self.variables:
            raise MySQLError(ErrorCode.UNKNOWN_SYSTEM_VARIABLE, f"Unknown system variable '{key}'")
        return self.variables[key]

    def _qualified(self, lexed: Lexed, db: Database | None) -> tuple[Lexed, Database | None]:
        """``SELECT ... FROM shop.t``: run on database ``shop`` with the qualifier dropped (one
        database per statement; SQLite holds each MySQL database in its own file)."""
        registry = self.backend.registry  # looked up per qualifier: no list of every database per statement
        found = {
            name for m in QUALIFIER.finditer(lexed.shape) if (name := m.group(1) or m.group(2)) in registry
        }
        if not found:
            return lexed, db
        if len(found) > 1:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET, "a statement can use one database at a time in P2PDB"
            )
        (name,) = found
        return without_qualifier(lexed, name), self.backend.registry.get(name)

    async def _dml(self, lexed: Lexed, kind: str) -> Result:
        assigning: Lexed | None = None
        if ":=" in lexed.shape:  # @v := ... inside the statement: read and written row by row
            rewritten = user_variables.rewrite(lexed)
            if rewritten is not None:
                assigning, lexed = lexed, rewritten
        if kind == "SELECT" and "INTO" in lexed.shape.upper():
            refuse_server_files(lexed.shape)
            into = _INTO_VARIABLES.search(lexed.shape)
            if into is not None:
                return await self._select_into(lexed, into)
        db = self._db_or_none()
        if "." in lexed.shape:
            lexed, db = self._qualified(lexed, db)
        temp = getattr(self, "_temp_tables", None)
        shadowed = temp.rewrite(lexed, db.name) if temp is not None and db is not None else None
        if shadowed is not None:
            lexed = shadowed
        if system_time.names_system_time(lexed.shape):
            return await self._as_of(db, lexed, kind)
        if kind != "INSERT" and kind != "REPLACE":  # (their VALUES rows: insert_rows)
            lexed = in_lists.padded(lexed)  # IN lists of different lengths share plans
        pipes = "||" in lexed.shape and _pipes_concat(self.variables.get("sql_mode"))
        rows = (
            insert_rows.split(lexed)
            if (kind == "INSERT" or kind == "REPLACE")
            and db is not None
            and assigning is None
            and shadowed is None
            else None
        )
        by_rows = self._row_statements(db, rows, pipes) if rows is not None and db is not None else None
        if by_rows is not None:
            plan, bound = by_rows
        else:
            plan = self.backend.plan(db, lexed, changed_rows=not self.info.found_rows, pipes_concat=pipes)
        if plan.write and shadowed is None and self._read_only():  # temporary tables stay writable
            raise MySQLError(1792, "Cannot execute statement in a READ ONLY transaction.", "25006")
        if assigning is not None and kind == "SELECT":
            plan.names = projection_names(assigning.shape)  # `@n := @n + 1`, as the client wrote it
        if shadowed is not None:
            plan.locking = True  # a temporary table is on the writer connection only
        if by_rows is None:
            bound = self.bindings(lexed, plan)
        running = self.running
        if (
            running is not None
            and not plan.write
            and kind in _SELECT_KINDS
            and (self.variables["max_execution_time"] or "/*+" in running.text)
        ):
            self._time_limit(running, running.text)
        if by_rows is not None and db is not None:
            await self._draw_ids(db, [(p, b) for p, b, _ in bound["__rows__"]], bound)
        elif plan.auto is not None and db is not None and plan.table is not None:
            await self._fill_auto_ids(db, plan, bound)
        if plan.info_schema or db is None:
            self.backend.refresh_information_schema()
            conn = self.backend.scratch if db is None else db.conn
            if plan.info_schema and db is not None:
                self.backend.attach_information_schema(conn)
            if plan.conflicts:
                self.backend.refresh_conflicts(conn)
            if plan.processlist:
                await self.backend.refresh_processlist(conn)
            if plan.history:
                self.backend.refresh_history(conn, history_filter(lexed.shape, bound))
            if plan.diff:
                await self.backend.refresh_diff(
                    conn, equalities(lexed.shape, bound), self.time_zone(), self.database
                )
            if plan.info_schema and names_session_tables(lexed.shape):
                self.backend.refresh_session_tables(conn, self)
            # Without a database and without the catalog, a statement runs anywhere (SELECT SLEEP(5)).
            anywhere = self.database is None and not (
                plan.info_schema or plan.conflicts or plan.processlist or plan.history or plan.diff
            )
            if db is None and anywhere and not plan.write:
                return await self._read_anywhere(conn, plan, bound, lexed, None)
            with self.guarded(conn):
                return self._read(conn, plan, bound, lexed, db)
        if self.txn is not None:
            return await self._in_transaction(db, plan, bound, lexed)
        if plan.write:
            committer = self.backend.committer(db)
            changes, row_id, returned = await committer.submit(
                lambda conn: self._exec_write(conn, plan, bound), self.running
            )
            if returned is not None:
                return self._returned(db, plan, lexed, returned, row_id or _generated(bound))
            return self._ok_for_write(
                conn=db.conn,
                changes=changes,
                allocated=row_id or _generated(bound),
                explicit=bound.get("__explicit_auto__"),
            )
        if plan.offload or running is None or not isinstance(db.engine, FileEngine) or plan.locking:
            return await self._read_anywhere(db.conn, plan, bound, lexed, db)
        try:  # the common case, inlined: a read that may move to a reader thread
            with guard_of(db.conn).client(running, offload=True):
                return self._read(db.conn, plan, bound, lexed, db)
        except Offload:
            plan.offload = True
        return await self._read_on_reader(plan, bound, lexed, db)

    async def _select_into(self, lexed: Lexed, into: re.Match[str]) -> Result:
        """``SELECT ... INTO @a, @b``: the row's values into the user variables (none: warning 1329,
        the variables unchanged; more than one: error 1172)."""
        names = [lexed.uservars[part.strip()[1:]].lower() for part in into.group(1).split(",")]
        shape = lexed.shape[: into.start()] + lexed.shape[into.end() :]
        query = Lexed(shape, lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars)
        result = await self._dml(query, "SELECT")
        if not isinstance(result, ResultSet):
            raise MySQLError(ErrorCode.PARSE_ERROR, "SELECT ... INTO needs a query that returns rows")
        rows = list(result.rows)
        if len(result.columns) != len(names):
            raise MySQLError(1222, "The used SELECT statements have a different number of columns")
        if len(rows) > 1:
            raise MySQLError(1172, "Result consisted of more than one row")
        if not rows:
            if self.running is not None:
                self.running.warn(1329, "No data - zero rows fetched, selected, or processed")
            return _OK
        self.user_vars.update(zip(names, rows[0], strict=True))
        return OkResult(affected_rows=1)

    async def _read_anywhere(
        self, conn: apsw.Connection, plan: Plan, bound: dict[str, Any], lexed: Lexed, db: Database | None
    ) -> Result:
        """A read: on the event loop while it is short, else on a reader thread (see the module
        docstring). In-memory databases have no other connection: their reads stay here."""
        movable = supports_readers(db) and not plan.locking
        if movable and plan.offload:
            return await self._read_on_reader(plan, bound, lexed, db)
        try:
            with self.guarded(conn, offload=movable):
                return self._read(conn, plan, bound, lexed, db)
        except Offload:
            plan.offload = True
        return await self._read_on_reader(plan, bound, lexed, db)

    async def _read_on_reader(
        self, plan: Plan, bound: dict[str, Any], lexed: Lexed, db: Database | None
    ) -> Result:
        running = self.running or Running("")

        def job(conn: apsw.Connection) -> Result:
            with guard_of(conn).client(running, on_loop=False):
                return self._read(conn, plan, bound, lexed, db)

        return await self.backend.pool.run(db, job)

    def _row_statements(
        self, db: Database, rows: list[Lexed], pipes: bool
    ) -> tuple[Plan, dict[str, Any]] | None:
        """A multi-row INSERT as one statement per row (:mod:`.insert_rows`): the first row's plan
        stands for the statement's (they share its table and clauses) and the rows go in the bindings,
        as ``__rows__``: (plan, bindings, row) each. None when the rows cannot run apart (``RETURNING``,
        ``INSERT ... SELECT``-like plans)."""
        changed = not self.info.found_rows
        plans = [self.backend.plan(db, row, changed_rows=changed, pipes_concat=pipes) for row in rows]
        first = plans[0]
        if first.table is None or not all(
            p.write
            and not p.returning
            and not (p.auto is not None and p.auto.per_row)
            and p.table == first.table
            and p.upsert == first.upsert
            and p.returning_id == first.returning_id
            for p in plans
        ):
            return None
        items = [(plan, self.bindings(row, plan), row) for plan, row in zip(plans, rows, strict=True)]
        clock = next((b for _, b, _ in items if "f_now" in b), None)
        if clock is not None:  # NOW() is the statement's time in every row
            now = {name: clock[name] for name in _CLOCK_NAMES}
            for _, b, _ in items:
                if "f_now" in b:
                    b.update(now)
        return first, {"__rows__": items}

    async def _fill_auto_ids(self, db: Database, plan: Plan, bound: dict[str, Any]) -> None:
        assert plan.auto is not None and plan.table is not None
        if not plan.auto.per_row:
            await self._draw_ids(db, [(plan, bound)], bound)
            return
        db.check_insert(plan.table)  # refused now (1142), not after waiting for an id range
        # INSERT ... SELECT: ids are drawn row by row while it runs
        await ensure_id_class(db)
        if db.id_class() is None:
            db.claim_ids()  # now, in a commit of its own: never inside a window that rolls back
        bound["__auto_ids__"] = AutoIds.of(db, plan.table, plan.auto.column)

    async def _draw_ids(
        self, db: Database, rows: Sequence[tuple[Plan, dict[str, Any]]], bound: dict[str, Any]
    ) -> None:
        """AUTO_INCREMENT ids for the rows of an INSERT ... VALUES (each row's plan and bindings), in
        row order: a row that gives its own id moves the next rows' ids above it, as in MySQL
        (``VALUES (4, 'a'), (NULL, 'b')`` gives the second row 5, not a duplicate 4); rows between
        such rows get consecutive ids (as the id class allows). Sets the statement's
        ``__first_auto__`` (LAST_INSERT_ID()) or, when every row gave its id, ``__explicit_auto__``
        (the OK packet's insert id) in ``bound``."""
        column = next((plan.auto.column for plan, _ in rows if plan.auto is not None), None)
        table = rows[0][0].table
        if column is None or table is None:
            return
        db.check_insert(table)  # refused now (1142), not after waiting for an id range
        runs: list[tuple[int, list[tuple[dict[str, Any], str]]]] = []  # (ids above, slots)
        above = 0
        explicit: Any = None
        for plan, row_bound in rows:
            if plan.auto is None:
                continue
            slots = [(row_bound, name) for name in plan.auto.new]
            for name in plan.auto.check:
                value = row_bound.get(name)
                if value in (None, 0, "0"):
                    slots.append((row_bound, name))
                    continue
                explicit = value
                given = _int_or_none(value)
                if given is not None and given > above:
                    above = given
            if slots:
                if runs and runs[-1][0] == above:
                    runs[-1][1].extend(slots)
                else:
                    runs.append((above, slots))
        if not runs:
            if type(explicit) is int:
                bound["__explicit_auto__"] = explicit
            return
        if db.id_class() is None:  # (no coroutine per INSERT once the class is held)
            await ensure_id_class(db)
        for floor, slots in runs:
            values = db.next_auto_ids(table, column, len(slots), above=floor)
            for (row_bound, name), value in zip(slots, values, strict=True):
                row_bound[name] = value
            bound.setdefault("__first_auto__", values[0])

    def _exec_write(
        self, conn: apsw.Connection, plan: Plan, bound: dict[str, Any]
    ) -> tuple[int, Any, list[Any] | None]:
        """Run a write; return MySQL's affected-rows count, for an upsert the row's id, and the rows
        of the client's RETURNING clause (None without one)."""
        with self.guarded(conn), _WriteCounts(conn, plan) as counts:
            cursor = conn.cursor()
            if plan.returning:
                seen = _watch_description(cursor, plan)
                self._execute(cursor, plan, bound)
                rows = self._fetch(cursor)
                _keep_description(plan, seen)
                return conn.changes() + self._replaced, None, rows
            self._execute(cursor, plan, bound)
            if not plan.returning_id:
                changes = conn.changes() + self._replaced
                if plan.upsert:
                    return self._upsert_affected(counts), None, None
                return changes, None, None
            rows = self._rows_of(cursor)
            return self._upsert_affected(counts), rows[0][0] if rows else None, None

    def _upsert_affected(self, counts: _WriteCounts) -> int:
        """MySQL counts each row an upsert inserts 1, each it updates 2, an unchanged one 0 (a statement
        that changes nothing: 1 with CLIENT_FOUND_ROWS). SQLite's changes() counts both alike."""
        affected = counts.inserted + 2 * counts.updated
        return 1 if affected == 0 and self.info.found_rows else affected

    def _execute(self, cursor: apsw.Cursor, plan: Plan, bound: dict[str, Any]) -> None:
        self._fetched = None
        rows = bound.get("__rows__")
        if rows is None:
            self._execute_one(cursor, plan, bound)
            return
        # A multi-row INSERT, one row at a time (:mod:`.insert_rows`); the caller's savepoint or
        # transaction keeps it atomic. Affected rows beyond the last row's changes() go in _replaced.
        conn = cursor.connection
        running = guard_of(conn).current
        self._failed_row = None
        affected = 0
        fetched: list[Any] = []
        for number, (row_plan, row_bound, row) in enumerate(rows, 1):
            seen = len(running.warnings) if running is not None and running.warnings else 0
            self._running_row = row
            try:
                self._execute_one(cursor, row_plan, row_bound)
                if plan.returning_id:
                    fetched.extend(cursor.fetchall())
            except BaseException:
                self._failed_row = (number, row)
                self._running_row = None
                raise
            finally:
                if number > 1 and running is not None and running.warnings:
                    running.warnings[seen:] = [
                        (level, code, insert_rows.at_row(message, number))
                        for level, code, message in running.warnings[seen:]
                    ]
            affected += conn.changes() + self._replaced
        self._running_row = None
        self._replaced = affected - conn.changes()
        if plan.returning_id:
            self._fetched = fetched

    def _rows_of(self, cursor: apsw.Cursor) -> list[Any]:
        """The rows the statement :meth:`_execute` ran returned."""
        fetched, self._fetched = self._fetched, None
        return fetched if fetched is not None else cursor.fetchall()

    def _execute_one(self, cursor: apsw.Cursor, plan: Plan, bound: dict[str, Any]) -> None:
        self._replaced = 0
        if plan.replace_probe is not None:  # rows REPLACE will delete: counted in affected rows
            probe = {k: v for k, v in bound.items() if not k.startswith("__")}
            for (count,) in cursor.connection.execute(plan.replace_probe, probe):
                self._replaced = int(count)
        if plan.auto is None:
            self._execute_sql(cursor, plan, bound)
            if plan.ignore_probe is not None and cursor.connection.changes() == 0:
                self._ignored(cursor.connection, plan.ignore_probe, bound)
            return
        params = {k: v for k, v in bound.items() if not k.startswith("__")}
        ids = bound.get("__auto_ids__")
        if ids is None:
            self._execute_sql(cursor, plan, params)
            if plan.ignore_probe is not None and cursor.connection.changes() == 0:
                self._ignored(cursor.connection, plan.ignore_probe, params)
            return
        # INSERT ... SELECT: SQLite makes every change on the statement's first step (even with
        # RETURNING), so the ids are all drawn inside this block.
        with drawing(cursor.connection, ids):
            try:
                self._execute_sql(cursor, plan, params)
            except apsw.SQLError as exc:
                if "UNION ALL do not have the same number" in str(exc):  # the plan's positional wrapper
                    raise MySQLError(
                        ErrorCode.WRONG_VALUE_COUNT_ON_ROW, "Column count doesn't match value count at row 1"
                    ) from exc
                raise

    def _ignored(self, conn: apsw.Connection, probe: str, params: dict[str, Any]) -> None:
        """INSERT IGNORE wrote nothing: the row again without IGNORE, undone at once, gives the error
        MySQL reports as a warning (``Duplicate entry '1' for key 't.PRIMARY'``)."""
        running = guard_of(conn).current
        if running is None:
            return
        seen = len(running.warnings) if running.warnings else 0
        error: MySQLError | None = None
        conn.execute("SAVEPOINT p2pdb_ignored")
        try:
            conn.execute(probe, params)
        except apsw.ConstraintError as exc:
            error = to_mysql(exc, self.database)
            db = self._db_or_none()
            if error.code == ErrorCode.DUP_ENTRY and db is not None:
                row = self._running_row
                text = insert_rows.text_of(row) if row is not None else running.text
                error = _duplicate_entry(error, str(exc), text, db)
        except apsw.Error:
            pass  # (the plan's SQL was translated again since: no warning rather than a wrong one)
        finally:
            if running.warnings:
                del running.warnings[seen:]  # the probe's own: the row gave its warnings already
            conn.execute("ROLLBACK TO p2pdb_ignored")
            conn.execute("RELEASE p2pdb_ignored")
        if error is not None:
            running.warn(error.code, error.message)

    def _execute_sql(self, cursor: apsw.Cursor, plan: Plan, params: dict[str, Any]) -> None:
        try:
            cursor.execute(plan.sql, params)
        except apsw.SQLError as exc:
            message = str(exc)
            if plan.fallback or not ("syntax error" in message or "no such function" in message):
                raise
            # The lexical rewrite was not enough: let sqlglot translate this shape (once).
            mark = plan.sql[: plan.sql.index("*/") + 2] if plan.sql.startswith("/*c") else CLIENT_MARK
            plan.sql = mark + limit_recursion(transpile(plan.source))
            plan.fallback = True
            cursor.execute(plan.sql, params)

    def _ok_for_write(
        self, *, conn: apsw.Connection, changes: int, allocated: Any, explicit: Any = None
    ) -> OkResult:
        """``explicit``: a value the client gave the AUTO_INCREMENT column; MySQL's OK packet reports it
        as the insert id (mysql_insert_id()) but LAST_INSERT_ID() stays."""
        self.row_count = changes
        if allocated is not None and changes:  # INSERT IGNORE that wrote nothing: LAST_INSERT_ID() stays
            self.last_insert_id = int(allocated)
            return OkResult(affected_rows=changes, last_insert_id=int(allocated))
        if changes and type(explicit) is int and explicit > 0:
            return OkResult(affected_rows=changes, last_insert_id=explicit)
        return OkResult(affected_rows=changes) if changes else _OK

    def _returned(self, db: Database, plan: Plan, lexed: Lexed, rows: list[Any], allocated: Any) -> Result:
        """INSERT/REPLACE/DELETE ... RETURNING: the rows as a result set, also when there are none.
        LAST_INSERT_ID() moves as for the write (ROW_COUNT() is -1, as after any result set)."""
        if allocated is not None:
            self.last_insert_id = int(allocated)
        return self.backend.result_set(db, plan, lexed, rows)

    async def _as_of(self, db: Database | None, lexed: Lexed, kind: str) -> Result:
        """A SELECT reading a past version (``FOR SYSTEM_TIME AS OF``, :mod:`.system_time`)."""
        stripped, names = system_time.split(lexed)
        if kind != "SELECT":
            raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "FOR SYSTEM_TIME AS OF is read by SELECT only")
        if db is None:
            raise MySQLError(ErrorCode.NO_DB_ERROR, "No database selected")
        literals = dict(zip(_PNAMES, lexed.params, strict=False))
        at = system_time.point([literals.get(name) for name in names], self.time_zone())
        try:
            version = await self.backend.version_at(db, at)
        except StoreError as exc:
            raise MySQLError(ErrorCode.UNKNOWN_ERROR, f"cannot read that version: {exc}") from exc
        plan = build_plan(stripped, version.catalog.tables)
        bound = self.bindings(stripped, plan)
        with self.guarded(version.conn):
            return self._read(version.conn, plan, bound, stripped, version)

    def _read(
        self, conn: apsw.Connection, plan: Plan, bound: dict[str, Any], lexed: Lexed, db: Database | None
    ) -> Result:
        cursor = conn.cursor()
        seen = _watch_description(cursor, plan) if plan.description is None else None
        self._execute(cursor, plan, bound)
        rows = self._fetch(cursor)
        limit = self.variables.get("sql_select_limit", _NO_SELECT_LIMIT)
        if (  # sql_select_limit: a SELECT without its own LIMIT
            type(limit) is int
            and limit < _NO_SELECT_LIMIT
            and lexed.kind == "SELECT"
            and not plan.write
            and not _HAS_LIMIT.search(lexed.shape)
        ):
            rows = rows[:limit]
        if seen is not None:
            _keep_description(plan, seen)
        if plan.write and not plan.description:
            changes = conn.changes() + self._replaced
            return self._ok_for_write(
                conn=conn,
                changes=changes,
                allocated=_generated(bound),
                explicit=bound.get("__explicit_auto__"),
            )
        if not plan.description and not rows:
            return _OK
        self.found_rows = len(rows)
        if plan.found_sql is not None:
            found = conn.cursor()
            found.execute(plan.found_sql, bound)
            (count,) = found.fetchall()[0]
            self.found_rows = count if type(count) is int else 0
        return self.backend.result_set(db, plan, lexed, rows)

    def _fetch(self, cursor: apsw.Cursor) -> list[Any]:
        """All rows of a statement, at most ``p2pdb_max_result_size`` bytes of them (about what they
        take in memory; error 3170 beyond)."""
        limit = _int(self.variables.get("p2pdb_max_result_size"))
        if not limit:
            return cursor.fetchall()
        rows: list[Any] = []
        size = 0
        for row in cursor:
            size += 64 + 8 * len(row)
            for value in row:
                kind = type(value)
                size += len(value) + 40 if kind is str or kind is bytes else 24
            if size > limit:
                raise MySQLError(
                    ErrorCode.CAPACITY_EXCEEDED,
                    f"Memory capacity of {limit} bytes for 'p2pdb_max_result_size' exceeded. The result of"
                    " this statement is too large: add a LIMIT or raise p2pdb_max_result_size",
                )
            rows.append(row)
        return rows

    # -- transactions -------------------------------------------------------------------------

    def begin(self, read_only: bool | None = None) -> None:
        if self.txn is not None:
            self.commit()  # MySQL: BEGIN inside a transaction commits it first
        if read_only is None:
            read_only = self.next_read_only
        self.next_read_only = None
        self.txn = Transaction(explicit=True, read_only=read_only)

    def _read_only(self) -> bool:
        """Writes are refused (1792): in START TRANSACTION READ ONLY, or with transaction_read_only
        set outside a START TRANSACTION READ WRITE."""
        if self.txn is not None and self.txn.read_only is not None:
            return self.txn.read_only
        return bool(self.variables.get("transaction_read_only"))

    def commit(self) -> None:
        """End the transaction (an implicit commit: BEGIN, DDL, SET autocommit=1)."""
        ending = self._ending()
        if ending is not None:
            db, replay, allow_drop = ending
            db.write(replay, allow_drop=allow_drop)

    async def commit_grouped(self) -> None:
        """COMMIT: like :meth:`commit`, through the database's group commit, so that transactions
        of several clients committed in the same loop turns share one SQLite commit and log entry.
        Each still replays in a savepoint of its own and fails alone."""
        ending = self._ending()
        if ending is None:
            return
        db, replay, allow_drop = ending
        if allow_drop:  # a DROP is never batched (Database.write_batch)
            db.write(replay, allow_drop=True)
        else:
            await self.backend.committer(db).submit(replay, self.running)

    def _ending(self) -> tuple[Database, Callable[[apsw.Connection], None], bool] | None:
        """Close the transaction: (its database, the replay of its writes, DROP allowed), or None
        when it wrote nothing."""
        self.close_window()  # the writes are committed by a replay on the writer connection
        txn, self.txn = self.txn, None
        if txn is None or txn.db is None or txn.first_write is None:
            return None
        statements = txn.statements

        def replay(conn: apsw.Connection) -> None:
            with self.guarded(conn):
                self._replay(conn, statements)

        return txn.db, replay, txn.allow_drop

    def rollback(self) -> None:
        self._drop_txn()

    def _replay(self, conn: apsw.Connection, statements: Sequence[Recorded]) -> None:
        for number, recorded in enumerate(statements, 1):
            if not recorded.plan.write and not recorded.check:
                continue
            fingerprint = self._run_recorded(conn, recorded)
            if recorded.check and fingerprint != recorded.fingerprint:
                raise Conflict(f"statement {number} of the transaction saw different data on replay")

    def _run_recorded(self, conn: apsw.Connection, recorded: Recorded) -> Any:
        cursor = conn.cursor()
        running = guard_of(conn).current if recorded.variables is not None else None
        if running is not None and recorded.variables is not None:
            saved = running.variables, running.insert_id
            running.variables = dict(recorded.variables)
            try:
                self._execute(cursor, recorded.plan, recorded.bindings)
                rows = self._rows_of(cursor)
            finally:
                running.variables, running.insert_id = saved
        else:
            self._execute(cursor, recorded.plan, recorded.bindings)
            rows = self._rows_of(cursor)
        if recorded.plan.write and (not rows or recorded.plan.returning_id):
            return ("w", conn.changes())
        return ("r", hashlib.sha256(repr(rows).encode()).digest())

    async def _in_transaction(self, db: Database, plan: Plan, bound: dict[str, Any], lexed: Lexed) -> Result:
        txn = self.txn
        assert txn is not None
        if txn.db is None:
            txn.db = db
        elif txn.db is not db:
            if plan.write or txn.first_write is not None:
                raise MySQLError(
                    ErrorCode.NOT_SUPPORTED_YET, "a transaction can only change one database in P2PDB"
                )
            return await self._read_anywhere(db.conn, plan, bound, lexed, db)
        check = plan.write or plan.locking
        if plan.effects is None:
            plan.effects = _EFFECTS.search(plan.sql) is not None
        recorded = Recorded(plan, bound, check, variables=dict(self.user_vars) if plan.effects else None)
        if not plan.write and txn.first_write is None:
            first_read = await self._read_anywhere(db.conn, plan, bound, lexed, db)
            if plan.locking:
                with self.guarded(db.conn):
                    recorded.fingerprint = self._locking_fingerprint(db, recorded)
            txn.statements.append(recorded)
            return first_read
        window = self._window(db, plan)
        if window is not None:
            result = self._in_open_window(window, txn, db, plan, bound, lexed, recorded)
        else:
            conn = db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                with self.guarded(conn):
                    if txn.first_write is not None:
                        self._replay(conn, txn.statements[txn.first_write :])
                    result = self._in_window(conn, db, plan, bound, lexed, recorded)
            finally:
                if not conn.getautocommit():  # an interrupted write already rolled it back
                    conn.execute("ROLLBACK")
        if plan.write and txn.first_write is None:
            txn.first_write = len(txn.statements)
        txn.statements.append(recorded)
        return result

    def _window(self, db: Database, plan: Plan) -> windows.Window | None:
        """The transaction's window for this statement (taken if it has none yet), or None when
        the statement runs on the writer connection instead (see :mod:`.windows`)."""
        if not (
            windows.supported(db)
            and getattr(self, "_temp_tables", None) is None
            and not (plan.auto is not None and plan.auto.per_row)
            and not (plan.info_schema or plan.conflicts or plan.processlist or plan.history or plan.diff)
        ):
            return None
        txn = self.txn
        assert txn is not None
        if txn.window is None:
            txn.window = windows.take(db)
        return txn.window

    def _in_open_window(
        self,
        window: windows.Window,
        txn: Transaction,
        db: Database,
        plan: Plan,
        bound: dict[str, Any],
        lexed: Lexed,
        recorded: Recorded,
    ) -> Result:
        """Run the statement on top of the transaction's writes, kept in its window."""
        conn = window.conn
        # New, or it yielded to another writer since the last statement: its kept writes, else a replay.
        if not window.open and not windows.begin(window) and txn.first_write is not None:
            try:
                with self.guarded(conn):
                    self._replay(conn, txn.statements[txn.first_write :])
            except BaseException:
                windows.rollback(window)
                raise
        window.running = True
        conn.execute("SAVEPOINT p2pdb_statement")
        try:
            with self.guarded(conn):
                result = self._in_window(conn, db, plan, bound, lexed, recorded)
        except BaseException:
            if conn.getautocommit():  # an interrupted write rolled the whole window back
                windows.rollback(window)
            else:  # only this statement is undone, as in MySQL
                conn.execute("ROLLBACK TO p2pdb_statement")
                conn.execute("RELEASE p2pdb_statement")
            raise
        finally:
            window.running = False
        conn.execute("RELEASE p2pdb_statement")
        return result

    def close_window(self) -> None:
        """Give up the transaction's window (its writes are replayed when next needed)."""
        txn = self.txn
        if txn is not None and txn.window is not None:
            windows.close(txn.window)
            txn.window = None

    def _drop_txn(self) -> None:
        self.close_window()
        self.txn = None

    def _in_window(
        self,
        conn: apsw.Connection,
        db: Database,
        plan: Plan,
        bound: dict[str, Any],
        lexed: Lexed,
        recorded: Recorded,
    ) -> Result:
        """Run the statement where the transaction's earlier writes are applied."""
        if plan.write:
            cursor = conn.cursor()
            seen = _watch_description(cursor, plan) if plan.returning else []
            with _WriteCounts(conn, plan) as counts:
                self._execute(cursor, plan, bound)
                rows = self._rows_of(cursor)
            if plan.returning:
                _keep_description(plan, seen)
            changes = conn.changes()
            affected = changes + self._replaced
            allocated: Any = _generated(bound)
            if plan.upsert:
                affected = self._upsert_affected(counts)
            if plan.returning_id:
                allocated = (rows[0][0] if rows else None) or allocated
                rows = []
            # The fingerprint as a replay measures it (_run_recorded): the rows, or the raw count.
            if rows:
                recorded.fingerprint = ("r", hashlib.sha256(repr(rows).encode()).digest())
            else:
                recorded.fingerprint = ("w", changes)
            if plan.returning:
                result: Result = self._returned(db, plan, lexed, rows, allocated)
            else:
                result = self._ok_for_write(
                    conn=conn, changes=affected, allocated=allocated, explicit=bound.get("__explicit_auto__")
                )
        else:
            result = self._read(conn, plan, bound, lexed, db)
            if plan.locking:
                recorded.fingerprint = self._run_recorded(conn, recorded)
        return result

    def _locking_fingerprint(self, db: Database, recorded: Recorded) -> Any:
        return self._run_recorded(db.conn, recorded)

    def ensure_autocommit_boundary(self) -> None:
        """DDL and other implicit-commit statements end an open transaction first (MySQL)."""
        if self.txn is not None:
            self.commit()

    def set_autocommit(self, value: Any) -> None:
        on = as_bool(value)
        if on and self.txn is not None:
            self.commit()
        self.variables["autocommit"] = 1 if on else 0
        if not on and self.txn is None:
            self.txn = Transaction()


class ReaderSession(SQLSession):
    """A session of a reader process (:mod:`p2pdb.sql.serving`): before a statement it does not
    run, it raises HandOff (nothing of the statement has run) and the connection moves."""

    async def execute(self, sql: str, *, multi: bool) -> Sequence[Result]:
        if ";" in sql and len(split_statements(sql)) > 1:
            raise HandOff  # each statement would have to be judged before the first runs
        return await super().execute(sql, multi=multi)

    async def run(self, lexed: Lexed, text: str, command: str = "Query", kind: str | None = None) -> Result:
        if self.running is None and not self.runs_here(lexed, kind or lexed.kind):
            raise HandOff
        return await super().run(lexed, text, command, kind)


class PreparedStatement:
    """A server-side prepared statement (COM_STMT_PREPARE)."""

    _ids = itertools.count(1)

    def __init__(self, session: SQLSession, sql: str) -> None:
        self.session = session
        self.sql = sql
        self.lexed = lex(sql)
        self.kind = self.lexed.kind
        count = len(self.lexed.placeholders)
        self._params = [Column("?", FieldType.VAR_STRING) for _ in range(count)]
        self.result_columns: list[Column] = []
        self._here: bool | None = None

    def runs_here(self) -> bool:
        """In a reader process: whether its executions run here (else the connection moves)."""
        if self.kind in _TXN_KINDS:
            return self.session.runs_here(self.lexed, self.kind)
        here = self._here
        if here is None:
            here = self._here = self.session.backend.statement_runs_here(self.lexed, self.kind)
        session = self.session
        return here and (
            session.idle_autocommit() or (self.kind == "SELECT" and session.reading_transaction())
        )

    @property
    def params(self) -> Sequence[Column]:
        return self._params

    @property
    def columns(self) -> Sequence[Column]:
        return self.result_columns

    async def execute(self, params: Sequence[Any]) -> Sequence[Result]:
        lexed = self.lexed
        values = list(lexed.params)
        for position, value in zip(lexed.placeholders, params, strict=True):
            values[position] = mysqltypes.input_value(value)
        bound = Lexed(lexed.shape, values, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars)
        return [await self.session.run(bound, self.sql, "Execute", self.kind)]

    def close(self) -> None:
        return None


class _WriteCounts:
    """The rows an upsert inserted and updated in its table, counted by SQLite's update hook while
    the statement runs (its changes() counts both alike, and a multi-row upsert can do both). For any
    other statement it installs nothing."""

    __slots__ = ("_conn", "_table", "inserted", "updated")

    def __init__(self, conn: apsw.Connection, plan: Plan) -> None:
        self._conn = conn if plan.upsert else None
        self._table = (plan.table or "").lower()
        self.inserted = 0
        self.updated = 0

    def __enter__(self) -> _WriteCounts:
        if self._conn is not None:
            self._conn.set_update_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.set_update_hook(None)

    def _hook(self, op: int, _database: str, name: str, _rowid: int) -> None:
        if name.lower() == self._table:
            if op == apsw.SQLITE_INSERT:
                self.inserted += 1
            elif op == apsw.SQLITE_UPDATE:
                self.updated += 1


_UNIQUE_FAILED = re.compile(r"UNIQUE constraint failed: ([\w$.]+(?:, [\w$.]+)*)")


def _duplicate_entry(error: MySQLError, message: str, text: str, db: Database) -> MySQLError:
    """MySQL 8's 1062 text: ``Duplicate entry '5' for key 't.PRIMARY'`` (a UNIQUE index by its
    name; the value when a one-row INSERT gives it as a literal, else left out)."""
    failed = _UNIQUE_FAILED.search(message)
    if failed is None:
        return error
    parts = [p.strip() for p in failed.group(1).split(",")]
    table = db.catalog.schema.table(parts[0].rsplit(".", 1)[0])
    if table is None:
        return error
    columns = [ident(p.rsplit(".", 1)[-1]) for p in parts]
    if tuple(columns) == table.spec.pk_idents:
        key = "PRIMARY"
    else:
        found = [i for i in table.indexes if i.unique and list(i.column_idents) == columns]
        if not found:
            return error
        key = mysql_index_name(table.spec.name, found[0].name)
    value = _inserted(text, [c.name for c in table.spec.columns], columns)
    entry = f"Duplicate entry '{value}'" if value is not None else "Duplicate entry"
    return MySQLError(ErrorCode.DUP_ENTRY, f"{entry} for key '{table.spec.name}.{key}'", error.sqlstate)


def _inserted(text: str, table_columns: list[str], columns: list[str]) -> str | None:
    """The values a one-row ``INSERT ... VALUES`` of literals gives ``columns`` (joined by '-', as
    MySQL shows a key of several columns), or None."""
    if not _INSERTS.match(text):
        return None
    try:
        tree = sqlglot.parse_one(_INSERTS.sub("INSERT", text, count=1), read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    values = tree.expression if isinstance(tree, exp.Insert) else None
    if not isinstance(values, exp.Values) or len(values.expressions) != 1:
        return None
    target = tree.this
    names = (
        [ident(c.name) for c in target.expressions]
        if isinstance(target, exp.Schema)
        else [ident(c) for c in table_columns]
    )
    row = values.expressions[0].expressions
    shown = []
    for column in columns:
        if column not in names or names.index(column) >= len(row):
            return None
        literal = row[names.index(column)]
        if not isinstance(literal, exp.Literal):
            return None
        shown.append(str(literal.this))
    return "-".join(shown)


def _omitted_column(error: MySQLError, text: str) -> MySQLError:
    """An INSERT that leaves out a NOT NULL column without a default: MySQL's 1364 (1048 is for a
    NULL the statement gives)."""
    named = re.search(r"Column '([^']+)' cannot be null", error.message)
    try:
        tree = sqlglot.parse_one(_INSERTS.sub("INSERT", text, count=1), read="mysql")  # REPLACE too
    except sqlglot.errors.SqlglotError:
        return error
    target = tree.this if isinstance(tree, exp.Insert) else None
    if named is None or not isinstance(target, exp.Schema) or not target.expressions:
        return error  # no column list: every column is given
    given = {column.name.lower() for column in target.expressions}
    column = named.group(1)
    if column.lower() in given:
        return error
    return MySQLError(1364, f"Field '{column}' doesn't have a default value", "HY000")


def _watch_description(cursor: apsw.Cursor, plan: Plan) -> list[Any]:
    """While ``plan`` has no description, keep the one of each statement ``cursor`` runs, taken
    before its first step (a statement that returns no row has none once it ran)."""
    seen: list[Any] = []
    if plan.description is None:

        def trace(cur: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
            try:
                seen.append(cur.description_full)
            except apsw.Error:
                seen.append(())
            return True

        cursor.exec_trace = trace
    return seen


def _keep_description(plan: Plan, seen: list[Any]) -> None:
    if plan.description is None:
        plan.description = seen[-1] if seen else ()


def _generated(bound: dict[str, Any]) -> int | None:
    """The first AUTO_INCREMENT id the statement generated (MySQL's LAST_INSERT_ID()), or None."""
    first = bound.get("__first_auto__")
    if first is not None:
        return int(first)
    ids = bound.get("__auto_ids__")
    return ids.first if isinstance(ids, AutoIds) else None


def _pipes_concat(sql_mode: Any) -> bool:
    """``||`` concatenates strings (PIPES_AS_CONCAT, also part of ANSI); MySQL's default: OR."""
    mode = str(sql_mode or "").upper()
    return "PIPES_AS_CONCAT" in mode or "ANSI" in mode.split(",")


def _reads_diagnostics(lexed: Lexed) -> bool:
    """``SELECT @@warning_count`` reports the previous statement's warnings (MySQL keeps them)."""
    return bool(lexed.sysvars) and any(
        name.lower().endswith(("warning_count", "error_count")) for name in lexed.sysvars.values()
    )


def _int_or_none(value: Any) -> int | None:
    """An id a client gave as a number or a string of digits, as an integer (None otherwise)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def columns_of(result: Result) -> list[Column]:
    return list(result.columns) if isinstance(result, ResultSet) else []
