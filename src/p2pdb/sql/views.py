"""Views: CREATE [OR REPLACE] VIEW, ALTER VIEW, DROP VIEW, replicated as schema events.

A view travels as its SELECT in MySQL text (``p2pdb.schema.ViewSpec``); every node translates it with
its own SQL layer (:func:`compile_view`, the translation client queries get, with the literals written
back into the text) and the store makes the SQLite view. No SQLite text from a peer is ever run. A
client reading a view is checked by the authorizer like any read (internal tables stay out of reach
through views too); creating one runs its query once under the same checks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from p2pdb.schema import ViewSpec, ident
from p2pdb.sql.alter import name_of, split_items
from p2pdb.sql.guard import CLIENT_MARK
from p2pdb.sql.lexer import lex, without_qualifier
from p2pdb.sql.plan import build_plan
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import OkResult, Result

if TYPE_CHECKING:
    from p2pdb.schema import TableSpec
    from p2pdb.sql.lexer import Lexed
    from p2pdb.sql.session import SQLSession
    from p2pdb.store import Database

_I = re.IGNORECASE | re.S
_NAME = r"(`(?:[^`]|``)+`|[\w$]+)"
_VIEW = re.compile(
    r"^\s*(CREATE|ALTER)\s+(OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?"
    r"(?:DEFINER\s*=\s*(?:CURRENT_USER(?:\s*\(\s*\))?|\S+)\s+)?(?:SQL\s+SECURITY\s+\w+\s+)?"
    rf"VIEW\s+(?:{_NAME}\s*\.\s*)?{_NAME}\s*(\([^)]*\))?\s*AS\s+(.+?)"
    r"(\s+WITH\s+(?:CASCADED\s+|LOCAL\s+)?CHECK\s+OPTION)?\s*;?\s*$",
    _I,
)
_DROP = re.compile(r"^\s*DROP\s+VIEW\s+(IF\s+EXISTS\s+)?(.+?)\s*(RESTRICT|CASCADE)?\s*;?\s*$", _I)
_PARAM = re.compile(r":p(\d+)")
_IS_VIEW = re.compile(
    r"^\s*(CREATE|ALTER)\s+(OR\s+REPLACE\s+)?(ALGORITHM\s*=\s*\w+\s+)?(DEFINER\s*=\s*\S+\s+)?"
    r"(SQL\s+SECURITY\s+\w+\s+)?VIEW\b",
    _I,
)


def is_view_statement(shape: str) -> bool:
    return bool(_IS_VIEW.match(shape))


def sqlite_literal(value: Any) -> str:
    """A value as a SQLite literal in a view's text (the one place values become SQL text: a view
    is stored SQL; strings are quoted with doubled quotes, bytes as X'..')."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def compile_view(db: Database, view: ViewSpec) -> str:
    """The SQLite SELECT of a view, from its MySQL text (raises MySQLError)."""
    lexed = lex(view.query)
    if lexed.placeholders or lexed.sysvars or lexed.uservars:
        raise MySQLError(1351, "View's SELECT contains a variable or parameter")
    if not re.match(r"^\s*\(*\s*(SELECT|WITH|VALUES|TABLE)\b", lexed.shape, re.IGNORECASE):
        raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax: a view is a SELECT")
    if "." in lexed.shape:  # ``FROM shop.t`` in a view of ``shop``: SQLite knows the table as ``t``
        lexed = without_qualifier(lexed, db.name)
    plan = build_plan(lexed, db.catalog.tables)
    if (
        plan.write
        or plan.info_schema
        or plan.conflicts
        or plan.processlist
        or plan.history
        or plan.diff
        or plan.locking
    ):
        raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "This version of P2PDB doesn't yet support this view")
    sql = plan.sql.removeprefix(CLIENT_MARK)
    return _PARAM.sub(lambda m: sqlite_literal(lexed.params[int(m.group(1)) - 1]), sql)


def register(db: Database) -> None:
    """Let ``db``'s store make SQLite views with this SQL layer's translation."""
    db.compile_view = lambda view: compile_view(db, view)
    db.materializer.sync_views()


