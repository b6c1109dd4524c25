"""Table, column and index definitions: closed structures, parsed strictly from what peers send.

A definition travels in the log as an IPLD map; :meth:`from_ipld` accepts exactly the shapes below and
raises :class:`SchemaError` for anything else, so a peer cannot smuggle SQL into a schema::

    column: {"n": name, "t": SQLite type, "nn": not null, "dv": default literal, CURRENT_TIMESTAMP/DATE/TIME,
             (uuid()), (rand()), (json_array()), (json_object()) or None,
             "x": {"mt": MySQL type, "ai": true, "cm": comment, "ou": true (ON UPDATE CURRENT_TIMESTAMP),
                   "co": collation when not the default}   (x and each of its keys optional)}
    table:  {"name": t, "cols": [column...], "pk": [column names] (empty: rows have a hidden identity),
             "rule": {"rule": "lww"} | {"rule": "counter", "columns": [column identities]}}
    index:  {"name": i, "t": table, "cols": [column names], "unique": bool}

Names compare by identity (:func:`ident`): ``column("ID")`` finds column ``id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from p2pdb.crdt import RuleError, UnknownRule, rule_from_spec

from ._collation import check_collation_name, column_collation
from ._errors import SchemaError
from ._names import MAX_NAME, ident, is_internal
from ._types import affinity, check_mysql_type, check_sqlite_type, max_length

MAX_COLUMNS = 4096
MAX_KEY_PARTS = 16
MAX_COMMENT = 1024
MAX_DEFAULT = 65535
_DEFAULT_RE = re.compile(
    r"^(NULL|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|\((uuid|rand|json_array|json_object)\(\)\)|[-+]?\d+(\.\d+)?([eE][-+]?\d+)?|'([^']|'')*'|X'[0-9A-Fa-f]*')$",
    re.IGNORECASE,
)
#: Defaults SQLite evaluates when a row is written: no replica can reproduce them later.
NON_CONSTANT_DEFAULTS = frozenset(("CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"))
_EXTRA_KEYS = frozenset(("mt", "ai", "cm", "ou", "co"))


def quote(identifier: str) -> str:
    """A SQLite identifier in double quotes, embedded quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def check_name(name: Any, what: str) -> str:
    if type(name) is not str or not name or len(name) > MAX_NAME or "\x00" in name:
        raise SchemaError(f"invalid {what} name {name!r}")
    if is_internal(name):
        raise SchemaError(f"{what} name {name!r} is reserved")
    return name


