"""Test scaffolding only: a Backend over stdlib sqlite3 ``:memory:`` (one database per session).

It understands just enough MySQL for the protocol tests: SET (autocommit), BEGIN/START TRANSACTION,
COMMIT/ROLLBACK, SELECT @@var, USE, SHOW TABLES, a few CALLs that return fixed typed results, and
otherwise passes SQL to SQLite. Column types are inferred from the first non-NULL value of each column.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal

from proto_sqltext import mysql_literals_to_sqlite, split_statements, translate_error

from p2pdb.sql.protocol import (
    Account,
    Column,
    ColumnFlag,
    ConnectInfo,
    Credential,
    ErrorCode,
    FieldType,
    MySQLError,
    OkResult,
    Result,
    ResultSet,
    SqlValue,
    is_loopback,
)

sqlite3.register_adapter(Decimal, str)
sqlite3.register_adapter(datetime.date, lambda v: v.isoformat())
sqlite3.register_adapter(datetime.datetime, lambda v: v.isoformat(" "))
sqlite3.register_adapter(datetime.timedelta, lambda v: str(v.total_seconds()))
sqlite3.register_converter("DECIMAL", lambda b: Decimal(b.decode()))
sqlite3.register_converter("DATE", lambda b: datetime.date.fromisoformat(b.decode()))
sqlite3.register_converter("DATETIME", lambda b: datetime.datetime.fromisoformat(b.decode()))
sqlite3.register_converter("TIME", lambda b: datetime.timedelta(seconds=float(b.decode())))

_PY_TYPES: dict[type, tuple[FieldType, int]] = {
    bool: (FieldType.TINY, 0),
    int: (FieldType.LONGLONG, 0),
    float: (FieldType.DOUBLE, 0),
    Decimal: (FieldType.NEWDECIMAL, 0),
    bytes: (FieldType.BLOB, 63),
    datetime.datetime: (FieldType.DATETIME, 0),
    datetime.date: (FieldType.DATE, 0),
    datetime.timedelta: (FieldType.TIME, 0),
}

#: The row returned by ``CALL typed_row()``: one column per MySQL type, (column, value).
TYPED_ROW: list[tuple[Column, SqlValue]] = [
    (Column("tiny", FieldType.TINY), -128),
    (Column("utiny", FieldType.TINY, flags=ColumnFlag.UNSIGNED), 255),
    (Column("short", FieldType.SHORT), -32768),
    (Column("int24", FieldType.INT24), 8388607),
    (Column("long", FieldType.LONG), -2147483648),
    (Column("ulonglong", FieldType.LONGLONG, flags=ColumnFlag.UNSIGNED), 18446744073709551615),
    (Column("longlong", FieldType.LONGLONG), -9223372036854775808),
    (Column("year", FieldType.YEAR, flags=ColumnFlag.UNSIGNED), 2024),
    (Column("float", FieldType.FLOAT), 1.5),
    (Column("double", FieldType.DOUBLE), -2.25e-10),
    (Column("decimal", FieldType.NEWDECIMAL, decimals=4), Decimal("-12345678901234567890.1234")),
    (Column("date", FieldType.DATE), datetime.date(2024, 2, 29)),
    (Column("datetime", FieldType.DATETIME), datetime.datetime(1999, 12, 31, 23, 59, 58)),
    (Column("datetime6", FieldType.DATETIME, decimals=6), datetime.datetime(2000, 1, 1, 0, 0, 0, 123456)),
    (Column("midnight", FieldType.DATETIME), datetime.datetime(2001, 2, 3)),
    (Column("timestamp", FieldType.TIMESTAMP), datetime.datetime(2038, 1, 19, 3, 14, 7)),
    (Column("time", FieldType.TIME), datetime.timedelta(hours=-838, minutes=-59, seconds=-59)),
    (Column("time6", FieldType.TIME, decimals=6), datetime.timedelta(days=1, microseconds=5)),
    (Column("varchar", FieldType.VAR_STRING), "héllo wörld ✓"),
    (Column("string", FieldType.STRING), ""),
    (Column("blob", FieldType.BLOB, charset=63), bytes(range(256))),
    (Column("json", FieldType.JSON), '{"a": [1, 2]}'),
    (Column("null", FieldType.NULL), None),
    (Column("nullint", FieldType.LONG), None),
]

_SET_AUTOCOMMIT = re.compile(r"^\s*set\s+(?:@@(?:session\.)?|session\s+)?autocommit\s*=\s*(\w+)\s*$", re.I)
_SELECT_VAR = re.compile(r"^\s*select\s+@@(?:session\.)?(\w+)(?:\s+limit\s+1)?\s*$", re.I)
_VARIABLES: dict[str, SqlValue] = {
    "version_comment": "P2PDB test backend",
    "version": "8.0.36-p2pdb",
    "max_allowed_packet": 67108864,
    "transaction_isolation": "REPEATABLE-READ",
    "tx_isolation": "REPEATABLE-READ",
    "sql_mode": "",
    "lower_case_table_names": 0,
    "character_set_client": "utf8mb4",
}


def _columns(description: Sequence[Sequence[object]], rows: list[tuple[SqlValue, ...]]) -> list[Column]:
    columns = []
    for i, desc in enumerate(description):
        value = next((r[i] for r in rows if r[i] is not None), None)
        ftype, charset = _PY_TYPES.get(type(value), (FieldType.VAR_STRING, 0))
        columns.append(Column(str(desc[0]), ftype, charset=charset or None))
    return columns


class SqlitePrepared:
    def __init__(self, session: SqliteSession, sql: str, nparams: int, columns: list[Column]) -> None:
        self.session = session
        self.sql = sql
        self.params = [Column("?", FieldType.VAR_STRING)] * nparams
        self.columns = columns
        self.closed = False

    async def execute(self, params: Sequence[SqlValue]) -> Sequence[Result]:
        self.session.log.append(("execute", self.sql, tuple(params)))
        return [self.session.run(self.sql, params)]

    def close(self) -> None:
        self.closed = True


class SqliteSession:
    def __init__(self, backend: SqliteBackend, info: ConnectInfo) -> None:
        self.backend = backend
        self.info = info
        self.database = info.database
        self.db = sqlite3.connect(":memory:", isolation_level=None, detect_types=sqlite3.PARSE_DECLTYPES)
        self._autocommit = True
        self.log: list[tuple[str, str, tuple[SqlValue, ...]]] = []
        self.closed = False
        self.statements: list[SqlitePrepared] = []

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    async def execute(self, sql: str, *, multi: bool) -> Sequence[Result]:
        statements = split_statements(sql)
        if len(statements) > 1 and not multi:
            raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax near ';'")
        if sql.strip().lower() == "do sleep":
            await asyncio.sleep(0.01)  # exercises a command that really suspends
            return [OkResult()]
        results: list[Result] = []
        for stmt in statements:
            try:
                results.append(self.run(stmt, ()))
            except MySQLError as exc:
                exc.partial = results
                raise
        return results

    def run(self, stmt: str, params: Sequence[SqlValue]) -> Result:
        low = stmt.lower()
        if m := _SET_AUTOCOMMIT.match(stmt):
            self._autocommit = m.group(1).lower() in ("1", "on", "true")
            if self._autocommit and self.db.in_transaction:
                self.db.execute("COMMIT")
            return OkResult()
        if low.startswith("set "):
            return OkResult()
        if m := _SELECT_VAR.match(stmt):
            name = m.group(1).lower()
            if name == "autocommit":
                return ResultSet([Column(f"@@{name}", FieldType.LONGLONG)], [(int(self._autocommit),)])
            if name not in _VARIABLES:
                raise MySQLError(ErrorCode.UNKNOWN_SYSTEM_VARIABLE, f"Unknown system variable '{name}'")
            value = _VARIABLES[name]
            ftype = FieldType.LONGLONG if isinstance(value, int) else FieldType.VAR_STRING
            return ResultSet([Column(f"@@{m.group(1)}", ftype)], [(value,)])
        if low in ("begin", "start transaction", "begin work"):
            if self.db.in_transaction:
                self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            return OkResult()
        if low in ("commit", "rollback", "commit work", "rollback work"):
            if self.db.in_transaction:
                self.db.execute(low.split()[0].upper())
            return OkResult()
        if low.startswith("use "):
            self._use(stmt[4:].strip(" `"))
            return OkResult()
        if low == "select database()":
            return ResultSet([Column("DATABASE()")], [(self.database,)])
        if low == "show tables":
            rows = self.db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
            ).fetchall()
            return ResultSet([Column(f"Tables_in_{self.database}")], rows)
        if low == "call typed_row()":
            return ResultSet([c for c, _ in TYPED_ROW], [tuple(v for _, v in TYPED_ROW)])
        if low.startswith("select `") and low.endswith(" from typed_row"):
            wanted = [n.strip(" `") for n in stmt[7:-15].split(",")]
            typed = dict((c.name, (c, v)) for c, v in TYPED_ROW)
            picked = [typed[n] for n in wanted]
            return ResultSet([c for c, _ in picked], [tuple(v for _, v in picked)])
        if low.startswith("call rows("):
            n = int(low[10:].rstrip(")"))
            return ResultSet(
                [Column("n", FieldType.LONGLONG), Column("s")], ((i, "x" * 100) for i in range(n))
            )
        if low == "call weird_name()":  # a column name holding a raw 0xff byte (surrogate-escaped)
            return ResultSet([Column("n\udcffm", FieldType.LONGLONG)], [(1,)])
        if low == "call bad_rows()":
            return ResultSet([Column("n", FieldType.LONGLONG)], _bad_rows())
        try:
            if not self._autocommit and not self.db.in_transaction:
                self.db.execute("BEGIN")
            cur = self.db.execute(mysql_literals_to_sqlite(stmt), tuple(params))
            if cur.description is not None:
                rows = cur.fetchall()
                return ResultSet(_columns(cur.description, rows), rows)
            last_id = cur.lastrowid or 0 if low.startswith(("insert", "replace")) else 0
            return OkResult(affected_rows=max(cur.rowcount, 0), last_insert_id=last_id)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.database) from None
        except UnicodeEncodeError:
            raise MySQLError(ErrorCode.PARSE_ERROR, f"Bytes that are not UTF-8 in: {stmt}") from None

    def _use(self, database: str) -> None:
        if database not in self.backend.databases:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{database}'")
        self.database = database

    async def prepare(self, sql: str) -> SqlitePrepared:
        if len(split_statements(sql)) != 1:
            raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax")
        nparams = sum(1 for ch in re.sub(r"'[^']*'", "", sql) if ch == "?")
        columns: list[Column] = []
        low = sql.strip().lower()
        try:
            if low.endswith(" from typed_row"):
                pass
            elif low.startswith("select"):
                cur = self.db.execute(f"SELECT * FROM ({sql}) LIMIT 0", (None,) * nparams)
                columns = [Column(str(d[0])) for d in cur.description]
            elif not low.startswith(("call", "set", "begin", "commit", "rollback")):
                self.db.execute("EXPLAIN " + sql, (None,) * nparams)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.database) from None
        stmt = SqlitePrepared(self, sql, nparams, columns)
        self.statements.append(stmt)
        return stmt

    async def use(self, database: str) -> None:
        self._use(database)

    async def field_list(self, table: str, wildcard: str) -> Sequence[Column]:
        rows = self.db.execute(f"PRAGMA table_info({table!r})").fetchall()
        if not rows:
            raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{self.database}.{table}' doesn't exist")
        return [Column(r[1], FieldType.VAR_STRING, table=table, database=self.database or "") for r in rows]

    async def reset(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self._autocommit = True

    def close(self) -> None:
        assert not self.closed, "session closed twice"
        self.closed = True
        self.db.close()
        self.backend.closed_sessions += 1


def _bad_rows() -> Iterator[tuple[int]]:
    yield (1,)
    raise MySQLError(ErrorCode.QUERY_INTERRUPTED, "Query execution was interrupted")


class SqliteBackend:
    """Accounts: root (empty password; loopback only), ``native``/``sha2`` users with password ``secret``."""

    def __init__(self) -> None:
        self.accounts: dict[str, Credential] = {
            "root": Credential.from_password(""),
            "native": Credential.from_password("secret", "mysql_native_password"),
            "sha2": Credential.from_password("secret", "caching_sha2_password"),
        }
        self.databases = {"test", "other", "information_schema"}
        self.sessions: list[SqliteSession] = []
        self.closed_sessions = 0

    def add_user(self, user: str, password: str, plugin: str = "caching_sha2_password") -> None:
        self.accounts[user] = Credential.from_password(password, plugin)

    def lookup_account(self, user: str, peer_host: str) -> Account | None:
        credential = self.accounts.get(user)
        if credential is None:
            return None
        return Account(credential, host_allowed=user != "root" or is_loopback(peer_host))

    async def open_session(self, info: ConnectInfo) -> SqliteSession:
        if info.database is not None and info.database not in self.databases:
            raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{info.database}'")
        session = SqliteSession(self, info)
        self.sessions.append(session)
        return session
