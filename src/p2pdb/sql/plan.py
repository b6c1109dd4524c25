"""Execution plans of statement shapes, cached per (database, schema version, shape).

A plan holds the SQLite SQL for a MySQL shape, whether it writes, how AUTO_INCREMENT values are
filled in, and how result columns are named as MySQL names them. Building a plan may call sqlglot;
running a cached plan never does.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from p2pdb.sql import (
    aggregates,
    fulltext,
    insert_rows,
    json_functions,
    result_types,
    rollup,
    row_alias,
    time_functions,
)
from p2pdb.sql.autoids import FUNCTION
from p2pdb.sql.cte import limit_recursion
from p2pdb.sql.defaults import clock, fill_defaults
from p2pdb.sql.exact import rewrite as exact_rewrite
from p2pdb.sql.guard import CLIENT_MARK
from p2pdb.sql.lexer import Lexed
from p2pdb.sql.multi_table import is_multi_table, rewrite_multi_table
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.temporal import NEEDS_TRANSLATION
from p2pdb.sql.translate import rewrite, transpile
from p2pdb.store.schema import TableSpec, quote

WRITE_KINDS = frozenset(("INSERT", "UPDATE", "DELETE", "REPLACE"))
_I = re.IGNORECASE
_SESSION_FUNCTIONS = [
    (re.compile(r"\bLAST_INSERT_ID\s*\(\s*\)", _I), ":f_lid"),
    (re.compile(r"\b(?:DATABASE|SCHEMA)\s*\(\s*\)", _I), ":f_db"),
    (re.compile(r"\bCONNECTION_ID\s*\(\s*\)", _I), ":f_cid"),
    (re.compile(r"\b(?:CURRENT_USER|SESSION_USER|SYSTEM_USER|USER)\s*\(\s*\)", _I), ":f_user"),
    (re.compile(r"\bCURRENT_USER\b", _I), ":f_user"),
    (re.compile(r"\bFOUND_ROWS\s*\(\s*\)", _I), ":f_found"),
    (re.compile(r"\bROW_COUNT\s*\(\s*\)", _I), ":f_rowcount"),
    # The time functions are the statement's start in the session's time_zone (one value for the
    # whole statement, as MySQL's), bound by the session: :f_now, :f_now6 (microseconds), ...
    (
        re.compile(r"\b(?:NOW|CURRENT_TIMESTAMP|LOCALTIME|LOCALTIMESTAMP)\s*\(\s*(:p\d+)\s*\)", _I),
        r"p2pdb_fsp(:f_now6, \1)",
    ),
    (re.compile(r"\b(?:NOW|CURRENT_TIMESTAMP|LOCALTIME|LOCALTIMESTAMP)\s*\(\s*\)", _I), ":f_now"),
    (re.compile(r"\b(?:CURRENT_TIMESTAMP|LOCALTIME|LOCALTIMESTAMP)\b(?!\s*\()", _I), ":f_now"),
    (re.compile(r"\b(?:CURDATE\s*\(\s*\)|CURRENT_DATE\b(?:\s*\(\s*\))?)", _I), ":f_curdate"),
    (re.compile(r"\b(?:CURTIME\s*\(\s*\)|CURRENT_TIME\b(?:\s*\(\s*\))?)", _I), ":f_curtime"),
    (re.compile(r"\bSYSDATE\s*\(\s*:p\d+\s*\)", _I), "now()"),
]
_TIME_KEYWORDS = frozenset(
    ("CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "LOCALTIME", "LOCALTIMESTAMP")
)
_LOCKING = re.compile(r"\b(FOR\s+UPDATE|FOR\s+SHARE|LOCK\s+IN\s+SHARE\s+MODE)\b", _I)
_RETURNING = re.compile(r"\bRETURNING\b", _I)
_QUOTED_NAME = re.compile(r"`(?:[^`]|``)*`")
_INFO_SCHEMA = re.compile(r"\b(?:information_schema|performance_schema|mysql)\s*\.", _I)
_CONFLICTS = re.compile(r"\bP2PDB_CONFLICTS\b", _I)
_PROCESSLIST = re.compile(r"\bPROCESSLIST\b", _I)
_HISTORY = re.compile(r"\bP2PDB_HISTORY\b", _I)
_DIFF = re.compile(r"\bP2PDB_DIFF\b", _I)
_PROJ_TOKENS = re.compile(
    r"(`(?:[^`]|``)*`)|(\()|(\))|(,)|\b(FROM|WHERE|GROUP|HAVING|ORDER|LIMIT|INTO|UNION|FOR|LOCK|WINDOW)\b", _I
)
_WITH_TOKENS = re.compile(r"(`(?:[^`]|``)*`)|(\()|(\))|\b(SELECT)\b", _I)
_MODIFIERS = re.compile(r"^\s*(?:(?:DISTINCT|ALL|DISTINCTROW|HIGH_PRIORITY|STRAIGHT_JOIN|SQL_\w+)\s+)+", _I)
_ALIASED = re.compile(r"\s+AS\s+(`(?:[^`]|``)*`|[\w$]+)\s*$", _I)
_IMPLICIT = re.compile(r"([\w`)\]'])\s+(`(?:[^`]|``)*`|[A-Za-z_][\w$]*)\s*$")
_NOT_ALIAS = frozenset(
    [
        "END",
        "NULL",
        "TRUE",
        "FALSE",
        "UNKNOWN",
        "ASC",
        "DESC",
        "AND",
        "OR",
        "NOT",
        "IS",
        "XOR",
        "DIV",
        "MOD",
        "LIKE",
        "IN",
        "BINARY",
        "INTERVAL",
        "ESCAPE",
        "DAY",
        "HOUR",
        "MINUTE",
        "SECOND",
        "MONTH",
        "YEAR",
        "WEEK",
        "QUARTER",
        "MICROSECOND",
        "OVER",  # LEAD(x, 2) OVER w: a named window, not an alias
        "COLLATE",
    ]
)
_PLAIN_COLUMN = re.compile(
    r"^\s*(?:`(?:[^`]|``)*`|[A-Za-z_][\w$]*)(?:\.(?:`(?:[^`]|``)*`|[A-Za-z_][\w$]*)){0,2}\s*$"
)


@dataclass(slots=True)
class AutoSlots:
    """Where AUTO_INCREMENT values go: ``new`` parameters always get a fresh value; ``check``
    parameters get one when the client sent NULL or 0 (MySQL's rule without NO_AUTO_VALUE_ON_ZERO)."""

    column: str
    new: list[str] = field(default_factory=list)
    check: list[str] = field(default_factory=list)
    #: ``INSERT ... SELECT``: each row's value comes from ``p2pdb_auto_id()`` (see :mod:`.autoids`).
    per_row: bool = False


@dataclass(slots=True)
class Plan:
    sql: str
    write: bool
    source: str = ""
    table: str | None = None
    auto: AutoSlots | None = None
    names: list[str | None] | None = None
    locking: bool = False
    info_schema: bool = False
    #: The statement names ``P2PDB_CONFLICTS``: fill it from the stores before running (it changes
    #: with merges, not with schema versions).
    conflicts: bool = False
    description: Any = None
    #: Positions of the result columns ``description`` declares no type for (set with it).
    untyped: tuple[int, ...] | None = None
    fallback: bool = False
    #: INSERT ... ON DUPLICATE KEY UPDATE: affected rows are 1 (inserted), 2 (updated) or 0 (unchanged).
    upsert: bool = False
    #: The statement ends in ``RETURNING <auto column>`` so an upsert that updates reports the
    #: existing row's id (MySQL's insert id); the row is not a result set for the client.
    returning_id: bool = False
    #: The client's ``INSERT/REPLACE/DELETE ... RETURNING``: the written rows are its result set
    #: (MariaDB's extension), also when there are none.
    returning: bool = False
    #: The statement changes session values as it runs (``@v := ...``, ``LAST_INSERT_ID(expr)``); None
    #: until a transaction first asks (p2pdb.sql.session, replays).
    effects: bool | None = None
    #: The statement names ``information_schema.PROCESSLIST``: filled from the sessions each time.
    processlist: bool = False
    #: The statement names ``P2PDB_HISTORY``: filled from the change feeds before running.
    history: bool = False
    #: The statement names ``P2PDB_DIFF``: filled from two versions of a database before running.
    diff: bool = False
    #: A read that outlasted its time on the event loop once: it runs on a reader thread from now on.
    offload: bool = False
    #: MySQL types of projected DECIMAL expressions (:mod:`p2pdb.sql.exact`), by position; None: none.
    types: list[Any] | None = None
    #: Parameters (0-based) bound as their literal text: decimal literals computed exactly.
    text_params: list[int] = field(default_factory=list)
    #: hexadecimal and bit literals used as numbers (p2pdb.sql.exact._bits_numbers): bound as integers
    number_params: list[int] = field(default_factory=list)
    #: literals written to character columns: binary strings among them bound as their text
    string_params: list[int] = field(default_factory=list)
    #: REPLACE: counts the existing rows the statement will replace (MySQL counts each as a delete).
    replace_probe: str | None = None
    #: A one-row ``INSERT IGNORE ... VALUES``: the same statement without IGNORE, run (and undone) when
    #: the row was ignored, for the error MySQL turns into a warning (``Duplicate entry ...``).
    ignore_probe: str | None = None
    #: ``SELECT SQL_CALC_FOUND_ROWS ... LIMIT n``: the count of rows without the LIMIT (FOUND_ROWS()).
    found_sql: str | None = None


class PlanCache:
    """A bounded LRU of plans."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._plans: OrderedDict[Any, Plan] = OrderedDict()

    def get(self, key: Any) -> Plan | None:
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def put(self, key: Any, plan: Plan) -> None:
        self._plans[key] = plan
        if len(self._plans) > self._size:
            self._plans.popitem(last=False)

    def clear(self) -> None:
        self._plans.clear()


def _main_select(shape: str) -> str:
    """A ``WITH`` statement's own SELECT, after its CTEs (``WITH c AS (...) SELECT ...``); another shape
    as it is."""
    if re.match(r"\s*WITH\b", shape, _I) is None:
        return shape
    depth = 0
    for match in _WITH_TOKENS.finditer(shape):
        if match.group(2):
            depth += 1
        elif match.group(3):
            depth -= 1
        elif match.group(4) and depth == 0:
            return shape[match.start() :]
    return shape


def projection_texts(shape: str) -> list[str] | None:
    """The text of each top-level projection of a SELECT shape, also after a WITH clause (None if it
    is not a SELECT)."""
    shape = _main_select(shape)
    head = re.match(r"\s*SELECT\b", shape, _I)
    if head is None:
        return None
    depth = 0
    start = head.end()
    parts: list[str] = []
    end = len(shape)
    for match in _PROJ_TOKENS.finditer(shape, head.end()):
        if match.group(1):
            continue
        if match.group(2):
            depth += 1
        elif match.group(3):
            depth -= 1
        elif depth == 0 and match.group(4):
            parts.append(shape[start : match.start()])
            start = match.end()
        elif depth == 0 and match.group(5):
            end = match.start()
            break
    parts.append(shape[start:end])
    if parts:
        parts[0] = _MODIFIERS.sub("", parts[0])
    return parts


def projection_names(shape: str) -> list[str | None] | None:
    """Per top-level projection of a SELECT, the MySQL column-name template, or None where
    SQLite's own name is right (plain columns, aliases); None overall when positions are unclear."""
    parts = projection_texts(shape)
    if parts is None:
        return None
    names: list[str | None] = []
    for part in parts:
        text = part.strip()
        if not text or ("*" in text and re.search(r"(^|\.)\*$", text)):
            return None
        if text.upper() in _TIME_KEYWORDS:  # bound by the session: keep the name the client typed
            names.append(text)
            continue
        if _ALIASED.search(text) or (_PLAIN_COLUMN.match(text) and not text.startswith(":")):
            names.append(None)
            continue
        implicit = _IMPLICIT.search(text)
        if implicit and implicit.group(2).upper() not in _NOT_ALIAS and not implicit.group(2).startswith(":"):
            before = text[: implicit.start(2)].rstrip().split()
            if before and before[-1].upper() not in _NOT_ALIAS:
                names.append(None)
                continue
        names.append(text)
    return names


_TEMPLATE_PARAM = re.compile(r":([pgu])(\d+)")


def render_name(template: str, lexed: Lexed) -> str:
    """A column name as MySQL shows it: the projection text as the client typed it."""
    whole = _TEMPLATE_PARAM.fullmatch(template)
    if whole and whole.group(1) == "p":
        index = int(whole.group(2)) - 1
        raw = lexed.raw[index]
        value = lexed.params[index]
        if raw[:1] in ("'", '"') and isinstance(value, str):
            return value
        return raw

    def repl(match: re.Match[str]) -> str:
        kind, number = match.group(1), match.group(2)
        if kind == "p":
            return lexed.raw[int(number) - 1]
        if kind == "g":
            return "@@" + lexed.sysvars.get("g" + number, "")
        return "@" + lexed.uservars.get("u" + number, "")

    return _TEMPLATE_PARAM.sub(repl, template)


def build_plan(
    lexed: Lexed, tables: Mapping[str, TableSpec], *, changed_rows: bool = False, pipes_concat: bool = False
) -> Plan:
    """Translate a shape. ``tables`` is the current database's schema (for AUTO_INCREMENT).

    ``changed_rows``: the client did not ask for CLIENT_FOUND_ROWS, so an UPDATE must report (and
    touch) only rows whose values change, as MySQL does. ``pipes_concat``: ``sql_mode`` has
    PIPES_AS_CONCAT (or ANSI), so ``||`` concatenates; otherwise it is MySQL's logical OR.
    """
    kind = lexed.kind
    shape = lexed.shape
    if kind == "INSERT":
        shape = row_alias.rewrite(shape, tables)  # INSERT ... AS new ON DUPLICATE KEY UPDATE
    shape = fulltext.rewrite(shape)  # MATCH (...) AGAINST (...)
    write = kind in WRITE_KINDS
    names = projection_names(shape) if kind in ("SELECT", "WITH") else None
    if not pipes_concat and "||" in shape:
        shape = _PIPES.sub(lambda m: m.group(0) if m.group(0)[0] == "`" else " OR ", shape)
    if names is not None and all(n is None for n in names):
        names = None
    for pattern, replacement in _SESSION_FUNCTIONS:
        shape = pattern.sub(replacement, shape)
    exact = exact_rewrite(kind, shape, lexed.raw, tables)
    if exact is not None:
        shape = exact.shape
    if kind == "SELECT" and rollup.ROLLUP.search(shape):
        shape = rollup.rewrite(shape) or shape  # after the exact rewrite: its projections stay typed
    filled = fill_defaults(kind, shape, tables)
    if filled is not shape:  # defaults of the clock are the statement's time in the session's zone
        for pattern, replacement in _SESSION_FUNCTIONS:
            filled = pattern.sub(replacement, filled)
    shape = filled
    auto: AutoSlots | None = None
    table: str | None = None
    if kind in ("INSERT", "REPLACE"):
        table, auto, shape = _auto_increment(shape, tables)
    elif kind in ("UPDATE", "DELETE"):
        if kind == "UPDATE":
            shape = _on_update_timestamps(shape, tables)
        if _LIMIT.search(shape) or _ORDER_BY.search(shape):
            shape = _limit_by_rowid(shape)
        if kind == "UPDATE" and changed_rows and "P2PDB_SET_VAR" not in shape.upper():
            # (not with @v := ...: the condition would assign once more per row)
            shape = _only_changed_rows(shape)
        if is_multi_table(kind, shape):
            shape = rewrite_multi_table(kind, shape)
    shape = aggregates.rewrite_count_distinct(json_functions.mark_nested(shape, _json_columns(tables)))
    shape = aggregates.sort_distinct_group_concat(shape)
    shape = time_functions.rewrite_get_format(shape)
    probe = _replace_probe(shape, tables) if kind == "REPLACE" else None
    sql = rewrite(shape)
    if kind in ("SELECT", "WITH") and (
        (kind == "SELECT" and NEEDS_TRANSLATION.search(shape))
        or (exact is not None and _INTERVAL_WORD.search(shape))
    ):
        # Valid SQLite as it stands, but with another meaning (CAST targets, XOR, ^): sqlglot's
        # translation with MySQL's rules (p2pdb.sql.temporal) when it can parse the shape. The exact
        # rewrite prints ``d + INTERVAL 1 DAY`` as ``d + INTERVAL (:p1) DAY``: a call of MySQL's
        # INTERVAL() function named DAY to SQLite, not the syntax error that sent it here.
        try:
            sql = transpile(sql)
        except sqlglot.errors.ParseError as exc:
            if "Expected TYPE after CAST" in str(exc):  # CAST(x AS FOO): MySQL's syntax error
                raise MySQLError(
                    ErrorCode.PARSE_ERROR,
                    "You have an error in your SQL syntax; check the manual that corresponds to your"
                    f" MySQL server version for the right syntax to use near '{_cast_target(shape)}'"
                    " at line 1",
                ) from None
        except sqlglot.errors.SqlglotError:
            pass
    upsert = (
        kind == "INSERT" and "ON CONFLICT DO UPDATE SET" in sql and "ON CONFLICT DO UPDATE SET" not in shape
    )
    returning = write and _RETURNING.search(_QUOTED_NAME.sub("", lexed.shape)) is not None
    returning_id = False
    if upsert:
        sql = _only_when_changed(sql)
        if auto is not None and len(auto.new) + len(auto.check) == 1 and not returning:
            sql += f" RETURNING {quote(auto.column)}"
            returning_id = True
    ignored = (
        kind == "INSERT"
        and not upsert
        and not returning
        and _INSERT_IGNORE.match(sql) is not None
        and insert_rows.row_count(shape) == 1
    )
    return Plan(
        sql=CLIENT_MARK + limit_recursion(sql),
        ignore_probe=CLIENT_MARK + limit_recursion(_INSERT_IGNORE.sub("INSERT", sql, count=1))
        if ignored
        else None,
        write=write,
        upsert=upsert,
        returning_id=returning_id,
        returning=returning,
        source=shape,
        table=table,
        auto=auto,
        names=names,
        locking=bool(_LOCKING.search(lexed.shape)),
        info_schema=bool(_INFO_SCHEMA.search(lexed.shape)),
        conflicts=bool(_CONFLICTS.search(lexed.shape)),
        processlist=bool(_PROCESSLIST.search(lexed.shape)),
        history=bool(_HISTORY.search(lexed.shape)),
        diff=bool(_DIFF.search(lexed.shape)),
        types=result_types.overlay(exact.types if exact is not None else None, projection_texts(lexed.shape))
        if kind in ("SELECT", "WITH")
        else None,
        text_params=exact.text_params if exact is not None else [],
        number_params=exact.number_params if exact is not None else [],
        string_params=exact.string_params if exact is not None else [],
        replace_probe=probe,
        found_sql=_found_rows_sql(sql) if kind == "SELECT" and _CALC_FOUND.search(lexed.shape) else None,
    )


#: ``||`` outside backquoted names: MySQL's OR (the same precedence) unless PIPES_AS_CONCAT.
_PIPES = re.compile(r"`(?:[^`]|``)*`|\|\|")
_INTERVAL_WORD = re.compile(r"\bINTERVAL\b", _I)
_CALC_FOUND = re.compile(r"^\s*\(?\s*SELECT\s+(?:\w+\s+)*?SQL_CALC_FOUND_ROWS\b", _I)
_TRAILING_LIMIT = re.compile(r"\s+LIMIT\s+[^()]*$", _I)


def _found_rows_sql(sql: str) -> str | None:
    """The count FOUND_ROWS() reports after ``SELECT SQL_CALC_FOUND_ROWS ... LIMIT``: the rows the
    statement finds without its trailing LIMIT (None: no trailing LIMIT, the rows it returned)."""
    body = _LOCKING.sub("", sql).rstrip().rstrip(";")
    if _TRAILING_LIMIT.search(body) is None:
        return None
    return f"{CLIENT_MARK}SELECT COUNT(*) FROM ({_TRAILING_LIMIT.sub('', body)})"


def _json_columns(tables: Mapping[str, TableSpec]) -> frozenset[str]:
    """Lower-case names that are JSON columns in every table having them (json_functions.mark_nested)."""
    json: set[str] = set()
    other: set[str] = set()
    for spec in tables.values():
        for c in spec.columns:
            (json if c.extra and c.extra.get("mt") == "json" else other).add(c.name.lower())
    return frozenset(json - other)


_INSERT_TABLE = re.compile(
    r"^\s*(?:INSERT|REPLACE)\s+(?:LOW_PRIORITY\s+|DELAYED\s+|HIGH_PRIORITY\s+|IGNORE\s+)*(?:INTO\s+)?"
    r"(?:(?:`(?:[^`]|``)*`|[\w$]+)\s*\.\s*)?(`(?:[^`]|``)*`|[\w$]+)",
    _I,
)


def _auto_increment(shape: str, tables: Mapping[str, TableSpec]) -> tuple[str | None, AutoSlots | None, str]:
    match = _INSERT_TABLE.match(shape)
    if match is None:
        return None, None, shape
    name = match.group(1).strip("`").replace("``", "`")
    spec = tables.get(name)
    if spec is None:
        return name, None, shape
    column = next((c.name for c in spec.columns if c.extra.get("ai")), None)
    if column is None:
        return name, None, shape
    # sqlglot has no REPLACE statement: parse it as the INSERT it is and write REPLACE back.
    replace = _REPLACE.match(shape) is not None
    try:
        tree = sqlglot.parse_one(_REPLACE.sub("INSERT", shape, 1) if replace else shape, read="mysql")
    except sqlglot.errors.ParseError:
        return name, None, shape
    if not isinstance(tree, exp.Insert):
        return name, None, shape
    name, auto, shape = _auto_slots(tree, name, spec, column, shape)
    return name, auto, _INSERT.sub("REPLACE", shape, 1) if replace and auto is not None else shape


_REPLACE = re.compile(r"^\s*REPLACE\b", _I)
_INSERT = re.compile(r"^\s*INSERT\b", _I)


def _auto_slots(
    tree: exp.Insert, name: str, spec: TableSpec, column: str, shape: str
) -> tuple[str | None, AutoSlots | None, str]:
    values = tree.expression
    target = tree.this
    columns = [str(e.name) for e in target.expressions] if isinstance(target, exp.Schema) else None
    if columns is None:
        columns = list(spec.column_names)
    if isinstance(values, (exp.Query, exp.Subquery)):
        return name, AutoSlots(column, per_row=True), _per_row_ids(tree, values, columns, column)
    if not isinstance(values, exp.Values):
        return name, None, shape  # INSERT ... SET is parsed as VALUES; nothing else is left
    slots = AutoSlots(column)
    folded = [c.lower() for c in columns]
    if column.lower() in folded:
        index = folded.index(column.lower())
        for row_number, row in enumerate(values.expressions):
            if index >= len(row.expressions):
                return name, None, shape
            item = row.expressions[index]
            if isinstance(item, exp.Placeholder) and str(item.name).startswith("p"):
                slots.check.append(str(item.name))
            elif isinstance(item, exp.Null) or (isinstance(item, exp.Var) and item.name.upper() == "DEFAULT"):
                placeholder = f"a{row_number}"
                row.expressions[index] = exp.Placeholder(this=placeholder)
                slots.new.append(placeholder)
    elif isinstance(target, exp.Schema):
        target.expressions.append(exp.to_identifier(column))
        for row_number, row in enumerate(values.expressions):
            placeholder = f"a{row_number}"
            row.expressions.append(exp.Placeholder(this=placeholder))
            slots.new.append(placeholder)
    else:
        return name, None, shape
    return name, slots, tree.sql(dialect="mysql")


def _per_row_ids(tree: exp.Insert, query: Any, columns: list[str], column: str) -> str:
    """``INSERT INTO t (a, id) SELECT x, y FROM s`` → ``INSERT INTO t (a, id) SELECT c0,
    p2pdb_auto_id(c1) FROM (SELECT NULL AS c0, NULL AS c1 WHERE FALSE UNION ALL SELECT * FROM (SELECT
    x, y FROM s))``: the leading empty SELECT names the source's columns by position (a compound
    takes its names from its first part), so the AUTO_INCREMENT one can go through the allocator
    whatever the source's own column names are. An absent AUTO_INCREMENT column is added."""
    names = [f"_p2pdb_c{i}" for i in range(len(columns))]
    picks = list(names)
    if column.lower() in (c.lower() for c in columns):
        index = [c.lower() for c in columns].index(column.lower())
        picks[index] = f"{FUNCTION}({names[index]})"
    else:
        picks.append(f"{FUNCTION}(NULL)")
        target = tree.this
        if isinstance(target, exp.Schema):
            target.expressions.append(exp.to_identifier(column))
        else:
            identifiers = [exp.to_identifier(c) for c in [*columns, column]]
            tree.set("this", exp.Schema(this=target, expressions=identifiers))
    inner = query.this if isinstance(query, exp.Subquery) else query
    empty = "SELECT " + ", ".join(f"NULL AS {n}" for n in names) + " WHERE FALSE"
    source = f"{empty} UNION ALL SELECT * FROM ({inner.sql(dialect='mysql')}) AS _p2pdb_s"
    select = f"SELECT {', '.join(picks)} FROM ({source}) AS _p2pdb_u WHERE TRUE"
    tree.set("expression", sqlglot.parse_one(select, read="mysql"))
    return tree.sql(dialect="mysql")


_LIMIT = re.compile(r"\bLIMIT\b", _I)
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", _I)


def _limit_by_rowid(shape: str) -> str:
    """``DELETE FROM t WHERE w ORDER BY o LIMIT n`` → ``DELETE FROM t WHERE rowid IN (SELECT rowid
    FROM t WHERE w ORDER BY o LIMIT n)`` (likewise UPDATE): SQLite is built without ORDER BY/LIMIT on
    DELETE and UPDATE, and MySQL users rely on them, e.g. to remove one of two equal rows of a table
    without a primary key. Every user table is a rowid table."""
    try:
        tree = sqlglot.parse_one(shape, read="mysql")
    except sqlglot.errors.ParseError:
        return shape
    if not isinstance(tree, (exp.Delete, exp.Update)):
        return shape
    if tree.args.get("limit") is None:
        if tree.args.get("order") is None:
            return shape
        # ORDER BY without LIMIT: the order of the writes, which SQLite does not take; its own is
        # the rowid's (an INTEGER primary key's), what `ORDER BY id` of row-numbering updates asks.
        tree.set("order", None)
        return tree.sql(dialect="mysql")
    table = tree.this
    if not isinstance(table, exp.Table) or tree.args.get("from") or tree.args.get("using"):
        return shape
    inner = exp.select("rowid").from_(table.copy())
    for part in ("where", "order", "limit"):
        inner.set(part, tree.args.get(part))
        tree.set(part, None)
    tree.set("where", exp.Where(this=exp.In(this=exp.column("rowid"), query=exp.Subquery(this=inner))))
    return tree.sql(dialect="mysql")


#: The collation that compares text byte for byte, trailing spaces included (store/collation.py).
_BYTES = "utf8mb4_0900_bin"


def _only_changed_rows(shape: str) -> str:
    """``UPDATE t SET a = x WHERE w`` → ``... WHERE (w) AND NOT (a <=> x)``: rows whose values would
    not change are neither written nor counted (MySQL's affected rows without CLIENT_FOUND_ROWS)."""
    try:
        tree = sqlglot.parse_one(shape, read="mysql")
    except sqlglot.errors.ParseError:
        return shape
    if not isinstance(tree, exp.Update) or not tree.expressions:
        return shape
    changes = []
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ):
            return shape
        # Compared byte for byte, as MySQL compares the row's images: 'apple' -> 'APPLE' is a change
        # even where the column's collation finds them equal (and it must be written).
        # (SQLite takes an explicit COLLATE of the left operand: here the column, a plain name, where
        # a COLLATE after any expression would reach the translator.)
        column = exp.Collate(this=assignment.this.copy(), expression=exp.var(_BYTES))
        changes.append(exp.Not(this=exp.NullSafeEQ(this=column, expression=assignment.expression.copy())))
    changed = exp.Paren(this=exp.or_(*changes))
    where = tree.args.get("where")
    tree.set("where", exp.Where(this=exp.and_(exp.Paren(this=where.this), changed) if where else changed))
    return tree.sql(dialect="mysql")


