"""Replicated schema: structured table and index definitions, read from SQLite and rendered back.

A schema change travels in the log as structured data, never as SQL text from a peer: identifiers
are quoted here, declared types must match a conservative pattern and defaults must be literals, so
applying a peer's DDL cannot run anything but the DDL it describes.

Spec shapes (IPLD maps, also stored in ``_p2pdb_tables``)::

    column: {"n": name, "t": declared type, "nn": not null, "dv": default literal SQL text or None,
             "x": {...} (optional extras of the SQL layer: "mt" MySQL column type text, "ai" AUTO_INCREMENT,
                         "cm" comment)}
    table:  {"name": t, "cols": [column...], "pk": [column names], "rule": {"rule": "lww", ...}}
    index:  {"name": i, "t": table, "cols": [column names], "unique": bool}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import apsw

from p2pdb.store.errors import InvalidOps, UnsupportedChange

INTERNAL_PREFIX = "_p2pdb_"
_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?( [A-Za-z ]+)?$")
_DEFAULT_RE = re.compile(
    r"^(NULL|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|[-+]?\d+(\.\d+)?([eE][-+]?\d+)?|'([^']|'')*'|X'[0-9A-Fa-f]*')$",
    re.IGNORECASE,
)
_LENGTH_RE = re.compile(r"^\s*(VAR)?CHAR(ACTER)?\s*\(\s*(\d+)\s*\)", re.IGNORECASE)


@lru_cache(maxsize=512)
def _max_length(declared: str) -> int | None:
    match = _LENGTH_RE.match(declared)
    return int(match.group(3)) if match else None


@lru_cache(maxsize=512)
def _affinity(declared: str) -> str:
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


def quote(identifier: str) -> str:
    """A SQLite identifier in double quotes, embedded quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def is_internal(name: str) -> bool:
    return name.lower().startswith(INTERNAL_PREFIX) or name.lower().startswith("sqlite_")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = ""
    not_null: bool = False
    default: str | None = None
    #: Extras of the SQL layer (MySQL type text "mt", AUTO_INCREMENT "ai", comment "cm"); replicated
    #: with the column but not part of SQLite's schema.
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_ipld(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"n": self.name, "t": self.type, "nn": self.not_null, "dv": self.default}
        if self.extra:
            spec["x"] = self.extra
        return spec

    def with_extra(self, extra: dict[str, Any] | None) -> Column:
        return Column(self.name, self.type, self.not_null, self.default, dict(extra or {}))

    @classmethod
    def from_ipld(cls, value: Any) -> Column:
        if not isinstance(value, dict) or not {"n", "t", "nn", "dv"} <= set(value) <= {
            "n",
            "t",
            "nn",
            "dv",
            "x",
        }:
            raise InvalidOps("a column spec is a map of n, t, nn, dv and optionally x")
        extra = value.get("x", {})
        if not isinstance(extra, dict):
            raise InvalidOps("column extras must be a map")
        name, ctype, nn, dv = value["n"], value["t"], value["nn"], value["dv"]
        if not isinstance(name, str) or not name or not isinstance(ctype, str) or not isinstance(nn, bool):
            raise InvalidOps("column spec has fields of the wrong type")
        if ctype and not _TYPE_RE.match(ctype):
            raise InvalidOps(f"declared type {ctype!r} is not allowed")
        if dv is not None and (not isinstance(dv, str) or not _DEFAULT_RE.match(dv)):
            raise InvalidOps(f"default {dv!r} is not a literal")
        return cls(name, ctype, nn, dv, extra)

    def render(self) -> str:
        parts = [quote(self.name)]
        if self.type:
            parts.append(self.type)
        if self.not_null:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        return " ".join(parts)

    @property
    def max_length(self) -> int | None:
        """Declared character length of CHAR(n)/VARCHAR(n) columns."""
        return _max_length(self.type)

    @property
    def affinity(self) -> str:
        """SQLite's type affinity for the declared type (sqlite.org/datatype3.html §3.1)."""
        return _affinity(self.type)


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    pk: tuple[str, ...]
    rule: dict[str, Any] = field(default_factory=lambda: {"rule": "lww"}, compare=False)

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def to_ipld(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cols": [c.to_ipld() for c in self.columns],
            "pk": list(self.pk),
            "rule": self.rule,
        }

    @classmethod
    def from_ipld(cls, value: Any) -> TableSpec:
        if not isinstance(value, dict) or set(value) != {"name", "cols", "pk", "rule"}:
            raise InvalidOps("a table spec is a map of name, cols, pk, rule")
        name, cols, pk, rule = value["name"], value["cols"], value["pk"], value["rule"]
        if not isinstance(name, str) or not name or is_internal(name):
            raise InvalidOps(f"invalid table name {name!r}")
        if not isinstance(cols, list) or not cols or not isinstance(pk, list) or not pk:
            raise InvalidOps("a table needs columns and a primary key")
        columns = tuple(Column.from_ipld(c) for c in cols)
        names = [c.name for c in columns]
        if len(set(names)) != len(names) or not all(isinstance(p, str) and p in names for p in pk):
            raise InvalidOps("duplicate column names or a primary key naming unknown columns")
        if not isinstance(rule, dict):
            raise InvalidOps("rule must be a map")
        return cls(name, columns, tuple(pk), rule)

    def render(self) -> str:
        cols = ", ".join(c.render() for c in self.columns)
        pk = ", ".join(quote(p) for p in self.pk)
        return f"CREATE TABLE {quote(self.name)} ({cols}, PRIMARY KEY ({pk}))"


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool

    def to_ipld(self) -> dict[str, Any]:
        return {"name": self.name, "t": self.table, "cols": list(self.columns), "unique": self.unique}

    @classmethod
    def from_ipld(cls, value: Any) -> IndexSpec:
        if not isinstance(value, dict) or set(value) != {"name", "t", "cols", "unique"}:
            raise InvalidOps("an index spec is a map of name, t, cols, unique")
        name, table, cols, unique = value["name"], value["t"], value["cols"], value["unique"]
        if not (isinstance(name, str) and name and isinstance(table, str) and isinstance(unique, bool)):
            raise InvalidOps("index spec has fields of the wrong type")
        if is_internal(name) or not isinstance(cols, list) or not cols:
            raise InvalidOps("invalid index spec")
        if not all(isinstance(c, str) for c in cols):
            raise InvalidOps("index columns must be names")
        return cls(name, table, tuple(cols), unique)

    def render(self) -> str:
        unique = "UNIQUE " if self.unique else ""
        cols = ", ".join(quote(c) for c in self.columns)
        return f"CREATE {unique}INDEX {quote(self.name)} ON {quote(self.table)} ({cols})"


