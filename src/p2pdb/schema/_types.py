"""The closed grammar of column types that a replicated schema may carry.

A peer's schema change is data, never SQL text: every type it names must parse here, or the entry is
rejected. Two type strings travel with a column:

- the SQLite declared type, which decides storage affinity: one of ``INTEGER``, ``REAL``, ``NUMERIC``,
  ``TEXT``, ``BLOB``, ``CHAR(n)``, ``VARCHAR(n)``, or empty (no type);
- the MySQL type as written (the ``mt`` extra, shown by ``SHOW CREATE TABLE`` and used for result
  metadata): a known MySQL type name, optional arguments (lengths, or the quoted values of ENUM/SET),
  optional ``unsigned``.

Nothing else is accepted: no ``COLLATE``, ``REFERENCES``, ``GENERATED``, ``PRIMARY KEY``, ``UNIQUE`` or
comments hidden inside a type.
"""

from __future__ import annotations

import re

from ._errors import SchemaError

SQLITE_TYPES = frozenset(("INTEGER", "REAL", "NUMERIC", "TEXT", "BLOB", ""))
_SQLITE_SIZED = re.compile(r"^(VAR)?CHAR\(([1-9][0-9]{0,4})\)$")
MAX_CHAR_LENGTH = 65535

MYSQL_TYPE_NAMES = frozenset(
    (
        "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "boolean", "bool", "serial", "bit",
        "decimal", "numeric", "dec", "fixed", "float", "double", "real",
        "date", "datetime", "timestamp", "time", "year",
        "char", "varchar", "binary", "varbinary", "tinytext", "text", "mediumtext", "longtext",
        "tinyblob", "blob", "mediumblob", "longblob", "enum", "set", "json",
        "geometry", "point", "linestring", "polygon", "uuid", "inet4", "inet6",
    )
)  # fmt: skip
_MYSQL_TYPE = re.compile(
    r"^(?P<name>[a-z0-9]+)"
    r"(?:\((?P<args>[0-9]{1,5}(?:, ?[0-9]{1,3})?|(?:'(?:[^'\\]|''|\\.)*'(?:, ?'(?:[^'\\]|''|\\.)*')*))\))?"
    r"(?P<unsigned> unsigned)?(?P<zerofill> zerofill)?$",
    re.S,
)
MAX_MYSQL_TYPE = 16 * 1024


def check_sqlite_type(declared: str) -> str:
    """Validate a SQLite declared type and return it; raise :class:`SchemaError` otherwise."""
    if declared in SQLITE_TYPES:
        return declared
    match = _SQLITE_SIZED.match(declared)
    if match is None or int(match.group(2)) > MAX_CHAR_LENGTH:
        raise SchemaError(f"declared type {declared[:40]!r} is not one a replicated column may have")
    return declared


def normalize_sqlite_type(declared: str) -> str | None:
    """The canonical spelling of a locally declared SQLite type (case, spaces), or None if it is not
    one of the replicable types."""
    text = re.sub(r"\s+", "", declared).upper()
    try:
        return check_sqlite_type(text)
    except SchemaError:
        return None


def check_mysql_type(text: str) -> str:
    """Validate a MySQL column type (as the SQL layer writes it, lowercase) and return it."""
    if len(text) > MAX_MYSQL_TYPE:
        raise SchemaError("MySQL type text is too long")
    match = _MYSQL_TYPE.match(text)
    if match is None or match.group("name") not in MYSQL_TYPE_NAMES:
        raise SchemaError(f"MySQL type {text[:40]!r} is not one a replicated column may have")
    args = match.group("args")
    if args is not None and args.startswith("'") != (match.group("name") in ("enum", "set")):
        raise SchemaError(f"MySQL type {text[:40]!r} has arguments of the wrong kind")
    return text


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared type (sqlite.org/datatype3.html §3.1)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "REAL"
    return "NUMERIC"


def max_length(declared: str) -> int | None:
    """Declared character length of ``CHAR(n)``/``VARCHAR(n)``."""
    match = _SQLITE_SIZED.match(declared)
    return int(match.group(2)) if match else None