_INSERT_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\b", re.IGNORECASE)


def _replace_probe(shape: str, tables: Mapping[str, TableSpec]) -> str | None:
    """``REPLACE INTO t (cols) VALUES (...), ...`` → ``SELECT count(*) FROM t WHERE`` any row of the
    values meets an existing row on the primary key or a UNIQUE key: the rows REPLACE deletes, which
    MySQL counts in the affected rows (1 per insert + 1 per deleted row)."""
    try:
        tree = sqlglot.parse_one(_REPLACE.sub("INSERT", shape, 1), read="mysql")
    except sqlglot.errors.ParseError:
        return None
    values = tree.expression if isinstance(tree, exp.Insert) else None
    target = tree.this if isinstance(tree, exp.Insert) else None
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(values, exp.Values) or not isinstance(table, exp.Table) or table.args.get("db"):
        return None
    spec = tables.get(table.name)
    if spec is None:
        return None
    columns = [str(e.name).lower() for e in target.expressions] if isinstance(target, exp.Schema) else None
    names = columns or [c.lower() for c in spec.column_names]
    unique: list[tuple[str, ...]] = getattr(tables, "unique_keys", lambda _name: [])(spec.name)
    keys = [k for k in ([spec.pk] if spec.pk else []) + list(unique) if k]
    conditions: list[exp.Expression] = []
    for row in values.expressions:
        items = row.expressions if isinstance(row, exp.Tuple) else []
        for key in keys:
            if not all(k.lower() in names and names.index(k.lower()) < len(items) for k in key):
                continue
            parts = [
                exp.EQ(this=exp.column(k, quoted=True), expression=items[names.index(k.lower())].copy())
                for k in key
            ]
            conditions.append(exp.Paren(this=exp.and_(*parts)))
    if not conditions:
        return None
    query = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(spec.name, quoted=True))
    return CLIENT_MARK + query.where(exp.or_(*conditions)).sql(dialect="sqlite")