def _map(value: Any, required: frozenset[str], optional: frozenset[str], what: str) -> dict[str, Any]:
    if type(value) is not dict or not required <= value.keys() or not value.keys() <= required | optional:
        keys = ", ".join(sorted(required)) + (
            f" and optionally {', '.join(sorted(optional))}" if optional else ""
        )
        raise SchemaError(f"{what} is a map of {keys}")
    return value


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = ""
    not_null: bool = False
    default: str | None = None
    #: Extras of the SQL layer (MySQL type text "mt", AUTO_INCREMENT "ai", comment "cm", ON UPDATE
    #: CURRENT_TIMESTAMP "ou", collation "co" when not the default); replicated
    #: with the column but not part of SQLite's schema.
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    #: The name's identity (:func:`ident`), computed once: merges and projections ask for it per cell.
    ident: str = field(init=False, compare=False, repr=False, hash=False)
    #: SQLite's type affinity for the declared type (sqlite.org/datatype3.html §3.1), computed once.
    affinity: str = field(init=False, compare=False, repr=False, hash=False)
    #: Declared character length of CHAR(n)/VARCHAR(n) columns, computed once (None: no limit).
    max_length: int | None = field(init=False, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ident", ident(self.name))
        object.__setattr__(self, "affinity", affinity(self.type))
        object.__setattr__(self, "max_length", max_length(self.type))

    def to_ipld(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"n": self.name, "t": self.type, "nn": self.not_null, "dv": self.default}
        if self.extra:
            spec["x"] = dict(self.extra)
        return spec

    def with_extra(self, extra: dict[str, Any] | None) -> Column:
        return Column(self.name, self.type, self.not_null, self.default, dict(extra or {}))

    def renamed(self, name: str) -> Column:
        return Column(name, self.type, self.not_null, self.default, dict(self.extra))

    @classmethod
    def from_ipld(cls, value: Any) -> Column:
        spec = _map(value, frozenset(("n", "t", "nn", "dv")), frozenset(("x",)), "a column spec")
        name = check_name(spec["n"], "column")
        ctype, nn, dv = spec["t"], spec["nn"], spec["dv"]
        if type(ctype) is not str or type(nn) is not bool:
            raise SchemaError("column spec has fields of the wrong type")
        check_sqlite_type(ctype)
        if dv is not None and (type(dv) is not str or len(dv) > MAX_DEFAULT or not _DEFAULT_RE.match(dv)):
            raise SchemaError(f"default {str(dv)[:40]!r} is not a literal")
        extra = check_extra(spec.get("x", {}))
        return cls(name, ctype, nn, dv, extra)

    def render(self, *, key: bool = False) -> str:
        """The SQLite column definition (``key``: the column is part of the primary key)."""
        parts = [quote(self.name)]
        if self.type:
            parts.append(self.type)
        collation = column_collation(self.extra, key=key)
        if collation is not None:
            parts.append(f"COLLATE {collation}")
        if self.not_null:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        return " ".join(parts)

    @property
    def auto_increment(self) -> bool:
        return bool(self.extra.get("ai"))

    @property
    def constant_default(self) -> bool:
        """False for a default evaluated when a row is written (CURRENT_TIMESTAMP, ``(uuid())``)."""
        if self.default is None:
            return True
        return self.default.upper() not in NON_CONSTANT_DEFAULTS and not self.default.startswith("(")

    @property
    def on_update(self) -> bool:
        """``ON UPDATE CURRENT_TIMESTAMP``: set by the writing node when its row changes."""
        return bool(self.extra.get("ou"))


def check_extra(extra: Any) -> dict[str, Any]:
    if type(extra) is not dict or not extra.keys() <= _EXTRA_KEYS:
        raise SchemaError("column extras are a map of mt, ai, cm, ou and co")
    if "mt" in extra and (type(extra["mt"]) is not str or not check_mysql_type(extra["mt"])):
        raise SchemaError("column extra mt must be a MySQL type")
    if "ai" in extra and extra["ai"] is not True:
        raise SchemaError("column extra ai is true when present")
    if "ou" in extra and extra["ou"] is not True:
        raise SchemaError("column extra ou is true when present")
    if "co" in extra:
        try:
            check_collation_name(extra["co"])
        except ValueError as exc:
            raise SchemaError(f"column extra co: {exc}") from exc
    if "cm" in extra and (type(extra["cm"]) is not str or len(extra["cm"]) > MAX_COMMENT):
        raise SchemaError("column extra cm must be a comment of at most 1024 characters")
    return dict(extra)


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    #: Primary key column names; empty: a table without a primary key (rows get a hidden identity).
    pk: tuple[str, ...]
    rule: dict[str, Any] = field(default_factory=lambda: {"rule": "lww"}, compare=False)
    #: Table metadata of the SQL layer (:func:`check_meta`): the comment, CHECK constraints and
    #: foreign keys; replicated with the table, enforced by no merge.
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    @cached_property
    def ident(self) -> str:
        return ident(self.name)

    @property
    def keyless(self) -> bool:
        return not self.pk

    def column(self, name: str) -> Column | None:
        by_ident = self._by_ident
        found = by_ident.get(name)  # most callers pass an identity already
        return found if found is not None else by_ident.get(ident(name))

    @cached_property
    def _by_ident(self) -> dict[str, Column]:
        return {c.ident: c for c in self.columns}

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def column_idents(self) -> tuple[str, ...]:
        return tuple(c.ident for c in self.columns)

    @cached_property
    def column_ident_set(self) -> frozenset[str]:
        return frozenset(self.column_idents)

    @cached_property
    def name_of(self) -> Mapping[str, str]:
        """Column name by identity (read-only: shared by every caller)."""
        return MappingProxyType({c.ident: c.name for c in self.columns})

    @cached_property
    def pk_idents(self) -> tuple[str, ...]:
        return tuple(ident(p) for p in self.pk)

    def to_ipld(self) -> dict[str, Any]:
        spec = {
            "name": self.name,
            "cols": [c.to_ipld() for c in self.columns],
            "pk": list(self.pk),
            "rule": dict(self.rule),
        }
        if self.meta:
            spec["meta"] = dict(self.meta)
        return spec

    def with_meta(self, meta: dict[str, Any]) -> TableSpec:
        return TableSpec(self.name, self.columns, self.pk, self.rule, dict(meta))

    @classmethod
    def from_ipld(cls, value: Any) -> TableSpec:
        spec = _map(value, frozenset(("name", "cols", "pk", "rule")), frozenset(("meta",)), "a table spec")
        name = check_name(spec["name"], "table")
        cols, pk, rule = spec["cols"], spec["pk"], spec["rule"]
        if type(cols) is not list or not 1 <= len(cols) <= MAX_COLUMNS:
            raise SchemaError("a table has 1 to 4096 columns")
        if type(pk) is not list or len(pk) > MAX_KEY_PARTS:
            raise SchemaError("a primary key is a list of at most 16 column names")
        columns = tuple(Column.from_ipld(c) for c in cols)
        meta = spec.get("meta", {})
        if type(meta) is not dict or len(meta) > MAX_META:
            raise SchemaError("table meta is a map")
        for key, item in meta.items():
            check_meta(key, item)
        return cls.build(name, columns, pk, rule).with_meta(meta)

    @classmethod
    def build(cls, name: str, columns: tuple[Column, ...], pk: Any, rule: Any) -> TableSpec:
        """A checked spec: distinct column identities, a key of known columns, a canonical rule."""
        names = [c.ident for c in columns]
        if len(set(names)) != len(names):
            raise SchemaError(f"table {name!r} names a column twice")
        if not all(type(p) is str and ident(p) in names for p in pk) or len({ident(p) for p in pk}) != len(
            pk
        ):
            raise SchemaError(f"the primary key of {name!r} names unknown or repeated columns")
        if type(rule) is not dict:
            raise SchemaError("rule must be a map")
        try:
            canonical = rule_from_spec(rule).spec()
        except UnknownRule:
            # A rule this node lacks (a plugin not installed here): its form is checked as far as
            # it can be; the store holds back every entry that needs it until it is installed.
            canonical = _unknown_rule_form(name, rule)
        except (RuleError, TypeError, ValueError) as exc:
            raise SchemaError(f"table {name!r} names an unusable conflict rule: {exc}") from exc
        if canonical != rule:
            raise SchemaError(f"conflict rule of {name!r} is not in canonical form: {canonical}")
        if any(c not in names for c in rule.get("columns", ())):
            raise SchemaError(f"the conflict rule of {name!r} names unknown columns")
        return cls(name, columns, tuple(pk), rule)

    def render(self) -> str:
        keys = set(self.pk_idents)
        cols = ", ".join(c.render(key=c.ident in keys) for c in self.columns)
        if not self.pk:
            return f"CREATE TABLE {quote(self.name)} ({cols})"
        pk = ", ".join(quote(p) for p in self.pk)
        return f"CREATE TABLE {quote(self.name)} ({cols}, PRIMARY KEY ({pk}))"


@dataclass(frozen=True, slots=True)
class IndexSpec:
    #: The SQLite index name (unique per database; the SQL layer writes ``<table>.<index>``).
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool

    @property
    def ident(self) -> str:
        return ident(self.name)

    @property
    def column_idents(self) -> tuple[str, ...]:
        return tuple(ident(c) for c in self.columns)

    def to_ipld(self) -> dict[str, Any]:
        return {"name": self.name, "t": self.table, "cols": list(self.columns), "unique": self.unique}

    @classmethod
    def from_ipld(cls, value: Any) -> IndexSpec:
        spec = _map(value, frozenset(("name", "t", "cols", "unique")), frozenset(), "an index spec")
        name, table, cols, unique = spec["name"], spec["t"], spec["cols"], spec["unique"]
        if type(name) is not str or not name or len(name) > 2 * MAX_NAME + 1 or is_internal(name):
            raise SchemaError(f"invalid index name {str(name)[:80]!r}")
        check_name(table, "table")
        if type(unique) is not bool or type(cols) is not list or not 1 <= len(cols) <= MAX_KEY_PARTS:
            raise SchemaError("an index has 1 to 16 columns and a unique flag")
        for col in cols:
            check_name(col, "column")
        if len({ident(c) for c in cols}) != len(cols):
            raise SchemaError(f"index {name!r} names a column twice")
        return cls(name, table, tuple(cols), unique)

    def render(self) -> str:
        unique = "UNIQUE " if self.unique else ""
        cols = ", ".join(quote(c) for c in self.columns)
        return f"CREATE {unique}INDEX {quote(self.name)} ON {quote(self.table)} ({cols})"


MAX_VIEW_QUERY = 65535


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A view: its name, its SELECT as the client wrote it (MySQL text, replayed by each replica's SQL
    layer) and its column names (empty: the query's own)."""

    name: str
    query: str
    columns: tuple[str, ...] = ()

    @property
    def ident(self) -> str:
        return ident(self.name)

    def to_ipld(self) -> dict[str, Any]:
        return {"v": self.name, "q": self.query, "c": list(self.columns)}

    @classmethod
    def from_ipld(cls, value: Any) -> ViewSpec:
        spec = _map(value, frozenset(("v", "q", "c")), frozenset(), "a view spec")
        name, query, cols = check_name(spec["v"], "view"), spec["q"], spec["c"]
        if type(query) is not str or not query.strip() or len(query) > MAX_VIEW_QUERY or "\x00" in query:
            raise SchemaError("a view query is a string of at most 65535 characters")
        if type(cols) is not list or len(cols) > MAX_COLUMNS:
            raise SchemaError("view columns are a list of names")
        for col in cols:
            check_name(col, "column")
        if len({ident(c) for c in cols}) != len(cols):
            raise SchemaError(f"view {name!r} names a column twice")
        return cls(name, query, tuple(cols))


MAX_META = 256
MAX_EXPRESSION = 4096
FK_ACTIONS = frozenset(("RESTRICT", "CASCADE", "SET NULL", "NO ACTION", "SET DEFAULT"))


def check_meta(key: Any, value: Any) -> None:
    """One table meta entry, strictly (``value`` None: removed, in a ``table_meta`` event)::

    "cm"          table comment (string)
    "ai"          AUTO_INCREMENT start: generated ids are at least this (integer, 1 .. 2^64 - 1)
    "ck:<name>"   CHECK constraint {"e": MySQL expression text}
    "fk:<name>"   foreign key {"c": [columns], "rt": referenced table, "rc": [columns],
                  "od": ON DELETE action, "ou": ON UPDATE action}
    """
    if type(key) is not str or len(key) > MAX_NAME + 3:
        raise SchemaError("a table meta key is a short string")
    if value is None:
        if key in ("cm", "ai") or key[:3] in ("ck:", "fk:"):
            return
        raise SchemaError(f"unknown table meta {key[:40]!r}")
    if key == "cm":
        if type(value) is not str or len(value) > 2048:
            raise SchemaError("a table comment is a string of at most 2048 characters")
        return
    if key == "ai":
        if type(value) is not int or not 1 <= value < 2**64:
            raise SchemaError("an AUTO_INCREMENT start is an integer from 1 to 2^64 - 1")
        return
    if key.startswith("ck:"):
        check_name(key[3:], "constraint")
        item = _map(value, frozenset(("e",)), frozenset(), "a CHECK constraint")
        if (
            type(item["e"]) is not str
            or not item["e"]
            or len(item["e"]) > MAX_EXPRESSION
            or "\x00" in item["e"]
        ):
            raise SchemaError("a CHECK expression is a string of at most 4096 characters")
        return
    if key.startswith("fk:"):
        check_name(key[3:], "constraint")
        item = _map(value, frozenset(("c", "rt", "rc", "od", "ou")), frozenset(), "a foreign key")
        check_name(item["rt"], "table")
        for cols in (item["c"], item["rc"]):
            if type(cols) is not list or not 1 <= len(cols) <= MAX_KEY_PARTS:
                raise SchemaError("a foreign key names 1 to 16 columns")
            for col in cols:
                check_name(col, "column")
        if len(item["c"]) != len(item["rc"]) or item["od"] not in FK_ACTIONS or item["ou"] not in FK_ACTIONS:
            raise SchemaError("a foreign key has matching column lists and known actions")
        return
    raise SchemaError(f"unknown table meta {key[:40]!r}")


def _unknown_rule_form(table: str, rule: dict[str, Any]) -> dict[str, Any]:
    """The checks every rule's schema form passes, for a rule not installed here: a name, and
    ``columns`` (if any) a sorted list of distinct names."""
    name = rule.get("rule")
    if type(name) is not str or not name:
        raise SchemaError(f"the conflict rule of {table!r} has no name")
    columns = rule.get("columns")
    if columns is not None and (
        type(columns) is not list
        or not all(type(c) is str for c in columns)
        or columns != sorted(set(columns))
    ):
        raise SchemaError(f"the conflict rule of {table!r} names its columns out of canonical form")
    return rule
