"""Handlers of the statements that are not plain DML: SET, USE, transactions, DDL, catalog.

Each handler takes ``(session, lexed, text)`` and returns one result. ``lexed`` is the statement
with literals taken out (see :mod:`p2pdb.sql.lexer`); ``text`` is the statement as sent.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from p2pdb.schema import ident
from p2pdb.sql import (
    alter,
    catalog,
    constraints,
    create_select,
    database_options,
    load_data,
    temporary,
    views,
)
from p2pdb.sql.ddl import index_sql, mysql_index_name, plan_create_table, sqlite_index_name
from p2pdb.sql.guard import CLIENT_MARK
from p2pdb.sql.lexer import Lexed, lex
from p2pdb.sql.plan import Plan
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column, OkResult, Result, ResultSet
from p2pdb.sql.variables import DEFAULTS, INTEGER_RANGES, normalize_name
from p2pdb.store.schema import quote

if TYPE_CHECKING:
    from p2pdb.sql.backend import OtherProcesses
    from p2pdb.sql.session import SQLSession
    from p2pdb.store import Database

Handler = Callable[["SQLSession", Lexed, str], "Result | Awaitable[Result]"]
_I = re.IGNORECASE
_OK = OkResult()


def _unsupported(text: str) -> MySQLError:
    return MySQLError(
        ErrorCode.NOT_SUPPORTED_YET, f"This version of P2PDB doesn't yet support '{text.strip()[:80]}'"
    )


# -- SET ----------------------------------------------------------------------------------------

_TOP_COMMA = re.compile(r"(\()|(\))|(,)")
_ASSIGN = re.compile(
    r"^\s*(:[ug]\d+|(?:(?:GLOBAL|SESSION|LOCAL|PERSIST|PERSIST_ONLY)\s+)?[\w$.`]+)\s*(?::=|=)\s*(.+)$",
    _I | re.S,
)


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for match in _TOP_COMMA.finditer(text):
        if match.group(1):
            depth += 1
        elif match.group(2):
            depth -= 1
        elif depth == 0:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return parts


_SUBQUERY = re.compile(r"\bSELECT\b", _I)


async def _evaluate(session: SQLSession, lexed: Lexed, expr: str) -> Any:
    """The value of ``expr`` (SET's right side, DO's body). An expression with a subquery reads
    tables: it runs as a SELECT of the session (its database, privileges and transaction)."""
    bare = expr.strip()
    if re.fullmatch(r"[A-Za-z_][\w$]*", bare):
        upper = bare.upper()
        if upper in ("ON", "TRUE"):
            return 1
        if upper in ("OFF", "FALSE"):
            return 0
        if upper == "NULL":
            return None
        if upper == "DEFAULT":
            return None
        return bare  # SET sql_mode = TRADITIONAL, SET time_zone = SYSTEM ...
    probe = Lexed(
        f"SELECT {bare}", lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars
    )
    if _SUBQUERY.search(bare):
        result = await session.run_inside(probe, f"SELECT {bare}")
        first = next(iter(result.rows), None) if isinstance(result, ResultSet) else None
        return first[0] if first else None
    plan = Plan(sql=f"{CLIENT_MARK}SELECT {bare}", write=False, source=f"SELECT {bare}")
    conn = session.backend.scratch
    with session.guarded(conn):
        cursor = conn.cursor()
        session._execute(cursor, plan, session.bindings(probe, plan))
        row = cursor.fetchone()
    return row[0] if row else None


_NAMES = re.compile(
    r"^(NAMES|CHARACTER\s+SET|CHARSET)\s+(?::p(\d+)|`?([\w$]+)`?)(?:\s+COLLATE\s+(?::p(\d+)|`?([\w$]+)`?))?\s*$",
    _I,
)


def _set_names(session: SQLSession, lexed: Lexed, body: str) -> None:
    """SET NAMES cs [COLLATE c] / SET CHARACTER SET cs: the session's variables say what the client
    asked for when it is a UTF-8 character set (text is always UTF-8 on the wire here); other
    character sets are accepted and change nothing."""
    match = _NAMES.match(body.strip())
    if match is None:
        return
    charset = str(lexed.params[int(match.group(2)) - 1] if match.group(2) else match.group(3)).lower()
    if charset == "default" or not charset.startswith("utf8"):
        return
    charset = "utf8mb3" if charset == "utf8" else charset
    written = lexed.params[int(match.group(4)) - 1] if match.group(4) else match.group(5)
    collation = str(written).lower() if written else f"{charset}_general_ci"
    variables = session.variables
    variables["character_set_client"] = variables["character_set_results"] = charset
    if match.group(1).upper() == "NAMES":
        variables["character_set_connection"] = charset
        variables["collation_connection"] = collation


async def handle_set(session: SQLSession, lexed: Lexed, text: str) -> Result:
    body = re.sub(r"^\s*SET\s+", "", lexed.shape, flags=_I)
    upper = body.upper()
    if upper.startswith(("NAMES", "CHARACTER SET", "CHARSET")):
        _set_names(session, lexed, body)
        return _OK
    if scoped := re.match(r"^(GLOBAL\s+|SESSION\s+|LOCAL\s+)?TRANSACTION\b", body, _I):
        mode = 1 if "READ ONLY" in upper else 0 if "READ WRITE" in upper else None
        if mode is not None and scoped.group(1) is None:
            session.next_read_only = bool(mode)  # SET TRANSACTION ...: the next transaction only
        elif mode is not None:
            session.variables["transaction_read_only"] = mode
        level = re.search(
            r"ISOLATION\s+LEVEL\s+(READ\s+UNCOMMITTED|READ\s+COMMITTED|REPEATABLE\s+READ|SERIALIZABLE)",
            body,
            _I,
        )
        if level:
            isolation = "-".join(level.group(1).upper().split())
            session.variables["transaction_isolation"] = session.variables["tx_isolation"] = isolation
        return _OK
    for part in _split_top(body):
        match = _ASSIGN.match(part)
        if match is None:
            raise MySQLError(
                ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{part.strip()[:40]}'"
            )
        target, expr = match.group(1).strip(), match.group(2)
        value: Any = await _evaluate(session, lexed, expr)
        if target.startswith(":u"):
            session.user_vars[lexed.uservars[target[1:]].lower()] = value
            continue
        written = lexed.sysvars[target[1:]] if target.startswith(":g") else target
        name = normalize_name(written)
        if name not in session.variables:
            raise MySQLError(ErrorCode.UNKNOWN_SYSTEM_VARIABLE, f"Unknown system variable '{name}'")
        if value is None:
            value = session.backend.global_variables.get(name, DEFAULTS.get(name))
        if name in INTEGER_RANGES:
            value = _integer_variable(session, name, value)
        if name == "max_allowed_packet":
            raise MySQLError(
                ErrorCode.WRONG_VALUE_FOR_VAR,
                "SESSION variable 'max_allowed_packet' is read-only. Use SET GLOBAL to assign the value",
            )
        if name == "autocommit":
            session.set_autocommit(value)
        else:
            session.variables[name] = value
        if _GLOBAL.match(written) and name != "autocommit":
            session.backend.global_variables[name] = value
            session.backend.changed()
    return _OK


_GLOBAL = re.compile(r"^(?:@@)?(?:GLOBAL|PERSIST|PERSIST_ONLY)\b", _I)


def _integer_variable(session: SQLSession, name: str, value: Any) -> int:
    """An integer system variable's new value: the right type, clamped to its range (as MySQL);
    the p2pdb_* limits may not exceed the node's own."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise MySQLError(
                ErrorCode.WRONG_TYPE_FOR_VAR, f"Incorrect argument type to variable '{name}'"
            ) from None
    if isinstance(value, float) or not isinstance(value, int):
        raise MySQLError(ErrorCode.WRONG_TYPE_FOR_VAR, f"Incorrect argument type to variable '{name}'")
    low, high = INTEGER_RANGES[name]
    number = min(max(int(value), low), high)
    limits = session.backend.limits
    node = {"p2pdb_max_write_time": limits.max_write_time, "p2pdb_max_result_size": limits.max_result_size}
    ceiling = node.get(name)
    if ceiling and (number == 0 or number > ceiling):
        raise MySQLError(
            ErrorCode.WRONG_VALUE_FOR_VAR,
            f"Variable '{name}' can't be set to the value of '{number}' (this node allows at most {ceiling};"
            " see the node's configuration)",
        )
    return number


