"""The SQL backend of the MySQL server: accounts, plans, result metadata, and the handlers of
statements that are not plain DML (SET, USE, transactions, DDL, catalog).

It implements :class:`p2pdb.sql.protocol.backend.Backend` over a node's :class:`Registry`.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import apsw

from p2pdb.log import CID, Entry
from p2pdb.schema import ViewSpec
from p2pdb.sql import autoids, catalog, information_schema, local_triggers, mysqltypes, views
from p2pdb.sql.accounts import Accounts as Accounts
from p2pdb.sql.exact import signature as exact_signature
from p2pdb.sql.functions import register as register_functions
from p2pdb.sql.group_commit import GroupCommitter
from p2pdb.sql.guard import CLIENT_MARK, SHUTDOWN
from p2pdb.sql.history import DIFF_USAGE
from p2pdb.sql.lexer import Lexed
from p2pdb.sql.plan import Plan, PlanCache, build_plan, render_name
from p2pdb.sql.protocol.backend import Account, ConnectInfo
from p2pdb.sql.protocol.constants import DEFAULT_MAX_PACKET
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column, ResultSet
from p2pdb.sql.readers import QueryPool
from p2pdb.sql.session import ReaderSession, SQLSession
from p2pdb.sql.session_statements import HANDLERS as SESSION_HANDLERS
from p2pdb.sql.statements import HANDLERS
from p2pdb.sql.variables import DEFAULTS, show_value
from p2pdb.store import Database, IndexSpec, StoreError, TableSpec, time_travel
from p2pdb.store.changes import json_text
from p2pdb.store.collation import connect
from p2pdb.store.conflicts import record_json
from p2pdb.store.database import is_control_entry
from p2pdb.store.diff import diff
from p2pdb.store.engine import FileEngine
from p2pdb.store.registry import Registry

log = logging.getLogger(__name__)
#: What a reader process hands to the main process even in a plain SELECT: locking reads, INTO,
#: assignments, node-wide state (locks, the process list, SLEEP that KILL must reach, history).
_NOT_HERE = re.compile(
    r"\b(?:INTO|FOR\s+UPDATE|FOR\s+SHARE|LOCK\s+IN\s+SHARE\s+MODE|GET_LOCK|RELEASE_LOCK|RELEASE_ALL_LOCKS"
    r"|IS_FREE_LOCK|IS_USED_LOCK|SLEEP|BENCHMARK|SYSTEM_TIME|LAST_INSERT_ID|INFORMATION_SCHEMA"
    r"|PERFORMANCE_SCHEMA|MYSQL|SYS|PROCESSLIST|P2PDB\w*)\b|:=",
    re.IGNORECASE,
)
#: SET statements a reader process hands over: of global values, accounts, roles, user variables.
_SET_NOT_HERE = re.compile(r"\b(?:GLOBAL|PERSIST|PERSIST_ONLY|PASSWORD|ROLE|RESOURCE)\b|:u\d", re.IGNORECASE)
#: SHOW statements a reader process runs: of the session and of catalogs (node state goes over).
_SHOW_HERE = re.compile(
    r"SHOW\s+(?:FULL\s+)?(?:WARNINGS|ERRORS|COUNT|(?:SESSION\s+)?VARIABLES|TABLES|COLUMNS|FIELDS|INDEX|INDEXES"
    r"|KEYS|CREATE\s+TABLE|CREATE\s+VIEW|DATABASES|COLLATION|CHARACTER\s+SET)\b",
    re.IGNORECASE,
)


class OtherProcesses(Protocol):
    """The reader processes serving MySQL with the main process (:mod:`p2pdb.sql.serving`)."""

    async def processlist(self) -> list[tuple[Any, ...]]: ...

    async def kill(self, connection_id: int, *, query: bool, user: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """What one statement may cost (docs/architecture.md, "Limits"); sessions may lower the
    ``p2pdb_*`` ones, not raise them.

    - ``max_packet``: ``max_allowed_packet`` (64 MiB): the largest value a statement may produce
      (larger REPEAT()/LPAD()/... results are NULL with warning 1301, SQLite's other values error
      1301) and the largest row sent (error 1153).
    - ``max_write_time``: ms a statement may hold a database's writer, on the event loop (5000).
    - ``max_result_size``: bytes of rows one statement may hold before they are sent (256 MiB).
    - ``query_threads``: worker threads for long reads (4).
    """

    max_packet: int = DEFAULT_MAX_PACKET
    max_write_time: int = 5000
    max_result_size: int = 256 * 1024 * 1024
    query_threads: int = 4


class SQLBackend:
    """Accounts and sessions for the MySQL server, over the node's databases."""

    def __init__(
        self,
        registry: Registry,
        accounts: Accounts,
        *,
        status: Callable[[], dict[str, Any]] | None = None,
        limits: Limits | None = None,
    ):
        self.registry = registry
        self.accounts = accounts
        self.handlers = {**HANDLERS, **SESSION_HANDLERS}
        self.limits = limits or Limits()
        self.max_packet = self.limits.max_packet
        #: Values new sessions start with (DEFAULTS, the node's limits, SET GLOBAL).
        self.global_variables: dict[str, Any] = dict(DEFAULTS)
        self.global_variables.update(
            max_allowed_packet=self.limits.max_packet,
            p2pdb_max_write_time=self.limits.max_write_time,
            p2pdb_max_result_size=self.limits.max_result_size,
        )
        #: Open sessions by connection id (SHOW PROCESSLIST, KILL).
        self.sessions: dict[int, SQLSession] = {}
        self.pool = QueryPool(self.limits.query_threads)
        self.scratch = connect(":memory:")
        register_functions(self.scratch)
        for db in self._dbs():
            register_functions(db.conn)
            autoids.register(db.conn)
            local_triggers.register(db)
            views.register(db)
        registry.listeners.append(self.on_new_database)
        registry.dropped.append(lambda _name: self.changed())
        accounts.listeners.append(self.changed)
        for db in self._dbs():
            db.listeners.append(self._on_entry)
        #: Called after each committed change of a catalog, the accounts, global variables or the
        #: set of databases (the main process tells its reader processes, :mod:`p2pdb.sql.serving`).
        self.on_change: Callable[[], None] | None = None
        self._plans = PlanCache()
        #: Versions of databases read with FOR SYSTEM_TIME AS OF (the last few, by heads).
        self.versions = time_travel.Versions()
        #: The heads of a time, by (database, the log's heads then, the time): see version_at.
        self._points: dict[tuple[str, tuple[CID, ...], int], tuple[CID, ...]] = {}
        self._committers: dict[str, GroupCommitter] = {}
        self._columns: dict[Any, tuple[list[Column], tuple[tuple[int, Converter], ...], Plan]] = {}
        self._connection_ids = itertools.count(1)
        self._status = status or dict
        self._info_schema_key: Any = None
        self.counters = {"Queries": 0, "Com_commit": 0}
        #: True in a reader process (:mod:`p2pdb.sql.serving`): sessions run plain SELECTs only and
        #: raise HandOff before anything else; ``reader_shapes`` keeps their verdict per shape.
        self.reader_process = False
        #: In the main process, with ``mysql_processes`` above 1: its reader processes.
        self.readers: OtherProcesses | None = None
        self.reader_shapes: dict[str, bool] = {}
        #: A reader process that could not open some database: it runs no statement itself.
        self.reader_degraded = False

    def _dbs(self) -> list[Database]:
        return [db for name in self.registry.names() if (db := self.registry.get(name)) is not None]

    async def version_at(self, db: Database, at: int | CID) -> Database:
        """``db`` as it was at a wall time (ms since the epoch) or at an entry: replayed from its log
        in a worker thread (:mod:`p2pdb.store.time_travel`), kept for the next queries."""
        path = db.engine.location if isinstance(db.engine, FileEngine) else None
        if isinstance(at, CID):
            heads = time_travel.heads_at_entry(db, at)
        else:
            # Finding a time's heads reads every entry; while the log has not moved, the answer stands.
            key = (db.manifest.address, db.log.heads, at)
            known = self._points.get(key)
            if known is None:
                written = (
                    await asyncio.to_thread(time_travel.written_by, path, at) if path is not None else None
                )
                known = time_travel.heads_at_time(db, at, written)
                if len(self._points) >= 64:
                    self._points.clear()
                self._points[key] = known
            heads = known
        cached = self.versions.cached(db, heads)
        if cached is not None:
            return cached
        snapshots = self.registry.snapshot_path(db.name) if db.log.floor else None
        base = time_travel.base_for(db, heads, snapshots)  # a light node starts from its snapshot
        plan = time_travel.plan(db, heads, base, str(snapshots) if snapshots is not None else None)
        version = await asyncio.to_thread(time_travel.build, plan)
        register_functions(version.conn)
        views.register(version)
        return self.versions.add(plan, version)

    def on_new_database(self, name: str) -> None:
        db = self.registry.get(name)
        if db is not None:
            register_functions(db.conn)
            autoids.register(db.conn)
            local_triggers.register(db)
            views.register(db)
            db.listeners.append(self._on_entry)
        self.pool.forget(lambda kept: self.registry.get(kept.name) is kept)
        self.changed()

    def _on_entry(self, entry: Entry, local: bool) -> None:
        if self.on_change is not None and is_control_entry(entry):
            self.on_change()  # a schema or access change is committed

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def forget_plans(self) -> None:
        """Drop every kept plan and column list (a reader process read a catalog again)."""
        self._plans = PlanCache()
        self._columns.clear()
        self._info_schema_key = None

    def statement_runs_here(self, lexed: Lexed, kind: str) -> bool:
        """In a reader process: whether a statement of this kind and shape may run here: a SELECT
        that reads no node-wide state and changes nothing, SET of session variables, USE, and SHOW
        of the session or of catalogs. Kept per shape."""
        if kind not in ("SELECT", "SET", "USE", "SHOW") or self.reader_degraded:
            return False
        for name in lexed.sysvars.values():
            if name.lower().startswith(("global.", "persist")):
                return False
        here = self.reader_shapes.get(lexed.shape)
        if here is None:
            shape = lexed.shape
            if kind == "SELECT":
                here = _NOT_HERE.search(shape) is None
            elif kind == "SET":
                here = _SET_NOT_HERE.search(shape) is None and _NOT_HERE.search(shape) is None
            elif kind == "SHOW":
                here = _SHOW_HERE.match(shape.lstrip()) is not None
            else:
                here = True
            if len(self.reader_shapes) >= 4096:
                self.reader_shapes.clear()
            self.reader_shapes[shape] = here
        return here

    def session_defaults(self) -> dict[str, Any]:
        return dict(self.global_variables)

    # -- running statements ---------------------------------------------------------------------

    def processlist(self) -> list[tuple[Any, ...]]:
        """SHOW PROCESSLIST rows of every open session, by connection id."""
        now = time.monotonic()
        return [self.sessions[key].processlist_row(now) for key in sorted(self.sessions)]

    def enable_tls(self, data_dir: Path, cert: Path | None, key: Path | None) -> None:
        """The listener offers TLS: ``have_ssl`` is YES and the ``ssl_*`` variables name the files."""
        from p2pdb.sql import tls_files

        self.global_variables.update(
            have_ssl="YES",
            have_openssl="YES",
            ssl_ca="" if cert is not None else str(data_dir / tls_files.CA_CERT),
            ssl_cert=str(cert or data_dir / tls_files.SERVER_CERT),
            ssl_key=str(key or data_dir / tls_files.SERVER_KEY),
        )

    def refresh_session_tables(self, conn: apsw.Connection, session: SQLSession) -> None:
        """Fill the variables, status and privilege tables (information_schema, performance_schema,
        mysql) on ``conn`` as ``session`` sees them."""
        session.refresh_auto_vars()
        session_variables = [(k, show_value(v, k)) for k, v in sorted(session.variables.items())]
        global_variables = [(k, show_value(v, k)) for k, v in sorted(self.global_variables.items())]
        from p2pdb.sql.peer_grants import privilege_rows

        peers = privilege_rows(session)  # the access rules of the databases' logs (docs/security.md)
        information_schema.fill_session_tables(
            conn,
            session_variables=session_variables,
            global_variables=global_variables,
            status=[(k, show_value(v)) for k, v in sorted(self.status().items())],
            privileges=[*self.accounts.privilege_rows(), *(r[:3] + r[4:] for r in peers if r[3] is None)],
            users=self.accounts.user_rows(),
            column_privileges=[r for r in peers if r[3] is not None],
        )

    async def processlist_everywhere(self) -> list[tuple[Any, ...]]:
        """SHOW PROCESSLIST rows of this process's sessions and of its reader processes', by id."""
        rows = self.processlist()
        if self.readers is not None:
            rows = sorted(rows + await self.readers.processlist(), key=lambda row: int(row[0]))
        return rows

    async def refresh_processlist(self, conn: apsw.Connection) -> None:
        information_schema.fill_processlist(conn, await self.processlist_everywhere())

    def shutdown(self) -> None:
        """The node stops: stop every running statement, then the reader threads."""
        for session in list(self.sessions.values()):
            session.kill_query(SHUTDOWN)
        self.pool.close()

    # -- protocol Backend ---------------------------------------------------------------------

    def lookup_account(self, user: str, peer_host: str) -> Account | None:
        return self.accounts.lookup(user, peer_host)

    async def open_session(self, info: ConnectInfo) -> SQLSession:
        return ReaderSession(self, info) if self.reader_process else SQLSession(self, info)

    # -- plans and results --------------------------------------------------------------------

    def plan(
        self, db: Database | None, lexed: Lexed, *, changed_rows: bool = False, pipes_concat: bool = False
    ) -> Plan:
        signature = exact_signature(lexed.shape, lexed.raw) if lexed.raw else ""
        key = (
            db.name if db is not None else None,
            db.catalog.schema_version if db is not None else 0,
            lexed.shape,
            changed_rows,
            signature + "\x00||" if pipes_concat else signature,
        )
        plan = self._plans.get(key)
        if plan is None:
            tables = db.catalog.tables if db is not None else {}
            plan = build_plan(lexed, tables, changed_rows=changed_rows, pipes_concat=pipes_concat)
            if db is not None and plan.sql.startswith(CLIENT_MARK):
                # The schema version in the SQL text: SQLite's statement cache never hands back a
                # statement prepared for an older table of the same name (its result columns, read
                # before the first step, would be the old table's).
                plan.sql = f"/*c{key[1]}*/" + plan.sql[len(CLIENT_MARK) :]
            self._plans.put(key, plan)
        return plan

    def column_for(self, db: Database, spec: TableSpec, column: str, name: str) -> Column:
        col = spec.column(column)
        assert col is not None
        info = mysqltypes.type_for_column(col)
        return mysqltypes.result_column(
            name,
            info,
            table=spec.name,
            database=db.name,
            org_name=column,
            not_null=col.not_null or column in spec.pk,
            pk=column in spec.pk,
            auto_increment=bool(col.extra.get("ai")),
        )

    def result_set(self, db: Database | None, plan: Plan, lexed: Lexed, rows: list[Any]) -> ResultSet:
        names = plan.names
        description = plan.description or ()
        untyped = plan.untyped
        if untyped is None:  # columns SQLite declares no type for: typed by their values
            untyped = tuple(i for i, d in enumerate(description) if d[1] is None)
            if plan.description is not None:  # kept once the plan's description is known
                plan.untyped = untyped
        first = _representatives(rows, description, plan.types) if rows and untyped else None
        value_types = tuple(type(first[i]) for i in untyped if i < len(first)) if first else ()
        rendered = tuple(render_name(t, lexed) if t else None for t in names) if names else ()
        key = (id(plan), value_types, rendered, db.catalog.schema_version if db else 0)
        cached = self._columns.get(key)
        if cached is None:
            if first is None and rows:
                first = _representatives(rows, description, plan.types)
            columns, converters = self._build_columns(db, plan, rendered, first)
            converted = tuple((i, conv) for i, conv in enumerate(converters) if conv is not None)
            # The entry holds the plan itself: while it is cached, no other plan can get its id (a
            # plan built for one statement only, FOR SYSTEM_TIME, was dropped and its id reused).
            cached = (columns, converted, plan)
            if len(self._columns) > 4096:
                self._columns.clear()
            self._columns[key] = cached
        columns, converted = cached[0], cached[1]
        if converted and rows:
            rows = converted_rows(rows, converted)
        return ResultSet(columns, rows)

    def _build_columns(
        self, db: Database | None, plan: Plan, rendered: tuple[str | None, ...], first: Any
    ) -> Any:
        columns: list[Column] = []
        converters: list[Any] = []
        for index, item in enumerate(plan.description or ()):
            name, decltype, _schema, table, origin = (tuple(item) + (None,) * 5)[:5]
            if index < len(rendered) and rendered[index] is not None:
                name = rendered[index]
            spec = db.catalog.tables.get(table) if db is not None and table else None
            exact = plan.types[index] if plan.types is not None and index < len(plan.types) else None
            if spec is not None and origin and spec.column(origin) is not None:
                column = self.column_for(db, spec, origin, name)  # type: ignore[arg-type]
                info = mysqltypes.type_for_column(spec.column(origin))  # type: ignore[arg-type]
            else:
                if exact is not None:
                    info = exact
                elif decltype:
                    info = mysqltypes.type_from_sqlite_text(decltype)
                else:
                    info = mysqltypes.type_for_value(first[index] if first is not None else None)
                column = mysqltypes.result_column(name, info)
            columns.append(column)
            converters.append(mysqltypes.output_converter(info))
        return columns, converters

    def committer(self, db: Database) -> GroupCommitter:
        committer = self._committers.get(db.name)
        if committer is None or committer.db is not db:
            committer = self._committers[db.name] = GroupCommitter(db)
        return committer

    async def describe(self, session: SQLSession, lexed: Lexed) -> list[Column]:
        """Result columns of a SELECT at prepare time (run once with NULL parameters)."""
        try:
            probe = Lexed(lexed.shape, [None] * len(lexed.params), lexed.raw, lexed.placeholders,
                          lexed.sysvars, lexed.uservars)  # fmt: skip
            saved, session.txn = session.txn, None  # a probe is not part of the client's transaction
            try:
                result = await session.run_inside(probe, lexed.shape)
            finally:
                session.txn = saved
        except MySQLError:
            return []
        return list(result.columns) if isinstance(result, ResultSet) else []

    # -- catalog ------------------------------------------------------------------------------

    def database_names(self) -> list[str]:
        return self.registry.names()

    def encrypted(self, database: str) -> bool:
        db = self.registry.get(database)
        return db is not None and db.access.current().key_id is not None

    def tables(self, database: str) -> list[TableSpec]:
        db = self.registry.get(database)
        if db is None:
            raise KeyError(database)
        return db.tables()

    def view_columns(self, database: str, name: str) -> TableSpec | None:
        """A view's columns as a table spec (DESCRIBE, SHOW COLUMNS)."""
        db = self.registry.get(database)
        view = db.catalog.schema.view(name) if db is not None else None
        if db is None or view is None:
            return None
        return views.view_columns(db, view)

    def views(self, database: str) -> list[ViewSpec]:
        db = self.registry.get(database)
        if db is None:
            raise KeyError(database)
        return sorted(db.catalog.schema.views.values(), key=lambda v: v.name)

    def indexes(self, database: str) -> list[IndexSpec]:
        db = self.registry.get(database)
        if db is None:
            raise KeyError(database)
        from p2pdb.sql.ddl import mysql_index_name

        return [
            IndexSpec(mysql_index_name(spec.table, spec.name), spec.table, spec.columns, spec.unique)
            for spec in sorted(db.catalog.indexes.values(), key=lambda i: (i.table, i.name))
        ]

    def next_auto_id(self, database: str, table: str) -> int | None:
        """The table's next AUTO_INCREMENT value on this node (None: no such column)."""
        db = self.registry.get(database)
        return db.peek_auto_id(table) if db is not None else None

    def row_count(self, database: str, table: str) -> int:
        db = self.registry.get(database)
        if db is None:
            return 0
        for (count,) in db.conn.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"'):
            return int(count)
        return 0

    def _schema_key(self) -> Any:
        return tuple((db.name, db.catalog.schema_version) for db in self._dbs())

    def refresh_information_schema(self) -> None:
        """Refill the information_schema tables on the scratch connection when schemas changed."""
        key = self._schema_key()
        if key != self._info_schema_key:
            catalog.refresh_information_schema(self.scratch, self)
            self._info_schema_key = key

    def attach_information_schema(self, conn: apsw.Connection) -> None:
        catalog.refresh_information_schema(conn, self)

    def refresh_conflicts(self, conn: apsw.Connection) -> None:
        """Fill ``information_schema.P2PDB_CONFLICTS`` on ``conn`` from every database's conflict
        records (read now: they change with merges, which move no schema version)."""
        information_schema.fill_conflicts(conn, self.conflict_rows())

    def refresh_history(self, conn: apsw.Connection, where: tuple[str | None, str | None]) -> None:
        """Fill ``information_schema.P2PDB_HISTORY`` on ``conn`` from the change feeds, of the
        database and table ``where`` names (None: all)."""
        schema, table = where
        rows: list[tuple[Any, ...]] = []
        for db in self._dbs():
            if schema is not None and db.name.lower() != schema.lower():
                continue
            rows.extend((db.name, *row) for row in db.changes.history(table))
        information_schema.fill_history(conn, [(row[1], row[0], *row[2:]) for row in rows])

    async def refresh_diff(
        self, conn: apsw.Connection, where: dict[str, str], zone: datetime.tzinfo, current: str | None
    ) -> None:
        """Fill ``information_schema.P2PDB_DIFF`` on ``conn``: the rows of database ``TABLE_SCHEMA``
        (default ``current``) that differ between ``FROM_POINT`` and ``TO_POINT`` (default now)."""
        start, end = where.get("FROM_POINT"), where.get("TO_POINT", "now")
        name = where.get("TABLE_SCHEMA", current)
        if start is None or name is None:
            raise MySQLError(ErrorCode.WRONG_ARGUMENTS, DIFF_USAGE)
        db = self.registry.get(name) or next((d for d in self._dbs() if d.name.lower() == name.lower()), None)
        if db is None:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{name}'")
        versions = []
        for text in (start, end):
            if text.strip().lower() == "now":
                versions.append(db)
                continue
            try:
                at = time_travel.parse_point(text, zone)
                versions.append(await self.version_at(db, at))
            except ValueError as exc:
                raise MySQLError(ErrorCode.WRONG_ARGUMENTS, f"{exc}; {DIFF_USAGE}") from exc
            except StoreError as exc:
                raise MySQLError(ErrorCode.UNKNOWN_ERROR, f"cannot read that version: {exc}") from exc
        table = where.get("TABLE_NAME")
        rows = [
            (
                db.name,
                d.table,
                json_text(d.key),
                d.change,
                None if d.old is None else json_text(d.old),
                None if d.new is None else json_text(d.new),
                json_text(d.columns),
                start,
                end,
            )
            for d in diff(versions[0], versions[1])
            if table is None or d.table.lower() == table.lower()
        ]
        information_schema.fill_diff(conn, rows)

    def conflict_rows(self) -> list[tuple[Any, ...]]:
        """Rows of ``P2PDB_CONFLICTS``: ID, TABLE_SCHEMA, TABLE_NAME, KIND, ROW_KEY, SUBJECT, DETAIL,
        LOST_VALUES, ENTRY_CID, AUTHOR, CLOCK (keys and lost values as JSON text)."""
        rows: list[tuple[Any, ...]] = []
        for db in self._dbs():
            for record in db.shown_conflicts():
                rows.append(
                    (
                        len(rows) + 1,
                        db.name,
                        record.table,
                        record.kind,
                        record_json(record.key),
                        record.subject,
                        record.detail,
                        record_json(record.lost),
                        record.cid,
                        record.author,
                        record.time,
                    )
                )
        return rows

    def status(self) -> dict[str, Any]:
        values = dict(self._status())
        values.update(self.counters)
        values["P2pdb_group_commits"] = sum(c.batches for c in self._committers.values())
        values["P2pdb_group_commit_transactions"] = sum(c.transactions for c in self._committers.values())
        return values


