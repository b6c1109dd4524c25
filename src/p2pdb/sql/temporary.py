"""CREATE TEMPORARY TABLE: a table of one session, never replicated.

A temporary table lives in SQLite's ``temp`` schema of the database's writer connection under a name of
the session's own (``p2pdb_tmp<connection id>_<name>``), so no other session sees it and the store's
change capture (which records the ``main`` schema only) never turns its rows into log entries. The
session's statements name it as the client wrote it: a reference after FROM, JOIN, INTO, UPDATE or
TABLE is rewritten to ``temp."p2pdb_tmp..." AS name`` before planning, so it shadows a real table of the
same name for that session, as in MySQL. Statements that use one run on the writer connection (never
a reader thread). ``DROP [TEMPORARY] TABLE`` drops it first; the session's temporary tables are
dropped when it disconnects.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

from p2pdb.schema import ident
from p2pdb.sql.alter import name_of
from p2pdb.sql.ddl import plan_create_table
from p2pdb.sql.lexer import Lexed
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import OkResult, Result
from p2pdb.store.schema import quote

if TYPE_CHECKING:
    from p2pdb.sql.session import SQLSession
    from p2pdb.store import Database

_I = re.IGNORECASE | re.S
_NAME = r"(`(?:[^`]|``)+`|[A-Za-z_$][\w$]*)"
_REFERENCE = re.compile(rf"\b(FROM|JOIN|INTO|UPDATE|TABLE)(\s+){_NAME}(?!\s*\.)", _I)


_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_NOT_ALIAS = frozenset(
    [
        "WHERE",
        "JOIN",
        "ON",
        "SET",
        "ORDER",
        "GROUP",
        "LIMIT",
        "LEFT",
        "RIGHT",
        "INNER",
        "CROSS",
        "NATURAL",
        "USING",
        "HAVING",
        "WINDOW",
        "UNION",
        "VALUES",
        "VALUE",
        "SELECT",
        "FOR",
        "LOCK",
        "STRAIGHT_JOIN",
        "FULL",
        "OUTER",
        "EXCEPT",
        "INTERSECT",
        "PARTITION",
        "USE",
        "IGNORE",
        "FORCE",
        "RETURNING",
        "DEFAULT",
    ]
)


class TempTables:
    """The temporary tables of one session: (database name, name identity) -> physical name."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.tables: dict[tuple[str, str], str] = {}

    def physical(self, database: str, name: str) -> str | None:
        return self.tables.get((database, ident(name)))

    def of(self, database: str) -> dict[str, str]:
        return {name: phys for (db, name), phys in self.tables.items() if db == database}

    def rewrite(self, lexed: Lexed, database: str) -> Lexed | None:
        """``lexed`` with references to this session's temporary tables rewritten (None: none)."""
        names = self.of(database)
        if not names:
            return None
        hit = False

        def swap(match: re.Match[str]) -> str:
            nonlocal hit
            name = name_of(match.group(3))
            phys = names.get(ident(name))
            keyword = match.group(1)
            after = match.string[match.end() :].lstrip()
            if phys is None or (after.startswith("(") and keyword.upper() != "INTO"):
                return match.group(0)  # not one of ours, or a function (FROM json_table(...))
            hit = True
            alias = "`" + name.replace("`", "``") + "`"
            word = _WORD.match(after)
            aliased = after.startswith("`") or (word is not None and word.group(0).upper() not in _NOT_ALIAS)
            # INSERT INTO t (...) takes no alias before its column list in MySQL's grammar.
            plain = keyword.upper() == "INTO" or aliased
            target = f"temp.`{phys}`" if plain else f"temp.`{phys}` AS {alias}"
            return f"{keyword}{match.group(2)}{target}"

        shape = _REFERENCE.sub(swap, lexed.shape)
        if not hit:
            return None
        return Lexed(shape, lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars)

    def drop_all(self, registry: Any) -> None:
        for (database, _), phys in list(self.tables.items()):
            db = registry.get(database)
            if db is not None:
                # a busy or closed connection: the table goes with the connection
                with contextlib.suppress(Exception):
                    db.conn.execute(f"DROP TABLE IF EXISTS temp.{quote(phys)}")
        self.tables.clear()


def temp_tables(session: SQLSession) -> TempTables:
    found = getattr(session, "_temp_tables", None)
    if found is None:
        found = TempTables(session.info.connection_id)
        session._temp_tables = found  # type: ignore[attr-defined]
    return found


def handle_create_temporary(session: SQLSession, lexed: Lexed, text: str) -> Result:
    plain = re.sub(r"^\s*CREATE\s+TEMPORARY\s+TABLE", "CREATE TABLE", text, count=1, flags=_I)
    if re.search(r"\bLIKE\b|\bSELECT\b", plain[: plain.find("(")] if "(" in plain else plain, _I):
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET,
            "This version of P2PDB doesn't yet support 'CREATE TEMPORARY TABLE ... LIKE/SELECT'",
        )
    plan = plan_create_table(plain)
    found = session._current_db() if plan.database is None else session.backend.registry.get(plan.database)
    if found is None:
        raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{plan.database}'")
    db: Database = found
    tables = temp_tables(session)
    if tables.physical(db.name, plan.name) is not None:
        if plan.if_not_exists:
            return OkResult(warnings=1)
        raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{plan.name}' already exists")
    phys = f"p2pdb_tmp{tables.connection_id}_{plan.name}"
    name = plan.name
    plan.name = phys
    statements = plan.statements()
    statements[0] = re.sub(r"^CREATE TABLE( IF NOT EXISTS)?", "CREATE TEMP TABLE", statements[0])
    for i, statement in enumerate(statements[1:], 1):  # indexes: in the temp schema too
        statements[i] = re.sub(r'^(CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?)"', r'\1temp."', statement)
    with db.conn:
        for statement in statements:
            db.conn.execute(statement)
    tables.tables[(db.name, ident(name))] = phys
    return OkResult()


def drop_temporary(session: SQLSession, database: str, names: list[str]) -> list[str]:
    """Drop the session's temporary tables among ``names``; return the names left."""
    tables = temp_tables(session)
    left = []
    db = session.backend.registry.get(database)
    for name in names:
        phys = tables.physical(database, name)
        if phys is None or db is None:
            left.append(name)
            continue
        db.conn.execute(f"DROP TABLE IF EXISTS temp.{quote(phys)}")
        del tables.tables[(database, ident(name))]
    return left