# -- USE and transactions -------------------------------------------------------------------------


def handle_use(session: SQLSession, lexed: Lexed, text: str) -> Result:
    match = re.match(r"^\s*USE\s+`?((?:[^`]|``)+?)`?\s*;?\s*$", text, _I)
    if match is None:
        raise MySQLError(ErrorCode.PARSE_ERROR, "USE needs a database name")
    session._use(match.group(1).replace("``", "`"))
    return _OK


def handle_begin(session: SQLSession, lexed: Lexed, text: str) -> Result:
    if lexed.kind == "BEGIN" or re.match(r"^\s*START\s+TRANSACTION\b", lexed.shape, _I):
        modes = lexed.shape.upper()
        session.begin(True if "READ ONLY" in modes else False if "READ WRITE" in modes else None)
        return _OK
    raise _unsupported(text)


def _restart_implicit(session: SQLSession) -> None:
    if not session.autocommit:
        from p2pdb.sql.session import Transaction

        session.txn = Transaction()


async def handle_commit(session: SQLSession, lexed: Lexed, text: str) -> Result:
    explicit = session.txn is not None and session.txn.explicit
    await session.commit_grouped()
    session.backend.counters["Com_commit"] += 1
    _restart_implicit(session)
    session.ended_transaction = explicit
    return _OK


