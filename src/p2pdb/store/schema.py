"""Reading the physical SQLite schema of a database, for the local schema diff.

The replicated definitions (:class:`TableSpec`, :class:`Column`, :class:`IndexSpec`) live in
:mod:`p2pdb.schema`; this module reads what SQLite has after a local transaction and refuses what a
replicated definition cannot carry (CHECK, REFERENCES, COLLATE, generated columns, inline UNIQUE, WITHOUT
ROWID, STRICT tables, types outside the closed grammar): such a table would behave differently on the
replicas that re-create it from its definition. The one collation accepted is ``P2PDB_CI``, which
the column definitions themselves decide (:func:`p2pdb.schema.column_collation`).
"""

from __future__ import annotations

import re
from typing import Any

import apsw

from p2pdb.schema import (
    CI_COLLATION,
    INTERNAL_PREFIX,
    Column,
    IndexSpec,
    SchemaError,
    TableSpec,
    ident,
    is_internal,
    normalize_sqlite_type,
    quote,
)
from p2pdb.store.errors import UnsupportedChange

__all__ = [
    "INTERNAL_PREFIX",
    "Column",
    "IndexSpec",
    "TableSpec",
    "ident",
    "is_internal",
    "quote",
    "read_indexes",
    "read_table",
    "table_sql",
    "user_tables",
]

_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\]")
_UNREPLICABLE = re.compile(
    r"\b(CHECK|REFERENCES|COLLATE|GENERATED|AS|AUTOINCREMENT|STRICT|WITHOUT|UNIQUE|CONSTRAINT|ON\s+CONFLICT"
    r"|DESC|ASC)\b",
    re.IGNORECASE,
)
_OWN_COLLATION = re.compile(rf"\bCOLLATE\s+(?:{CI_COLLATION}|\"{CI_COLLATION}\")(?![\w$])", re.IGNORECASE)
_PHYSICAL_COLLATIONS = frozenset(("BINARY", CI_COLLATION))


def table_sql(conn: apsw.Connection, name: str) -> str:
    for (sql,) in conn.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)):
        return str(sql or "")
    return ""


_CALL_DEFAULT = re.compile(r"^(uuid|rand|json_array|json_object)\(\)$", re.IGNORECASE)


def read_table(conn: apsw.Connection, name: str, rule: dict[str, Any] | None = None) -> TableSpec:
    """The spec of a user table as SQLite has it now; :class:`UnsupportedChange` if it has features a
    replicated definition cannot carry."""
    found = _OWN_COLLATION.sub(" ", _LITERALS.sub(" ", table_sql(conn, name)))
    match = _UNREPLICABLE.search(found[found.find("(") :])  # after CREATE TABLE <name>
    if match is not None:
        raise UnsupportedChange(
            f"table {name!r} uses {match.group(1).upper()}, which P2PDB cannot replicate"
            " (declare unique keys as indexes; checks, foreign keys and collations are not replicated)"
        )
    columns: list[Column] = []
    pk: list[tuple[int, str]] = []
    for _cid, cname, ctype, notnull, dflt, pk_pos, hidden in conn.execute(
        f"PRAGMA table_xinfo({quote(name)})"
    ):
        if hidden:
            raise UnsupportedChange(f"generated column {cname!r} of {name!r} cannot be replicated")
        declared = normalize_sqlite_type(ctype or "")
        if declared is None:
            raise UnsupportedChange(f"column {name}.{cname} has type {ctype!r}, which P2PDB cannot replicate")
        if isinstance(dflt, str) and _CALL_DEFAULT.match(dflt):
            dflt = f"({dflt})"  # SQLite shows DEFAULT (uuid()) without its parentheses
        if str(conn.column_metadata("main", name, cname)[1]).upper() not in _PHYSICAL_COLLATIONS:
            raise UnsupportedChange(f"column {name}.{cname} has a collation P2PDB cannot replicate")
        columns.append(Column(cname, declared, bool(notnull), dflt))
        if pk_pos:
            pk.append((pk_pos, cname))
    keys = tuple(c for _, c in sorted(pk))
    try:
        return TableSpec.build(name, tuple(columns), keys, rule or {"rule": "lww"})
    except SchemaError as exc:
        raise UnsupportedChange(str(exc)) from exc


def read_indexes(conn: apsw.Connection, table: str) -> list[IndexSpec]:
    """Explicitly created indexes of a table (not the automatic ones behind constraints)."""
    specs = []
    for _seq, iname, unique, origin, partial in conn.execute(f"PRAGMA index_list({quote(table)})"):
        if origin == "pk" or is_internal(iname):
            continue
        if origin != "c":
            raise UnsupportedChange(f"constraint index {iname!r} of {table!r} cannot be replicated")
        if partial:
            raise UnsupportedChange(f"partial index {iname!r} cannot be replicated")
        cols = [c for _, _, c in conn.execute(f"PRAGMA index_info({quote(iname)})")]
        if any(c is None for c in cols):
            raise UnsupportedChange(f"index {iname!r} on expressions cannot be replicated")
        keyed = [r for r in conn.execute(f"PRAGMA index_xinfo({quote(iname)})") if r[5]]
        # An index compares as its columns do (P2PDB_CI or BINARY); another collation is its own.
        inherited = [str(conn.column_metadata("main", table, c)[1]).upper() for c in cols]
        collations = [str(r[4]).upper() for r in keyed]
        descending = [r[3] for r in keyed]
        if collations != inherited or any(descending):
            raise UnsupportedChange(f"index {iname!r}: collations and DESC keys cannot be replicated")
        specs.append(IndexSpec(iname, table, tuple(cols), bool(unique)))
    return specs


def user_tables(conn: apsw.Connection) -> list[str]:
    """Names of user tables (internal and SQLite tables excluded), sorted."""
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows if not is_internal(name)]


def same_name(a: str, b: str) -> bool:
    return ident(a) == ident(b)