def handle_view(session: SQLSession, lexed: Lexed, text: str) -> Result:
    from p2pdb.sql.statements import _ddl_write, _named_db

    match = _VIEW.match(text)
    if match is None:
        raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax near 'VIEW'")
    verb, replace, database, name, cols, query, _check = match.groups()
    database = name_of(database) if database else None
    name = name_of(name)
    db = _named_db(session, database)
    columns = tuple(name_of(c) for c in split_items(cols.strip()[1:-1])) if cols else ()
    if len({ident(c) for c in columns}) != len(columns):
        raise MySQLError(1060, f"Duplicate column name '{columns[-1]}'")
    if db.catalog.schema.table(name) is not None:
        if verb.upper() == "CREATE" and not replace:
            raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
        raise MySQLError(1347, f"'{db.name}.{name}' is not VIEW")
    exists = db.catalog.schema.view(name) is not None
    if verb.upper() == "CREATE" and exists and not replace:
        raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
    if verb.upper() == "ALTER" and not exists:
        raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db.name}.{name}' doesn't exist")
    view = ViewSpec(name, query.strip(), columns)
    select = compile_view(db, view)
    count = len(columns)

    def create(conn: Any) -> None:
        # The query runs once, as the client: unknown tables or columns, and internal tables, are
        # refused here with the error a SELECT would get.
        cursor = conn.execute(
            f"{CLIENT_MARK}SELECT v.* FROM (SELECT 1) AS one LEFT JOIN ({select}) AS v LIMIT 1"
        )
        width = len(cursor.getdescription())  # the join gives one row even for an empty view
        cursor.close()
        if count and width != count:
            raise MySQLError(
                1353,
                "In definition of view, derived table or common table expression, SELECT list and column names list have different column counts",
            )
        db.catalog.note_change("create_view", name, view)

    _ddl_write(session, create, db=db)
    return OkResult()


def handle_drop_view(session: SQLSession, lexed: Lexed, text: str) -> Result:
    from p2pdb.sql.statements import _ddl_write, _named_db

    match = _DROP.match(lexed.shape)
    if match is None:
        raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax near 'DROP VIEW'")
    if_exists = bool(match.group(1))
    refs = []
    for item in split_items(match.group(2)):
        parts = [name_of(p) for p in re.split(r"\s*\.\s*(?=(?:[^`]*`[^`]*`)*[^`]*$)", item)]
        refs.append((parts[0] if len(parts) > 1 else session.database, parts[-1]))
    databases = {d for d, _ in refs}
    if len(databases) != 1:
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET,
            "This version of P2PDB doesn't yet support DROP VIEW across databases",
        )
    db = _named_db(session, databases.pop())
    missing = [n for _, n in refs if db.catalog.schema.view(n) is None]
    if missing and not if_exists:
        shown = ",".join(f"{db.name}.{n}" for n in missing)
        raise MySQLError(ErrorCode.BAD_TABLE_ERROR, f"Unknown table '{shown}'")
    present = [n for _, n in refs if db.catalog.schema.view(n) is not None]

    def drop(conn: Any) -> None:
        for n in present:
            db.catalog.note_change("drop_view", n, n)

    if present:
        _ddl_write(session, drop, db=db)
    return OkResult(warnings=len(missing))


_SQLITE_TO_MYSQL = {"INTEGER": "bigint", "REAL": "double", "NUMERIC": "decimal(65,30)", "BLOB": "longblob"}


def view_columns(db: Database, view: ViewSpec) -> TableSpec | None:
    """The columns of a view as a (keyless) table spec: a column read straight from a table keeps that
    column's definition; others get a MySQL type from the SQLite type SQLite reports."""
    from p2pdb.schema import Column, TableSpec, quote

    try:
        tree = sqlglot.parse_one(view.query, read="mysql")
        sources = [db.catalog.table(str(t.name)) for t in tree.find_all(exp.Table)]
        info = list(db.conn.execute(f"PRAGMA table_info({quote(view.name)})"))
    except Exception:  # a view this node cannot read (a table it names is gone)
        return None
    columns = []
    for _, name, declared, _, _, _ in info:
        found = next((s.column(name) for s in sources if s is not None and s.column(name) is not None), None)
        if found is not None:
            columns.append(Column(str(name), found.type, found.not_null, found.default, dict(found.extra)))
            continue
        sqlite_type = str(declared or "").upper() or _value_type(db, view, str(name))
        mysql_type = _SQLITE_TO_MYSQL.get(sqlite_type, "longtext")
        columns.append(
            Column(
                str(name),
                sqlite_type if sqlite_type in _SQLITE_TO_MYSQL else "TEXT",
                extra={"mt": mysql_type},
            )
        )
    if not columns:
        return None
    return TableSpec(view.name, tuple(columns), ())


def _value_type(db: Database, view: ViewSpec, column: str) -> str:
    """An expression column has no declared type: the type of its first value tells."""
    from p2pdb.schema import quote

    for (kind,) in db.conn.execute(
        f"SELECT typeof({quote(column)}) FROM {quote(view.name)} WHERE {quote(column)} IS NOT NULL LIMIT 1"
    ):
        return {"integer": "INTEGER", "real": "REAL", "blob": "BLOB"}.get(str(kind), "TEXT")
    return "TEXT"