def handle_rollback(session: SQLSession, lexed: Lexed, text: str) -> Result:
    if re.match(r"^\s*ROLLBACK\s+(WORK\s+)?TO\b", lexed.shape, _I):
        return _savepoint(session, lexed, text)
    explicit = session.txn is not None and session.txn.explicit
    session.rollback()
    _restart_implicit(session)
    session.ended_transaction = explicit
    return _OK


def _savepoint(session: SQLSession, lexed: Lexed, text: str) -> Result:
    if session.txn is None:
        if lexed.kind == "SAVEPOINT":
            return _OK
        raise MySQLError(1305, "SAVEPOINT does not exist")
    db = session._current_db()
    from p2pdb.sql.session import Recorded

    session.close_window()  # savepoints are replayed with the writes, in the order they came

    sql = re.sub(r"^\s*ROLLBACK\s+WORK\s+TO", "ROLLBACK TO", lexed.shape, flags=_I)
    plan = Plan(sql=CLIENT_MARK + sql, write=True, source=sql)
    txn = session.txn
    if txn.db is None:
        txn.db = db
    if txn.first_write is None:
        txn.first_write = len(txn.statements)
    txn.statements.append(Recorded(plan, {}, False))
    return _OK


# -- DDL --------------------------------------------------------------------------------------------


def _ddl_write(
    session: SQLSession, fn: Callable[[Any], None], *, allow_drop: bool = False, db: Database | None = None
) -> None:
    session.ensure_autocommit_boundary()

    def guarded(conn: Any) -> None:  # what a client's DDL touches is checked like its other SQL
        with session.guarded(conn):
            fn(conn)

    (db or session._current_db()).write(guarded, allow_drop=allow_drop)
    _restart_implicit(session)


def _named_db(session: SQLSession, name: str | None) -> Database:
    """The database a qualified table name names (``shop.t``), else the session's."""
    if name is None:
        return session._current_db()
    db = session.backend.registry.get(name)
    if db is None:
        raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{name}'")
    return db


