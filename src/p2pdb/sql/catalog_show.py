"""SHOW and DESCRIBE statements, answered from store metadata with MySQL 8's headers and values.

:func:`show` takes the statement text and returns a :class:`ResultSet`; errors are the ones MySQL
gives (1046 no database selected, 1049 unknown database, 1146 unknown table, 1064 syntax, 1235 for
a SHOW this server does not implement).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from p2pdb.sql.catalog_meta import (
    CHARSETS,
    COLLATIONS,
    ENGINES,
    INFORMATION_SCHEMA,
    PLUGINS,
    PRIVILEGE_LIST,
    PRIVILEGES,
    CatalogSource,
    create_view_sql,
    database_tables,
    database_views,
    describe_table,
    find_table,
    no_database,
    quote_ident,
    table_comment,
    table_indexes,
    unknown_database,
)
from p2pdb.sql.catalog_meta import create_table_sql as _create_table_sql
from p2pdb.sql.catalog_parse import Cursor, Filter, like, read_filter
from p2pdb.sql.information_schema import TABLE_NAMES as INFORMATION_SCHEMA_TABLES
from p2pdb.sql.information_schema import table_spec as information_schema_table
from p2pdb.sql.mysqltypes import COLLATION_NAME
from p2pdb.sql.protocol.constants import FieldType
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column, ResultSet
from p2pdb.sql.variables import show_value
from p2pdb.store.schema import IndexSpec, TableSpec

#: A warning or error of the session: (Level, Code, Message), e.g. ("Warning", 1366, "...").
Diagnostic = tuple[str, int, str]
Rows = list[list[Any]]


def _header(spec: str) -> list[Column]:
    """Columns from "Name:kind, ..." where kind is s (text), i (BIGINT) or u (INT UNSIGNED)."""
    columns = []
    for item in spec.split(","):
        name, _, kind = item.strip().rpartition(":")
        if kind == "s":
            columns.append(Column(name, FieldType.VAR_STRING, length=256))
        else:
            columns.append(Column(name, FieldType.LONGLONG if kind == "i" else FieldType.LONG, length=21))
    return columns


_DATABASES = _header("Database:s")
_CREATE_VIEW = _header("View:s, Create View:s, character_set_client:s, collation_connection:s")
_COLUMNS = _header("Field:s, Type:s, Null:s, Key:s, Default:s, Extra:s")
_FULL_COLUMNS = _header(
    "Field:s, Type:s, Collation:s, Null:s, Key:s, Default:s, Extra:s, Privileges:s, Comment:s"
)
_INDEX = _header(
    "Table:s, Non_unique:i, Key_name:s, Seq_in_index:u, Column_name:s, Collation:s, Cardinality:i,"
    " Sub_part:i, Packed:s, Null:s, Index_type:s, Comment:s, Index_comment:s, Visible:s, Expression:s"
)
_VARIABLES = _header("Variable_name:s, Value:s")
_WARNINGS = _header("Level:s, Code:u, Message:s")
_ENGINES = _header("Engine:s, Support:s, Comment:s, Transactions:s, XA:s, Savepoints:s")
_CHARSETS = _header("Charset:s, Description:s, Default collation:s, Maxlen:u")
_COLLATIONS = _header("Collation:s, Charset:s, Id:i, Default:s, Compiled:s, Sortlen:u, Pad_attribute:s")
_TABLE_STATUS = _header(
    "Name:s, Engine:s, Version:i, Row_format:s, Rows:i, Avg_row_length:i, Data_length:i,"
    " Max_data_length:i, Index_length:i, Data_free:i, Auto_increment:i, Create_time:s, Update_time:s,"
    " Check_time:s, Collation:s, Checksum:i, Create_options:s, Comment:s"
)
_PROCESSLIST = _header("Id:i, User:s, Host:s, db:s, Command:s, Time:u, State:s, Info:s")
_CREATE_TABLE = _header("Table:s, Create Table:s")
_CREATE_DATABASE = _header("Database:s, Create Database:s")
_TRIGGERS = _header(
    "Trigger:s, Event:s, Table:s, Statement:s, Timing:s, Created:s, sql_mode:s, Definer:s,"
    " character_set_client:s, collation_connection:s, Database Collation:s"
)
_EVENTS = _header(
    "Db:s, Name:s, Definer:s, Time zone:s, Type:s, Execute at:s, Interval value:s, Interval field:s,"
    " Starts:s, Ends:s, Status:s, Originator:u, character_set_client:s, collation_connection:s,"
    " Database Collation:s"
)
_ROUTINE_STATUS = _header(
    "Db:s, Name:s, Type:s, Definer:s, Modified:s, Created:s, Security_type:s, Comment:s,"
    " character_set_client:s, collation_connection:s, Database Collation:s"
)
_PLUGINS = _header("Name:s, Status:s, Type:s, Library:s, License:s")
_PRIVILEGES = _header("Privilege:s, Context:s, Comment:s")
_MASTER_STATUS = _header("File:s, Position:i, Binlog_Do_DB:s, Binlog_Ignore_DB:s, Executed_Gtid_Set:s")


_STATUS_TAIL = (COLLATION_NAME, None, "")  # Collation, Checksum, Create_options
_INDEX_TAIL = ("BTREE", "", "", "YES", None)  # Index_type, Comment, Index_comment, Visible, Expression


@dataclass(frozen=True, slots=True)
class _Context:
    current_db: str | None
    source: CatalogSource
    variables: Mapping[str, Any]
    status: Mapping[str, Any]
    warnings: Sequence[Diagnostic]
    processlist: Sequence[Sequence[Any]]
    user: str
    host: str


def show(
    sql: str,
    *,
    current_db: str | None,
    source: CatalogSource,
    variables: Mapping[str, Any],
    status: Mapping[str, Any],
    warnings: Sequence[Diagnostic] = (),
    processlist: Sequence[Sequence[Any]] = (),
    user: str = "root",
    host: str = "localhost",
) -> ResultSet:
    """Answer a ``SHOW ...``, ``DESCRIBE``/``DESC`` or ``EXPLAIN <table>`` statement.

    ``warnings`` are the session's (Level, Code, Message) triples for SHOW WARNINGS/ERRORS,
    ``processlist`` rows of (Id, User, Host, db, Command, Time, State, Info) for SHOW PROCESSLIST,
    ``user``/``host`` the account SHOW GRANTS describes by default.
    """
    ctx = _Context(current_db, source, variables, status, warnings, processlist, user, host)
    cur = Cursor(sql)
    first = cur.accept("SHOW", "DESCRIBE", "DESC", "EXPLAIN")
    if first is None:
        raise cur.error()
    if first != "SHOW":
        return _describe(cur, ctx)
    full = False  # SESSION/GLOBAL/LOCAL: one scope here; EXTENDED adds nothing without hidden columns
    while modifier := cur.accept("FULL", "EXTENDED", "SESSION", "GLOBAL", "LOCAL", "STORAGE"):
        full = full or modifier == "FULL"
    word = cur.word()
    if word == "CHARACTER" and cur.word(1) == "SET":
        cur.i += 1
        word = "CHARSET"
    if word in ("TABLE", "PROCEDURE", "FUNCTION", "MASTER") and cur.word(1) == "STATUS":
        cur.i += 1
        word = f"{word} STATUS"
    if word == "OPEN" and cur.word(1) == "TABLES":
        cur.i += 1
        word = "OPEN TABLES"
    handler = _HANDLERS.get(word or "")
    if handler is None:
        statement = " ".join(t.text.upper() if t.kind == "word" else t.text for t in cur.tokens[:3])
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET, f"This version of MySQL doesn't yet support '{statement}'"
        )
    cur.i += 1
    return handler(cur, ctx, full)


def is_catalog_statement(sql: str) -> bool:
    """True for statements :func:`show` answers: SHOW, DESCRIBE/DESC, and EXPLAIN of a table."""
    cur = Cursor(sql)
    first = cur.word()
    if first == "SHOW":
        return True
    if first not in ("DESCRIBE", "DESC", "EXPLAIN"):
        return False
    token = cur.peek(1)
    return token is not None and token.kind in ("word", "ident") and cur.word(1) not in _EXPLAINABLE


_EXPLAINABLE = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "TABLE", "FORMAT", "ANALYZE", "FOR"}
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _database_of(cur: Cursor, ctx: _Context) -> str:
    """``[FROM|IN db]`` or the current database."""
    if cur.accept("FROM", "IN"):
        return cur.name()
    if ctx.current_db is None:
        raise no_database()
    return ctx.current_db


def _table_ref(cur: Cursor, ctx: _Context) -> tuple[str | None, str]:
    """``FROM|IN [db.]t [FROM|IN db]`` -> (database, table)."""
    cur.expect("FROM", "IN")
    database, table = cur.qualified()
    if cur.accept("FROM", "IN"):
        database = cur.name()
    return database or ctx.current_db, table


def _like_header(columns: list[Column], flt: Filter) -> list[Column]:
    if flt.like is None:
        return columns
    return [Column(f"{columns[0].name} ({flt.like})", FieldType.VAR_STRING, length=256), *columns[1:]]


# -- databases and tables -------------------------------------------------------------------------


def _databases(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    flt = read_filter(cur)
    rows: Rows = [[INFORMATION_SCHEMA]] + [[name] for name in ctx.source.database_names()]
    return ResultSet(_like_header(_DATABASES, flt), flt.apply(["Database"], rows))


def _table_names(ctx: _Context, database: str) -> list[str]:
    if database.lower() == INFORMATION_SCHEMA:
        return list(INFORMATION_SCHEMA_TABLES)
    return sorted(spec.name for spec in database_tables(ctx.source, database))


def _tables(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    database = _database_of(cur, ctx)
    flt = read_filter(cur)
    names = _table_names(ctx, database)
    kind = "SYSTEM VIEW" if database.lower() == INFORMATION_SCHEMA else "BASE TABLE"
    kinds = {name: kind for name in names}
    if database.lower() != INFORMATION_SCHEMA:
        kinds.update((view.name, "VIEW") for view in database_views(ctx.source, database))
    header = f"Tables_in_{database}:s" + (", Table_type:s" if full else "")
    columns = _header(header)
    rows: Rows = [[name, kinds[name]] if full else [name] for name in sorted(kinds)]
    return ResultSet(_like_header(columns, flt), flt.apply([c.name for c in columns], rows))


_OPEN_TABLES = _header("Database:s, Table:s, In_use:i, Name_locked:i")


def _open_tables(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    """SHOW OPEN TABLES [FROM db] [LIKE ...]: the tables of the database (none in use: nothing is
    locked here); without a current database, none."""
    database = cur.name() if cur.accept("FROM", "IN") else ctx.current_db
    flt = read_filter(cur)
    names = sorted(_table_names(ctx, database)) if database is not None else []
    rows: Rows = [[database, name, 0, 0] for name in names]
    return ResultSet(_OPEN_TABLES, flt.apply([c.name for c in _OPEN_TABLES], rows, like_column=1))


def _table_status(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    database = _database_of(cur, ctx)
    flt = read_filter(cur)
    rows: Rows = []
    specs = [] if database.lower() == INFORMATION_SCHEMA else database_tables(ctx.source, database)
    for spec in sorted(specs, key=lambda s: s.name):
        count = ctx.source.row_count(database, spec.name)
        sizes = (0, 0, 0, 0, 0)  # Avg_row_length, Data_length, Max_data_length, Index_length, Data_free
        times = (None, None, None, None)  # Auto_increment, Create_time, Update_time, Check_time
        rows.append(
            [spec.name, "InnoDB", 10, "Dynamic", count, *sizes, *times, *_STATUS_TAIL, table_comment(spec)]
        )
    return ResultSet(_TABLE_STATUS, flt.apply([c.name for c in _TABLE_STATUS], rows))


# -- columns, indexes, CREATE ---------------------------------------------------------------------


def _resolve(ctx: _Context, database: str | None, table: str) -> tuple[str, TableSpec]:
    """The database (given or current) and the table, or the error MySQL reports."""
    if database is None:
        raise no_database()
    if database.lower() == INFORMATION_SCHEMA:
        spec = information_schema_table(table)
        if spec is None:
            raise MySQLError(1109, f"Unknown table '{table}' in information_schema", "42S02")
        return INFORMATION_SCHEMA, spec
    return database, find_table(ctx.source, database, table)


def _indexes(ctx: _Context, database: str, spec: TableSpec) -> list[IndexSpec]:
    return [] if database == INFORMATION_SCHEMA else table_indexes(ctx.source, database, spec)


def _column_rows(ctx: _Context, database: str | None, table: str, full: bool) -> Rows:
    database, spec = _resolve(ctx, database, table)
    rows: Rows = []
    indexes = _indexes(ctx, database, spec)
    for f in describe_table(spec, indexes):
        null = "YES" if f.nullable else "NO"
        if full:
            described = (f.default, f.extra, PRIVILEGES, f.comment)
            rows.append([f.name, f.info.column_type, f.collation_name, null, f.key, *described])
        else:
            rows.append([f.name, f.info.column_type, null, f.key, f.default, f.extra])
    return rows


def _columns(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    database, table = _table_ref(cur, ctx)
    flt = read_filter(cur)
    header = _FULL_COLUMNS if full else _COLUMNS
    rows = _column_rows(ctx, database, table, full)
    return ResultSet(header, flt.apply([c.name for c in header], rows))


def _describe(cur: Cursor, ctx: _Context) -> ResultSet:
    if cur.word() in _EXPLAINABLE:
        raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "This version of MySQL doesn't yet support 'EXPLAIN'")
    database, table = cur.qualified()
    rows = _column_rows(ctx, database or ctx.current_db, table, False)
    token = cur.peek()
    if token is not None and token.kind == "str":
        pattern = cur.string()
        rows = [row for row in rows if like(row[0], pattern)]
    elif token is not None:
        column = cur.name().casefold()
        rows = [row for row in rows if row[0].casefold() == column]
    cur.end()
    return ResultSet(_COLUMNS, rows)


def _index(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    database, table = _table_ref(cur, ctx)
    flt = read_filter(cur, allow_like=False)
    database, spec = _resolve(ctx, database, table)
    indexes = _indexes(ctx, database, spec)
    nullable = {f.name: f.nullable for f in describe_table(spec, indexes)}
    count = 0 if database == INFORMATION_SCHEMA else ctx.source.row_count(database, spec.name)
    keys = [("PRIMARY", False, spec.pk)] + [(i.name, not i.unique, i.columns) for i in indexes]
    rows: Rows = []
    for name, non_unique, columns in keys:
        for seq, column in enumerate(columns, 1):
            null = "YES" if nullable.get(column) else ""
            key = (int(non_unique), name, seq, column, "A", count, None, None, null)
            rows.append([spec.name, *key, *_INDEX_TAIL])
    return ResultSet(_INDEX, flt.apply([c.name for c in _INDEX], rows))


def _create(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    kind = cur.expect(
        "TABLE", "DATABASE", "SCHEMA", "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "USER"
    )
    if kind in ("DATABASE", "SCHEMA"):
        if_not_exists = bool(cur.accept("IF"))
        if if_not_exists:
            cur.expect("NOT")
            cur.expect("EXISTS")
        name = cur.name()
        cur.end()
        return _create_database(ctx, name, if_not_exists)
    if kind not in ("TABLE", "VIEW"):
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET, f"This version of MySQL doesn't yet support 'SHOW CREATE {kind}'"
        )
    database, table = cur.qualified()
    cur.end()
    view = next(
        (
            v
            for v in database_views(ctx.source, database or ctx.current_db or "")
            if v.name.lower() == table.lower()
        ),
        None,
    )
    if view is not None:
        return ResultSet(_CREATE_VIEW, [[view.name, create_view_sql(view), "utf8mb4", COLLATION_NAME]])
    if kind == "VIEW":
        database, _ = _resolve(ctx, database or ctx.current_db, table)  # 1146 if it is nothing
        raise MySQLError(1347, f"'{database}.{table}' is not VIEW")
    database, spec = _resolve(ctx, database or ctx.current_db, table)
    peek = getattr(ctx.source, "next_auto_id", None)
    text = _create_table_sql(spec, _indexes(ctx, database, spec), peek(database, spec.name) if peek else None)
    return ResultSet(_CREATE_TABLE, [[spec.name, text]])


def _create_database(ctx: _Context, name: str, if_not_exists: bool) -> ResultSet:
    if name.lower() == INFORMATION_SCHEMA:
        name, charset = INFORMATION_SCHEMA, "utf8mb3"
    elif name in ctx.source.database_names():
        charset = f"utf8mb4 COLLATE {COLLATION_NAME}"
    else:
        raise unknown_database(name)
    guard = "/*!32312 IF NOT EXISTS*/ " if if_not_exists else ""
    sealed = "Y" if name != INFORMATION_SCHEMA and ctx.source.encrypted(name) else "N"
    text = (
        f"CREATE DATABASE {guard}{quote_ident(name)} /*!40100 DEFAULT CHARACTER SET {charset} */"
        f" /*!80016 DEFAULT ENCRYPTION='{sealed}' */"
    )
    return ResultSet(_CREATE_DATABASE, [[name, text]])


# -- server state ---------------------------------------------------------------------------------


def _settings(status: bool) -> Callable[[Cursor, _Context, bool], ResultSet]:
    """SHOW [SESSION|GLOBAL] VARIABLES / STATUS: one scope, sorted by name."""

    def handler(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
        flt = read_filter(cur)
        values = ctx.status if status else ctx.variables
        rows: Rows = [
            [name, _text(value) if status else show_value(value, name)]
            for name, value in sorted(values.items())
        ]
        return ResultSet(_VARIABLES, flt.apply(["Variable_name", "Value"], rows))

    return handler


def _limit(cur: Cursor) -> tuple[int, int | None]:
    if not cur.accept("LIMIT"):
        return 0, None
    first = cur.number()
    if cur.accept_op(","):
        return first, cur.number()
    if cur.accept("OFFSET"):
        return cur.number(), first
    return 0, first


def _diagnostics(errors_only: bool) -> Callable[[Cursor, _Context, bool], ResultSet]:
    def handler(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
        offset, count = _limit(cur)
        cur.end()
        rows: Rows = [
            [level, code, message]
            for level, code, message in ctx.warnings
            if not errors_only or level.lower() == "error"
        ]
        rows = rows[offset:] if count is None else rows[offset : offset + count]
        return ResultSet(_WARNINGS, rows)

    return handler


def _count(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    """SHOW COUNT(*) WARNINGS / SHOW COUNT(*) ERRORS."""
    cur.expect_op("(")
    cur.expect_op("*")
    cur.expect_op(")")
    kind = cur.expect("WARNINGS", "ERRORS")
    cur.end()
    levels = [level.lower() for level, _, _ in ctx.warnings]
    count = len(levels) if kind == "WARNINGS" else levels.count("error")
    name = "@@session.warning_count" if kind == "WARNINGS" else "@@session.error_count"
    return ResultSet(_header(f"{name}:i"), [[count]])


def _processlist(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    cur.end()
    rows: Rows = []
    for entry in ctx.processlist:
        row = list(entry)
        if not full and isinstance(row[7], str):
            row[7] = row[7][:100]
        rows.append(row)
    return ResultSet(_PROCESSLIST, rows)


def _grants(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
    user, host = ctx.user, ctx.host
    if cur.accept("FOR"):
        if cur.accept("CURRENT_USER"):
            if cur.accept_op("("):
                cur.expect_op(")")
        else:
            token = cur.peek()
            user = cur.string() if token is not None and token.kind == "str" else cur.name()
            if cur.accept_op("@"):
                token = cur.peek()
                host = cur.string() if token is not None and token.kind == "str" else cur.name()
            else:
                host = "%"
    cur.end()
    grant = f"GRANT ALL PRIVILEGES ON *.* TO {quote_ident(user)}@{quote_ident(host)} WITH GRANT OPTION"
    return ResultSet(_header(f"Grants for {user}@{host}:s"), [[grant]])


def _fixed(
    columns: list[Column], rows: Sequence[Sequence[Any]]
) -> Callable[[Cursor, _Context, bool], ResultSet]:
    def handler(cur: Cursor, ctx: _Context, full: bool) -> ResultSet:
        if cur.accept("FROM", "IN"):  # SHOW TRIGGERS/EVENTS FROM db
            database = cur.name()
            if database.lower() != INFORMATION_SCHEMA and database not in ctx.source.database_names():
                raise unknown_database(database)
        flt = read_filter(cur)
        return ResultSet(columns, flt.apply([c.name for c in columns], [list(r) for r in rows]))

    return handler


_HANDLERS: dict[str, Callable[[Cursor, _Context, bool], ResultSet]] = {
    "DATABASES": _databases,
    "SCHEMAS": _databases,
    "TABLES": _tables,
    "TABLE STATUS": _table_status,
    "OPEN TABLES": _open_tables,
    "COLUMNS": _columns,
    "FIELDS": _columns,
    "INDEX": _index,
    "INDEXES": _index,
    "KEYS": _index,
    "CREATE": _create,
    "VARIABLES": _settings(status=False),
    "STATUS": _settings(status=True),
    "WARNINGS": _diagnostics(errors_only=False),
    "ERRORS": _diagnostics(errors_only=True),
    "COUNT": _count,
    "PROCESSLIST": _processlist,
    "GRANTS": _grants,
    "ENGINES": _fixed(_ENGINES, ENGINES),
    "PLUGINS": _fixed(_PLUGINS, [(n, "ACTIVE", t, None, "Apache-2.0") for n, _, t, _ in PLUGINS]),
    "PRIVILEGES": _fixed(_PRIVILEGES, PRIVILEGE_LIST),
    "CHARSET": _fixed(_CHARSETS, [(c, d, dc, m) for c, d, dc, m in CHARSETS]),
    "COLLATION": _fixed(_COLLATIONS, [(n, c, i, d, "Yes", s, p) for n, c, i, d, s, p in COLLATIONS]),
    "TRIGGERS": _fixed(_TRIGGERS, ()),
    "EVENTS": _fixed(_EVENTS, ()),
    "PROCEDURE STATUS": _fixed(_ROUTINE_STATUS, ()),
    "FUNCTION STATUS": _fixed(_ROUTINE_STATUS, ()),
    "MASTER STATUS": _fixed(_MASTER_STATUS, ()),
}
