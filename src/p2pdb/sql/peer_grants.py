"""GRANT, REVOKE and SHOW GRANTS for peers: the access rules replicated in a database's log.

A grantee written as a quoted peer id, with no ``@host`` (``TO '12D3KooW…'``), or as ``'*'``
(anyone), is a *peer*: the statement changes who may write the database on every replica
(docs/security.md), not who may log in to this node (MySQL accounts, :mod:`.account_statements`).

    GRANT INSERT, UPDATE (price), DELETE ON shop.items TO '12D3KooW…'
    REVOKE UPDATE (price) ON shop.items FROM '12D3KooW…'
    GRANT ALL ON shop.* TO '*'              -- open the database to anyone
    SHOW GRANTS FOR '12D3KooW…'

The session's account needs GRANT OPTION on the database (as for an account), and this node must be
an owner of the database (1227 otherwise): the entry is signed by this node's key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from p2pdb.acl import ANYONE, PRIVILEGES, Acl, AclOp
from p2pdb.acl._events import COLUMN_PRIVILEGES
from p2pdb.log.identity import peer_id, public_key_from_peer_id
from p2pdb.schema import ident
from p2pdb.sql.account_statements import Reader, _may_grant, tokenize
from p2pdb.sql.errors_map import to_mysql
from p2pdb.sql.protocol.constants import FieldType
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column, OkResult, Result, ResultSet

if TYPE_CHECKING:
    from p2pdb.sql.session import SQLSession
    from p2pdb.store import Database

Principal = bytes | str
_MARKERS = {"GRANT": "TO", "REVOKE": "FROM", "SHOW": "FOR"}


def peer_of(text: str) -> Principal | None:
    """The peer a quoted grantee names (a key, or ``"*"``), None for anything else."""
    if text == ANYONE:
        return ANYONE
    if not text.startswith(("12D3KooW", "12D3koow")):
        return None
    try:
        return public_key_from_peer_id(text)
    except ValueError:
        return None


def is_peer_statement(text: str) -> bool:
    """Does this GRANT / REVOKE / SHOW GRANTS name a peer (not a MySQL account)?"""
    tokens = tokenize(text)
    if not tokens:
        return False
    marker = _MARKERS.get(tokens[0].upper)
    if marker is None:
        return False
    for i, tok in enumerate(tokens):
        if tok.upper == marker and i + 1 < len(tokens):
            target = tokens[i + 1]
            after = tokens[i + 2] if i + 2 < len(tokens) else None
            if target.kind == "str" and peer_of(target.text) is not None:
                return after is None or not (after.kind == "sym" and after.text == "@")
    return False


def show_name(who: Principal) -> str:
    return f"'{peer_id(who)}'" if isinstance(who, bytes) else "'*'"


def _privileges(reader: Reader) -> list[tuple[str, tuple[str, ...]]]:
    """``INSERT, UPDATE (a, b), ALL [PRIVILEGES]`` -> [(privilege, columns)]."""
    found: list[tuple[str, tuple[str, ...]]] = []
    while True:
        words: list[str] = []
        while (tok := reader.peek()) is not None and tok.kind == "word" and tok.upper != "ON":
            words.append(tok.upper)
            reader.i += 1
        name = " ".join(words)
        columns: list[str] = []
        if reader.accept_sym("("):
            columns.append(ident(reader.value()))
            while reader.accept_sym(","):
                columns.append(ident(reader.value()))
            if not reader.accept_sym(")"):
                raise reader.error()
        if name in ("ALL", "ALL PRIVILEGES") and not columns:
            found.extend((p, ()) for p in PRIVILEGES)
        elif name in PRIVILEGES:
            if columns and name not in COLUMN_PRIVILEGES:
                raise MySQLError(1221, "Incorrect usage of COLUMN GRANT and NON-COLUMN PRIVILEGES", "HY000")
            found.append((name, tuple(sorted(set(columns)))))
        elif name:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                f"This version of P2PDB doesn't yet support '{name} for a peer'"
                f" (peers can be granted {', '.join(PRIVILEGES)})",
            )
        else:
            raise reader.error()
        if not reader.accept_sym(","):
            return found


def _level(reader: Reader, session: SQLSession) -> tuple[str, str | None]:
    reader.accept("TABLE")
    first = reader.value()
    parts = first.split(".", 1) if "." in first else [first]
    if len(parts) == 1 and reader.accept_sym("."):
        parts.append(reader.value())
    if len(parts) == 1:
        if session.database is None:
            raise MySQLError(ErrorCode.NO_DB_ERROR, "No database selected")
        parts = [session.database, parts[0]]
    db, table = parts
    if db == "*":
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET,
            "This version of P2PDB doesn't yet support 'global privileges for a peer'"
            " (each database has its own access rules: ON db.* or ON db.table)",
        )
    return db, None if table == "*" else table


def _database(session: SQLSession, name: str) -> Database:
    db = session.backend.registry.get(name)
    if db is None:
        raise MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{name}'")
    return db


def _ops(
    kind: str, to: Principal, privileges: list[tuple[str, tuple[str, ...]]], table: str | None
) -> list[AclOp]:
    by_columns: dict[tuple[str, ...], set[str]] = {}
    for privilege, columns in privileges:
        by_columns.setdefault(columns, set()).add(privilege)
    return [
        AclOp(kind, to=to, privileges=tuple(sorted(names)), table=table, columns=columns)
        for columns, names in sorted(by_columns.items())
    ]


def grant_or_revoke(session: SQLSession, text: str) -> Result:
    reader = Reader(text)
    kind = "grant" if reader.expect("GRANT", "REVOKE") == "GRANT" else "revoke"
    privileges = _privileges(reader)
    reader.expect("ON")
    db_name, table_name = _level(reader, session)
    reader.expect("TO" if kind == "grant" else "FROM")
    grantees = [reader.string()]
    while reader.accept_sym(","):
        grantees.append(reader.string())
    reader.end()
    _may_grant(session, {p for p, _ in privileges}, db_name, table_name)
    db = _database(session, db_name)
    table: str | None = None
    if table_name is not None:
        spec = db.catalog.table(table_name)
        if spec is None:
            raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db_name}.{table_name}' doesn't exist")
        table = ident(table_name)
        known = {ident(c.name) for c in spec.columns}
        for _, columns in privileges:
            for column in columns:
                if column not in known:
                    raise MySQLError(
                        ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{column}' in '{table_name}'"
                    )
    elif any(columns for _, columns in privileges):
        raise MySQLError(1221, "Incorrect usage of COLUMN GRANT and NON-COLUMN PRIVILEGES", "HY000")
    ops: list[AclOp] = []
    for grantee in grantees:
        who = peer_of(grantee)
        if who is None:
            raise MySQLError(1410, f"'{grantee}' is not a peer id (12D3KooW...) or '*'", "42000")
        ops.extend(_ops(kind, who, privileges, table))
    try:
        db.change_access(ops)
    except Exception as exc:
        raise to_mysql(exc, db_name) from exc
    return OkResult()


def grant_lines(who: Principal, name: str, acl: Acl) -> list[str]:
    """SHOW GRANTS lines of ``who`` in one database, MySQL's form."""
    shown = show_name(who)
    if isinstance(who, bytes) and acl.is_owner(who):
        return [f"GRANT ALL PRIVILEGES ON `{name}`.* TO {shown} WITH GRANT OPTION"]
    levels: dict[str | None, list[str]] = {}
    columns: dict[tuple[str, str], list[str]] = {}
    for g in acl.grants():
        if g.to != who:
            continue
        if g.column is not None and g.table is not None:
            columns.setdefault((g.table, g.privilege), []).append(g.column)
        else:
            levels.setdefault(g.table, []).append(g.privilege)
    lines: list[str] = []
    for table in sorted(set(levels) | {t for t, _ in columns}, key=lambda t: (t is not None, t or "")):
        parts = list(levels.get(table, []))
        if table is None and set(parts) >= set(PRIVILEGES):
            parts = ["ALL PRIVILEGES"]
        parts += [
            f"{p} ({', '.join(f'`{c}`' for c in sorted(cols))})"
            for (t, p), cols in sorted(columns.items())
            if t == table
        ]
        where = f"`{name}`.*" if table is None else f"`{name}`.`{table}`"
        lines.append(f"GRANT {', '.join(parts)} ON {where} TO {shown}")
    return lines