def read_table(conn: apsw.Connection, name: str, rule: dict[str, Any] | None = None) -> TableSpec:
    """The spec of a user table as SQLite has it now."""
    columns: list[Column] = []
    pk: list[tuple[int, str]] = []
    for _cid, cname, ctype, notnull, dflt, pk_pos, *_hidden in conn.execute(
        f"PRAGMA table_xinfo({quote(name)})"
    ):
        columns.append(Column(cname, ctype or "", bool(notnull), dflt))
        if pk_pos:
            pk.append((pk_pos, cname))
    if not pk:
        raise UnsupportedChange(
            f"table {name!r} has no PRIMARY KEY; replicated tables need one to identify rows across peers"
        )
    return TableSpec(name, tuple(columns), tuple(c for _, c in sorted(pk)), rule or {"rule": "lww"})


def read_indexes(conn: apsw.Connection, table: str) -> list[IndexSpec]:
    """Explicitly created indexes of a table (not the automatic ones behind constraints)."""
    specs = []
    for _seq, iname, unique, origin, _partial in conn.execute(f"PRAGMA index_list({quote(table)})"):
        if origin != "c" or is_internal(iname):
            continue
        cols = [c for _, _, c in conn.execute(f"PRAGMA index_info({quote(iname)})")]
        if any(c is None for c in cols):
            raise UnsupportedChange(f"index {iname!r} on expressions cannot be replicated")
        specs.append(IndexSpec(iname, table, tuple(cols), bool(unique)))
    return specs


def user_tables(conn: apsw.Connection) -> list[str]:
    """Names of user tables (internal and SQLite tables excluded), sorted."""
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows if not is_internal(name)]