def _on_update_timestamps(shape: str, tables: Mapping[str, TableSpec]) -> str:
    """``UPDATE t SET a = x`` on a table whose column ``u`` is ``ON UPDATE CURRENT_TIMESTAMP`` →
    ``UPDATE t SET a = x, u = CASE WHEN NOT (a <=> x) THEN now() ELSE u END``: the writer's time when
    the row changes, as MySQL does (the value replicates like any other; no replica re-evaluates it)."""
    if not any(c.extra.get("ou") for spec in tables.values() for c in spec.columns):
        return shape
    try:
        tree = sqlglot.parse_one(shape, read="mysql")
    except sqlglot.errors.ParseError:
        return shape
    target = tree.this if isinstance(tree, exp.Update) else None
    if not isinstance(target, exp.Table) or tree.args.get("joins") or tree.args.get("from"):
        return shape
    spec = {name.lower(): t for name, t in tables.items()}.get(target.name.lower())
    if spec is None:
        return shape
    assignments = [a for a in tree.expressions if isinstance(a, exp.EQ)]
    if len(assignments) != len(tree.expressions):
        return shape
    assigned = {a.this.name.lower() for a in assignments}
    stamped = [c.name for c in spec.columns if c.extra.get("ou") and c.name.lower() not in assigned]
    if not stamped or not assignments:
        return shape
    changed = exp.or_(
        *(
            exp.Not(this=exp.NullSafeEQ(this=a.this.copy(), expression=a.expression.copy()))
            for a in assignments
        )
    )
    for name in stamped:
        column = exp.column(name, quoted=True)
        stamp = spec.column(name)
        assert stamp is not None
        value = exp.Case(
            ifs=[exp.If(this=exp.Paren(this=changed.copy()), true=clock(stamp))],
            default=column.copy(),
        )
        tree.append("expressions", exp.EQ(this=column, expression=value))
    return tree.sql(dialect="mysql")