def show_grants(session: SQLSession, text: str) -> Result:
    reader = Reader(text)
    reader.expect("SHOW")
    reader.expect("GRANTS")
    reader.expect("FOR")
    grantee = reader.string()
    reader.end()
    who = peer_of(grantee)
    assert who is not None
    registry = session.backend.registry
    lines = [f"GRANT USAGE ON *.* TO {show_name(who)}"]
    for name in sorted(registry.names()):
        db = registry.get(name)
        if db is not None:
            lines += grant_lines(who, name, db.access.current())
    column = Column(f"Grants for {grantee}", FieldType.VAR_STRING, length=1024)
    return ResultSet([column], [[line] for line in lines])


def handle_peer_statement(session: SQLSession, text: str) -> Result:
    if text.lstrip()[:4].upper() == "SHOW":
        return show_grants(session, text)
    return grant_or_revoke(session, text)


def privilege_rows(session: SQLSession) -> list[tuple[str, str | None, str | None, str | None, str, bool]]:
    """(grantee, schema, table, column, privilege, grantable) of every peer in every database,
    owners included, for information_schema."""
    rows: list[tuple[str, str | None, str | None, str | None, str, bool]] = []
    registry = session.backend.registry
    for name in sorted(registry.names()):
        db = registry.get(name)
        acl = db.access.current() if db is not None else None
        if acl is None or not acl.controlled:
            continue
        for owner in sorted(acl.owners):
            rows.extend((show_name(owner), name, None, None, p, True) for p in PRIVILEGES)
        for g in acl.grants():
            rows.append((show_name(g.to), name, g.table, g.column, g.privilege, False))
    return rows