def handle_create(session: SQLSession, lexed: Lexed, text: str) -> Result | Awaitable[Result]:
    shape = lexed.shape
    if views.is_view_statement(shape):
        return views.handle_view(session, lexed, text)
    if re.match(r"^\s*CREATE\s+(DATABASE|SCHEMA)\b", shape, _I):
        match = re.match(
            r"^\s*CREATE\s+(?:DATABASE|SCHEMA)\s+(IF\s+NOT\s+EXISTS\s+)?`?((?:[^`\s;]|``)+)`?", text, _I
        )
        if match is None:
            raise MySQLError(ErrorCode.PARSE_ERROR, "CREATE DATABASE needs a name")
        name = match.group(2).replace("``", "`")
        encryption = database_options.parse_options(text[match.end() :])
        if name in session.backend.registry:
            if match.group(1):
                return session.note(1007, f"Can't create database '{name}'; database exists")
            raise MySQLError(1007, f"Can't create database '{name}'; database exists")
        registry = session.backend.registry
        db = registry.create(name)
        db.genesis(registry.new_database_access)
        database_options.apply_encryption(db, encryption)
        return OkResult(affected_rows=1)
    if re.match(r"^\s*CREATE\s+(TEMPORARY\s+)?TABLE\b", shape, _I):
        if re.match(r"^\s*CREATE\s+TEMPORARY", shape, _I):
            return temporary.handle_create_temporary(session, lexed, text)
        routed = create_select.route(session, lexed, text)  # ... SELECT, ... LIKE
        if routed is not None:
            return routed
        plan = plan_create_table(text)
        db = _named_db(session, plan.database)
        if plan.name in db.catalog.tables:
            if plan.if_not_exists:
                return session.note(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{plan.name}' already exists")
            raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{plan.name}' already exists")

        fk_checks = bool(session.variables.get("foreign_key_checks", 1))
        for key, value in plan.meta.items():
            if key.startswith("fk:"):
                columns = [c.name for c in plan.columns]
                constraints.check_foreign_key(db, plan.name, key[3:], value, columns, fk_checks)

        def create(conn: Any) -> None:
            db.catalog.note_extras(plan.name, plan.extras)
            if plan.rule is not None:
                db.catalog.note_rule(plan.name, plan.rule)
            if plan.meta:
                db.catalog.note_meta(plan.name, plan.meta)
            for statement in plan.statements():
                conn.execute(statement)

        _ddl_write(session, create, db=db)
        if plan.engine is not None and plan.engine.lower() != "innodb":
            # MySQL's warning when it substitutes an engine: the table is stored like every other
            # (replicated, kept); p2pdb start --memory keeps whole databases in memory.
            return session.note(
                ErrorCode.WARN_USING_OTHER_HANDLER,
                f"Using storage engine InnoDB for table '{plan.name}'",
                "Warning",
            )
        return _OK
    match = re.match(
        r"^\s*CREATE\s+(UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+`?([\w$]+)`?\s+(?:USING\s+\w+\s+)?ON\s+`?([\w$]+)`?\s*\((.+)\)",
        shape,
        _I | re.S,
    )
    if match:
        if match.group(1) and match.group(1).strip().upper() == "SPATIAL":
            raise _unsupported(text)  # FULLTEXT: a plain index here (p2pdb.sql.fulltext)
        columns = [alter.index_column(c) for c in match.group(4).split(",")]
        spec = session._current_db().catalog.table(match.group(3))
        for column in columns:
            if spec is not None and spec.column(column) is None:
                raise MySQLError(1072, f"Key column '{column}' doesn't exist in table", "42000")
        unique = bool(match.group(1)) and match.group(1).strip().upper() == "UNIQUE"
        statement = index_sql(match.group(3), match.group(2), columns, unique)
        _ddl_write(session, lambda conn: conn.execute(statement))
        return _OK
    raise _unsupported(text)


def handle_drop(session: SQLSession, lexed: Lexed, text: str) -> Result:
    shape = lexed.shape
    if re.match(r"^\s*DROP\s+VIEW\b", shape, _I):
        return views.handle_drop_view(session, lexed, text)
    match = re.match(r"^\s*DROP\s+(?:DATABASE|SCHEMA)\s+(IF\s+EXISTS\s+)?`?((?:[^`\s;]|``)+)`?", text, _I)
    if match:
        name = match.group(2).replace("``", "`")
        if name not in session.backend.registry:
            if match.group(1):
                return session.note(1008, f"Can't drop database '{name}'; database doesn't exist")
            raise MySQLError(1008, f"Can't drop database '{name}'; database doesn't exist")
        session.backend.registry.drop(name)
        session.backend.pool.forget(lambda kept: session.backend.registry.get(kept.name) is kept)
        if session.database == name:
            session.database = None
        return _OK
    match = re.match(
        r"^\s*DROP\s+(TEMPORARY\s+)?TABLES?\s+(IF\s+EXISTS\s+)?(.+?)\s*(RESTRICT|CASCADE)?\s*$",
        shape,
        _I | re.S,
    )
    if match:
        refs = [[p.strip().strip("`") for p in n.strip().split(".")] for n in match.group(3).split(",")]
        databases = {ref[0] if len(ref) > 1 else session.database for ref in refs}
        if len(databases) > 1:
            raise _unsupported(text)  # tables of several databases in one DROP TABLE
        db = _named_db(session, databases.pop())
        names = [ref[-1] for ref in refs]
        names = temporary.drop_temporary(session, db.name, names)  # a session's own come first
        if not names:
            return _OK
        if match.group(1):  # DROP TEMPORARY TABLE names only temporary tables
            raise MySQLError(ErrorCode.BAD_TABLE_ERROR, f"Unknown table '{db.name}.{names[0]}'")
        missing = [n for n in names if n not in db.catalog.tables]
        if missing and not match.group(2):
            raise MySQLError(ErrorCode.BAD_TABLE_ERROR, f"Unknown table '{db.name}.{missing[0]}'")
        present = [n for n in names if n in db.catalog.tables]
        if session.variables.get("foreign_key_checks", 1):
            _refuse_referenced(db, present)
        if present:
            allow = bool(session.variables.get("p2pdb_replicate_drop", 1))
            if not allow:
                raise MySQLError(
                    ErrorCode.NOT_SUPPORTED_YET, "DROP TABLE is disabled (SET p2pdb_replicate_drop = 1)"
                )

            def drop(conn: Any) -> None:
                for name in present:
                    conn.execute(f"DROP TABLE {quote(name)}")

            _ddl_write(session, drop, allow_drop=True, db=db)
        for name in missing:
            session.note(ErrorCode.BAD_TABLE_ERROR, f"Unknown table '{db.name}.{name}'")
        return OkResult(warnings=len(session.warnings)) if missing else _OK
    match = re.match(r"^\s*DROP\s+INDEX\s+`?([\w$]+)`?\s+ON\s+`?([\w$]+)`?", shape, _I)
    if match:
        statement = f"DROP INDEX {quote(sqlite_index_name(match.group(2), match.group(1)))}"
        _ddl_write(session, lambda conn: conn.execute(statement))
        return _OK
    raise _unsupported(text)


def _refuse_referenced(db: Any, dropped: list[str]) -> None:
    """MySQL 8's 3730: a table a foreign key of another table (not dropped with it) references."""
    gone = {ident(n) for n in dropped}
    for spec in db.catalog.tables.values():
        if spec.ident in gone:
            continue
        for key, value in spec.meta.items():
            if key.startswith("fk:") and isinstance(value, dict) and ident(str(value.get("rt", ""))) in gone:
                raise MySQLError(
                    3730,
                    f"Cannot drop table '{value['rt']}' referenced by a foreign key constraint '{key[3:]}'"
                    f" on table '{spec.name}'.",
                    "HY000",
                )


_KEYS_SWITCH = re.compile(r"^\s*ALTER\s+TABLE\s+[`\w$.]+\s+(?:DISABLE|ENABLE)\s+KEYS\s*$", _I)


def handle_alter(session: SQLSession, lexed: Lexed, text: str) -> Result:
    if _KEYS_SWITCH.match(lexed.shape):  # /*!40000 ... */ of dumps: indexes are always kept
        return _OK
    if views.is_view_statement(lexed.shape):
        return views.handle_view(session, lexed, text)
    if re.match(r"^\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\b", lexed.shape, _I):
        return alter.handle_alter_table(session, lexed, text)
    if re.match(r"^\s*ALTER\s+(?:DATABASE|SCHEMA)\b", lexed.shape, _I):
        return database_options.alter_database(session, text)
    raise _unsupported(text)


def handle_truncate(session: SQLSession, lexed: Lexed, text: str) -> Result:
    match = re.match(r"^\s*TRUNCATE\s+(?:TABLE\s+)?`?([\w$]+)`?", lexed.shape, _I)
    if match is None:
        raise _unsupported(text)
    db = session._current_db()
    table = match.group(1)
    if table not in db.catalog.tables:
        raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db.name}.{table}' doesn't exist")
    spec = db.catalog.table(table)
    started = spec is not None and "ai" in spec.meta

    def truncate(conn: Any) -> None:
        conn.execute(f"DELETE FROM {quote(table)}")
        if started:  # MySQL's TRUNCATE numbers from 1 again, also past an AUTO_INCREMENT = n
            db.catalog.note_change("table_meta", table, ("ai", None), None)

    _ddl_write(session, truncate)
    db.restart_auto_ids(table)
    return _OK