_ASSIGNMENT = re.compile(r"^\s*((?:`(?:[^`]|``)*`|[\w$.]+))\s*=\s*(.+?)\s*$", re.S)


def _only_when_changed(sql: str) -> str:
    """``... ON CONFLICT DO UPDATE SET a = x, b = y`` → ``... WHERE a IS NOT (x) OR b IS NOT (y)``: an
    upsert that would not change the row writes nothing (and MySQL reports 0 affected rows)."""
    head, _, tail = sql.partition("ON CONFLICT DO UPDATE SET")
    if re.search(r"\bWHERE\b|\bRETURNING\b", tail, _I):
        return sql
    parts, depth, start = [], 0, 0
    for index, char in enumerate(tail):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(tail[start:index])
            start = index + 1
    parts.append(tail[start:])
    conditions = []
    for part in parts:
        match = _ASSIGNMENT.match(part)
        if match is None:
            return sql
        conditions.append(f"{match.group(1)} IS NOT ({match.group(2)})")
    return f"{head}ON CONFLICT DO UPDATE SET{tail} WHERE " + " OR ".join(conditions)


_CAST_TARGET = re.compile(r"\bAS\s+([^\s)]+)", _I)


def _cast_target(shape: str) -> str:
    """The type a CAST names that MySQL has not (for the 1064 message)."""
    known = {"BINARY", "CHAR", "DATE", "DATETIME", "DECIMAL", "DOUBLE", "FLOAT", "JSON", "NCHAR", "REAL",
             "SIGNED", "TIME", "UNSIGNED", "YEAR", "DEC", "INTEGER", "INT"}  # fmt: skip
    for match in _CAST_TARGET.finditer(shape):
        word = match.group(1).split("(")[0].upper()
        if word not in known:
            return match.group(1)[:40]
    return "AS"