Converter = Callable[[Any], Any]


def converted_rows(rows: list[Any], converted: tuple[tuple[int, Converter], ...]) -> list[Any]:
    """``rows`` with each value of the columns in ``converted`` (position, converter) converted;
    NULL stays NULL. One loop per row over the converted columns only: no generator per row."""
    out: list[Any] = []
    append = out.append
    if len(converted) == 1:
        ((index, conv),) = converted
        after = index + 1
        for row in rows:
            value = row[index]
            append(row if value is None else (*row[:index], conv(value), *row[after:]))
        return out
    for row in rows:
        values = list(row)
        for index, conv in converted:
            value = values[index]
            if value is not None:
                values[index] = conv(value)
        append(tuple(values))
    return out


def _representatives(rows: list[Any], description: Any, typed: list[Any] | None) -> tuple[Any, ...]:
    """One value per column that its MySQL type is judged from, for columns SQLite declares no type
    for and the plan did not type: the first value that is not NULL, unless the column holds values of
    several kinds (a CASE of an integer and a decimal): then a DOUBLE for numbers of both kinds, a
    VARCHAR when a string is among them, so every value sent fits the type announced."""
    out = list(rows[0])
    for index, item in enumerate(description):
        if item[1] is not None or (typed is not None and index < len(typed) and typed[index] is not None):
            continue
        kinds: set[type] = set()
        sample = None
        for row in rows:
            value = row[index]
            if value is not None:
                kinds.add(type(value))
                if sample is None:
                    sample = value
        if len(kinds) > 1:
            sample = "" if str in kinds or bytes in kinds else 0.0
        if index < len(out):
            out[index] = sample
    return tuple(out)