# -- catalog and the rest ---------------------------------------------------------------------------


async def handle_show(session: SQLSession, lexed: Lexed, text: str) -> Result:
    upper = lexed.shape.upper()
    if _EXPLAIN_QUERY.match(lexed.shape):
        return _explain(session, lexed, text)
    session.refresh_auto_vars()
    variables = dict(session.variables)
    variables["warning_count"] = len(session.warnings)
    return catalog.show(
        text,
        current_db=session.database,
        source=session.backend,
        variables=variables,
        status=session.backend.status(),
        warnings=session.warnings,
        processlist=await session.backend.processlist_everywhere() if "PROCESSLIST" in upper else (),
        user=session.user,
        host=session.info.peer_host,
    )


def _explain(session: SQLSession, lexed: Lexed, text: str) -> Result:
    inner = re.sub(
        r"^\s*(EXPLAIN|DESCRIBE|DESC)\s+(FORMAT\s*=\s*\w+\s+|ANALYZE\s+|EXTENDED\s+)?", "", text, flags=_I
    )
    inner_lexed = lex(inner)
    db = session._current_db()
    plan = session.backend.plan(db, inner_lexed)
    explain = Plan(sql="EXPLAIN QUERY PLAN " + plan.sql, write=False, source=plan.source)
    with session.guarded(db.conn):
        cursor = db.conn.cursor()
        session._execute(cursor, explain, session.bindings(inner_lexed, plan))
        steps = [str(row[3]) for row in cursor.fetchall()]
    return ResultSet(_EXPLAIN_COLUMNS, explain_rows(steps))


_EXPLAIN_QUERY = re.compile(
    r"^\s*(?:EXPLAIN|DESCRIBE|DESC)\s+(?:FORMAT\s*=\s*\w+\s+|ANALYZE\s+|EXTENDED\s+)?"
    r"(?:SELECT|INSERT|UPDATE|DELETE|REPLACE|WITH|TABLE|\()",
    _I,
)
_EXPLAIN_COLUMNS = [
    Column("id", 8),
    Column("select_type"),
    Column("table"),
    Column("partitions"),
    Column("type"),
    Column("possible_keys"),
    Column("key"),
    Column("key_len"),
    Column("ref"),
    Column("rows", 8),
    Column("filtered", 5),
    Column("Extra"),
]
_STEP = re.compile(
    r"^(SCAN|SEARCH)\s+(\S+)(?:\s+AS\s+\S+)?(?:\s+USING\s+(?:(COVERING\s+)?INDEX\s+(\S+)|(INTEGER\s+)?PRIMARY\s+KEY)"
    r"\s*(?:\((.*)\))?)?",
    _I,
)


def explain_rows(steps: list[str]) -> list[tuple[Any, ...]]:
    """MySQL's EXPLAIN rows (the traditional format) read from SQLite's query plan: one row per table
    scanned or searched; sorts and temporary tables in Extra. ``rows`` is not estimated (NULL)."""
    rows: list[list[Any]] = []
    for step in steps:
        match = _STEP.match(step)
        if match is None:
            if rows and ("TEMP B-TREE" in step or "USE TEMP" in step):
                note = "Using temporary; Using filesort" if "ORDER BY" in step else "Using temporary"
                rows[-1][11] = f"{rows[-1][11]}; {note}" if rows[-1][11] else note
            continue
        scan, table, covering, index, _integer, condition = match.groups()
        index_name = mysql_index_name(table, index.strip('"')) if index else None
        key: str | None
        extra: str | None
        if scan.upper() == "SCAN":
            kind, key = ("index" if index else "ALL"), index_name
            extra = "Using index" if covering else None
        else:
            key = "PRIMARY" if index is None else index_name
            exact = condition is not None and all(
                part.strip().endswith("=?") for part in condition.split(" AND ")
            )
            unique = "eq_ref" if rows else "const"
            kind = (unique if key == "PRIMARY" else "ref") if exact else "range"
            extra = "Using index" if covering else "Using where"
        rows.append([1, "SIMPLE", table, None, kind, key, key, None, None, None, 100.0, extra])
    return [tuple(r) for r in rows]


def handle_ok(session: SQLSession, lexed: Lexed, text: str) -> Result:
    return _OK


def handle_table_maintenance(session: SQLSession, lexed: Lexed, text: str) -> Result:
    match = re.match(
        r"^\s*(ANALYZE|OPTIMIZE|CHECK|REPAIR)\s+(?:NO_WRITE_TO_BINLOG\s+|LOCAL\s+)?TABLES?\s+(.+)$",
        lexed.shape,
        _I,
    )
    if match is None:
        raise _unsupported(text)
    op = match.group(1).lower()
    names = [n.strip().strip("`") for n in match.group(2).split(",")]
    db = session._current_db()
    rows = [
        (f"{db.name}.{n}", op, "status", "OK" if n in db.catalog.tables else "Table doesn't exist")
        for n in names
    ]
    return ResultSet([Column("Table"), Column("Op"), Column("Msg_type"), Column("Msg_text")], rows)


_KILL = re.compile(r"^\s*KILL\s+(?:(CONNECTION|QUERY)\s+)?(\d+)\s*;?\s*$", _I)


def handle_kill(session: SQLSession, lexed: Lexed, text: str) -> Result | Awaitable[Result]:
    """``KILL [CONNECTION | QUERY] id``: stop a session's statement, or close its connection too.
    Anyone may stop their own sessions; root anyone's."""
    match = _KILL.match(text)
    if match is None:
        raise MySQLError(
            ErrorCode.PARSE_ERROR,
            "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
            f" version for the right syntax to use near '{text.strip()[:64]}' at line 1",
        )
    number = int(match.group(2))
    query = (match.group(1) or "CONNECTION").upper() == "QUERY"
    target = session.backend.sessions.get(number)
    if target is None:
        readers = session.backend.readers
        if readers is not None:  # a session of a reader process (:mod:`p2pdb.sql.serving`)
            return _kill_elsewhere(readers, session.user, number, query)
        raise MySQLError(ErrorCode.NO_SUCH_THREAD, f"Unknown thread id: {number}")
    if session.user != "root" and target.user != session.user:
        raise MySQLError(ErrorCode.KILL_DENIED, f"You are not owner of thread {number}")
    if query:
        if target is session:
            raise MySQLError(ErrorCode.QUERY_INTERRUPTED, "Query execution was interrupted")
        target.kill_query()
    else:
        target.kill_connection()
    return _OK


async def _kill_elsewhere(readers: OtherProcesses, user: str, number: int, query: bool) -> Result:
    answer = await readers.kill(number, query=query, user=user)
    if not answer.get("found"):
        raise MySQLError(ErrorCode.NO_SUCH_THREAD, f"Unknown thread id: {number}")
    if answer.get("denied"):
        raise MySQLError(ErrorCode.KILL_DENIED, f"You are not owner of thread {number}")
    return _OK


async def handle_do(session: SQLSession, lexed: Lexed, text: str) -> Result:
    body = re.sub(r"^\s*DO\s+", "", lexed.shape, flags=_I)
    await _evaluate(session, lexed, body)
    return _OK


HANDLERS: dict[str, Handler] = {
    "SET": handle_set,
    "USE": handle_use,
    "BEGIN": handle_begin,
    "START": handle_begin,
    "COMMIT": handle_commit,
    "ROLLBACK": handle_rollback,
    "SAVEPOINT": _savepoint,
    "RELEASE": _savepoint,
    "CREATE": handle_create,
    "DROP": handle_drop,
    "ALTER": handle_alter,
    "TRUNCATE": handle_truncate,
    "RENAME": alter.handle_rename,
    "SHOW": handle_show,
    "DESCRIBE": handle_show,
    "DESC": handle_show,
    "EXPLAIN": handle_show,
    "LOCK": handle_ok,
    "UNLOCK": handle_ok,
    "FLUSH": handle_ok,
    "ANALYZE": handle_table_maintenance,
    "OPTIMIZE": handle_table_maintenance,
    "CHECK": handle_table_maintenance,
    "REPAIR": handle_table_maintenance,
    "DO": handle_do,
    "KILL": handle_kill,
    "LOAD": load_data.handle_load_data,
}
