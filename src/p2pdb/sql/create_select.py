"""``CREATE TABLE ... [AS] SELECT`` and ``CREATE TABLE ... LIKE``.

``CREATE TABLE t2 [(definitions)] [IGNORE | REPLACE] [AS] SELECT ...`` creates the table and fills it
in one store transaction (``Database.write``), so it replicates as one log entry. Its columns are the
declared ones followed by the query's other result columns (MySQL's order); a result column that is
also declared keeps its declared definition. A result column's type is chosen as MySQL would, as
closely as the data allows:

- a column read straight from a table column (SQLite's column metadata names it) keeps that column's
  MySQL type, NOT NULL, default and comment, but not AUTO_INCREMENT (MySQL drops it) or any key;
- any other expression gets its type from the values it produced: integers ``bigint``, numbers with a
  fraction ``double``, dates and datetimes ``date``/``datetime(n)``, other text ``varchar(n)`` (n the
  longest value; ``longtext`` past MySQL's row limit), bytes ``varbinary(n)``/``longblob``. With no
  value to look at, sqlglot's type annotation of the query decides, else ``text``.

No key is created unless the statement declares one. ``CREATE TABLE t2 LIKE t1`` copies t1's columns,
key, indexes and conflict rule.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw
import sqlglot
from sqlglot import exp

from p2pdb.schema import MAX_NAME, Column, SchemaError, TableSpec, check_mysql_type, ident
from p2pdb.sql.autoids import AutoIds
from p2pdb.sql.catalog_meta import INFORMATION_SCHEMA, quote_ident
from p2pdb.sql.ddl import ColumnPlan, TablePlan, declared_plan, finish_plan, mysql_index_name, sqlite_type
from p2pdb.sql.history import equalities, history_filter
from p2pdb.sql.lexer import Lexed
from p2pdb.sql.mysqltypes import type_for_column
from p2pdb.sql.plan import Plan, build_plan, render_name
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import OkResult, Result

if TYPE_CHECKING:
    from p2pdb.sql.session import SQLSession
    from p2pdb.store import Database

_I = re.IGNORECASE
#: ``IGNORE``/``REPLACE`` before the query: how rows that clash on a unique key are handled.
_MODE = re.compile(r"\b(IGNORE|REPLACE)\s+(?=(?:AS\s+)?[(\s]*(?:SELECT|WITH)\b)", _I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.(\d{1,6}))?$")
_TIME = re.compile(r"^-?\d{2,3}:\d{2}:\d{2}(?:\.(\d{1,6}))?$")
#: Longest VARCHAR MySQL accepts for utf8mb4 (65535 bytes a row, 4 bytes a character).
_MAX_VARCHAR = 16383
_MAX_VARBINARY = 65535
#: integer types and the magnitude their values stay below
_INTEGERS = {"tinyint": 2**7, "smallint": 2**15, "int": 2**31, "bigint": 2**64}


def _parse(sql: str) -> Any:
    try:
        return sqlglot.parse_one(sql, read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise MySQLError(ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax: {exc}") from exc


def route(session: SQLSession, lexed: Lexed, text: str) -> Result | Awaitable[Result] | None:
    """Handle ``CREATE TABLE ... SELECT`` / ``... LIKE``; None for any other CREATE TABLE."""
    mode = _MODE.search(lexed.shape)
    if mode is not None:
        shape = lexed.shape[: mode.start()] + lexed.shape[mode.end() :]
        text = _MODE.sub("", text, count=1)
    else:
        shape = lexed.shape
    if not re.search(r"\b(SELECT|WITH|LIKE)\b", shape, _I):
        return None
    tree = _parse(text)
    if not isinstance(tree, exp.Create):
        return None
    like = _like_source(tree)
    if like is not None:
        return create_like(session, tree, like)
    if tree.args.get("expression") is None:
        return None
    shape_tree = _parse(shape)
    query = shape_tree.args.get("expression") if isinstance(shape_tree, exp.Create) else None
    if query is None:
        raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax near the SELECT")
    if isinstance(query, exp.Subquery):
        query = query.this
    verb = {"IGNORE": "INSERT IGNORE", "REPLACE": "REPLACE"}.get(
        mode.group(1).upper() if mode else "", "INSERT"
    )
    select = Lexed(
        query.sql(dialect="mysql"), lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars
    )
    return create_select(session, tree, select, verb)


# -- CREATE TABLE ... SELECT ------------------------------------------------------------------------


async def create_select(session: SQLSession, tree: exp.Create, select: Lexed, verb: str) -> Result:
    from p2pdb.sql.session import ensure_id_class
    from p2pdb.sql.statements import _ddl_write, _named_db

    plan = declared_plan(tree)
    db = _named_db(session, plan.database)
    if plan.name in db.catalog.tables:
        if plan.if_not_exists:
            # MySQL 8: nothing is inserted either
            return session.note(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{plan.name}' already exists")
        raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{plan.name}' already exists")
    if "." in select.shape:
        select, source = session._qualified(select, db)
        if source is not db:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET, "a statement can use one database at a time in P2PDB"
            )
    select_plan = session.backend.plan(db, select)
    select_bound = session.bindings(select, select_plan)
    if select_plan.info_schema:  # attached (and filled) now: ATTACH cannot run inside the write
        session.backend.refresh_information_schema()
        session.backend.attach_information_schema(db.conn)
        if select_plan.conflicts:
            session.backend.refresh_conflicts(db.conn)
        if select_plan.history:
            session.backend.refresh_history(db.conn, history_filter(select.shape, select_bound))
        if select_plan.diff:
            await session.backend.refresh_diff(
                db.conn, equalities(select.shape, select_bound), session.time_zone(), session.database
            )
    auto = next((c for c in plan.columns if c.auto_increment), None)
    id_class = None
    if auto is not None:
        await ensure_id_class(db)
        if db.id_class() is None:
            db.claim_ids()
        id_class = db.id_class()
    counts = [0, 0]  # rows the query gave, rows inserted

    def fill(conn: apsw.Connection) -> None:
        found, counts[0] = _query_columns(session, conn, db, select_plan, select_bound, select)
        table = declared_plan(tree)  # afresh: the query's columns join it
        declared = {ident(c.name) for c in table.columns}
        table.columns.extend(c for c in found if ident(c.name) not in declared)
        finish_plan(table)
        db.catalog.note_extras(table.name, table.extras)
        if table.rule is not None:
            db.catalog.note_rule(table.name, table.rule)
        if table.meta:
            db.catalog.note_meta(table.name, table.meta)
        for statement in table.statements():
            conn.execute(statement)
        spec = TableSpec(
            table.name,
            tuple(Column(c.name, c.sqlite_type, c.not_null, c.default, c.extra) for c in table.columns),
            tuple(table.pk),
        )
        names = ", ".join(quote_ident(c.name) for c in found)
        insert = Lexed(
            f"{verb} INTO {quote_ident(table.name)} ({names}) {select.shape}",
            select.params,
            select.raw,
            select.placeholders,
            select.sysvars,
            select.uservars,
        )
        insert_plan = build_plan(insert, {table.name: spec})
        bound = session.bindings(insert, insert_plan)
        if insert_plan.auto is not None and insert_plan.auto.per_row and id_class is not None:
            assert auto is not None
            bound["__auto_ids__"] = AutoIds.fresh(id_class, table.name, auto.mysql_type)
        session._execute(conn.cursor(), insert_plan, bound)
        counts[1] = conn.changes()

    _ddl_write(session, fill, db=db)
    records, inserted = counts
    duplicates = records - inserted if verb == "INSERT IGNORE" else 0
    return OkResult(affected_rows=inserted, info=f"Records: {records}  Duplicates: {duplicates}  Warnings: 0")


@dataclass(slots=True)
class _Seen:
    """What one result column held."""

    ints: int = 0
    floats: int = 0
    texts: int = 0
    blobs: int = 0
    nulls: int = 0
    text_length: int = 0
    blob_length: int = 0
    dates: int = 0
    datetimes: int = 0
    times: int = 0
    fraction: int = 0
    #: largest magnitude of the integers
    magnitude: int = 0

    def add(self, value: Any) -> None:
        if value is None:
            self.nulls += 1
        elif isinstance(value, bool | int):
            self.ints += 1
            self.magnitude = max(self.magnitude, abs(value))
            self.text_length = max(self.text_length, len(str(value)))
        elif isinstance(value, float):
            self.floats += 1
            self.text_length = max(self.text_length, len(repr(value)))
        elif isinstance(value, str):
            self.texts += 1
            self.text_length = max(self.text_length, len(value))
            if _DATE.match(value):
                self.dates += 1
            elif match := _DATETIME.match(value):
                self.datetimes += 1
                self.fraction = max(self.fraction, len(match.group(1) or ""))
            elif match := _TIME.match(value):
                self.times += 1
                self.fraction = max(self.fraction, len(match.group(1) or ""))
        elif isinstance(value, bytes):
            self.blobs += 1
            self.blob_length = max(self.blob_length, len(value))

    @property
    def values(self) -> int:
        return self.ints + self.floats + self.texts + self.blobs

    def fits(self, column: Column, not_null: bool) -> bool:
        """Whether the values fit a source column's type (a UNION's later parts may not)."""
        if self.nulls and not_null:
            return False  # e.g. the outer side of a LEFT JOIN
        if self.blobs and column.affinity != "BLOB":
            return False
        if self.texts and column.affinity in ("INTEGER", "REAL", "NUMERIC"):
            return False
        limit = column.max_length
        return limit is None or self.text_length <= limit

    def agrees(self, annotated: str | None) -> str | None:
        """``annotated`` (sqlglot's type of the expression) if the values fit it; numbers and
        temporal types only (text lengths come from the values)."""
        if annotated is None or not self.values or self.blobs or self.texts:
            return None
        base = annotated.split("(")[0]
        if base in _INTEGERS:
            if self.floats:
                return None
            return annotated if self.magnitude < _INTEGERS[base] else "bigint"
        if base in ("decimal", "double", "float"):
            return annotated
        return None

    def mysql_type(self) -> str | None:
        if not self.values:
            return None
        if self.blobs:
            if self.blobs == self.values and self.blob_length <= _MAX_VARBINARY:
                return f"varbinary({max(self.blob_length, 1)})"
            return "longblob"
        if not self.texts:
            return "double" if self.floats else "bigint"
        if self.texts == self.values:
            suffix = f"({self.fraction})" if self.fraction else ""
            if self.dates == self.texts:
                return "date"
            if self.datetimes == self.texts:
                return f"datetime{suffix}"
            if self.times == self.texts:
                return f"time{suffix}"
        if self.text_length > _MAX_VARCHAR:
            return "longtext"
        return f"varchar({max(self.text_length, 1)})"


def _query_columns(
    session: SQLSession, conn: apsw.Connection, db: Database, plan: Plan, bound: dict[str, Any], lexed: Lexed
) -> tuple[list[ColumnPlan], int]:
    """The result columns of the query as column definitions (names as MySQL gives them), and how
    many rows it gave."""
    description: Any = None

    def trace(cursor: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
        nonlocal description
        try:
            description = cursor.description_full
        except apsw.Error:
            description = cursor.description
        return True

    cursor = conn.cursor()
    cursor.exec_trace = trace
    session._execute(cursor, plan, bound)
    described = [tuple(d) + (None,) * 5 for d in description or ()]
    seen = [_Seen() for _ in described]
    count = 0
    for row in cursor:
        count += 1
        for index, value in enumerate(row):
            seen[index].add(value)
    templates = plan.names or []
    hints: list[str | None] | None = None
    columns: list[ColumnPlan] = []
    for index, item in enumerate(described):
        name, decl, schema, table, origin = item[:5]
        template = templates[index] if index < len(templates) else None
        if template is not None:
            name = render_name(template, lexed)
        name = str(name).strip()
        if not name or len(name) > MAX_NAME:
            raise MySQLError(1059, f"Identifier name '{name[:100]}' is too long")
        stats = seen[index]
        spec = db.catalog.table(table) if table and schema == "main" else None
        source = spec.column(origin) if spec is not None and origin else None
        if source is not None:
            assert spec is not None
            not_null = source.not_null or source.ident in spec.pk_idents or source.auto_increment
            if stats.fits(source, not_null):
                columns.append(_copied(name, source, not_null))
                continue
        if schema == INFORMATION_SCHEMA and isinstance(decl, str):  # its declared types are MySQL's
            declared = _mysql_type(decl)
            if declared is not None and stats.fits(
                Column(name, sqlite_type(declared, integer_pk=False)), False
            ):
                columns.append(ColumnPlan(name, declared, "", False, None, False, None))
                continue
        exact = plan.types[index] if plan.types is not None and index < len(plan.types) else None
        if exact is not None and not stats.blobs:  # a DECIMAL expression (p2pdb.sql.exact)
            columns.append(ColumnPlan(name, exact.column_type, "", False, None, False, None))
            continue
        if hints is None:
            hints = _annotated_types(lexed, db, len(described))
        mysql_type = stats.agrees(hints[index]) or stats.mysql_type() or hints[index] or "text"
        columns.append(ColumnPlan(name, mysql_type, "", False, None, False, None))
    return columns, count


def _mysql_type(text: str) -> str | None:
    try:
        return check_mysql_type(text.lower())
    except SchemaError:
        return None


def _copied(name: str, source: Column, not_null: bool) -> ColumnPlan:
    """A column defined like a table's column: MySQL keeps type, NULL-ness, default and comment, and
    drops AUTO_INCREMENT and keys (an AUTO_INCREMENT column gets DEFAULT 0 instead)."""
    mysql_type = type_for_column(source).column_type
    comment = source.extra.get("cm") if source.extra else None
    default = "0" if source.auto_increment and source.default is None else source.default
    text = comment if isinstance(comment, str) else None
    collation = source.extra.get("co") if source.extra else None
    return ColumnPlan(name, mysql_type, source.type, not_null, default, False, text, collation=collation)


_ANNOTATED = {
    exp.DataType.Type.TINYINT: "tinyint",
    exp.DataType.Type.SMALLINT: "smallint",
    exp.DataType.Type.INT: "int",
    exp.DataType.Type.BIGINT: "bigint",
    exp.DataType.Type.DOUBLE: "double",
    exp.DataType.Type.FLOAT: "float",
    exp.DataType.Type.DATE: "date",
    exp.DataType.Type.DATETIME: "datetime",
    exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIME: "time",
    exp.DataType.Type.BOOLEAN: "tinyint(1)",
    exp.DataType.Type.TEXT: "text",
    exp.DataType.Type.VARCHAR: "text",
}


def _annotated_types(lexed: Lexed, db: Database, count: int) -> list[str | None]:
    """Per result column, the MySQL type sqlglot infers for the query (None where it cannot)."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    # The literals go back in: their types are what sqlglot infers from.
    shape = re.sub(r":p(\d+)", lambda m: lexed.raw[int(m.group(1)) - 1], lexed.shape)
    schema: dict[str, object] = {
        spec.name: {c.name: type_for_column(c).column_type for c in spec.columns} for spec in db.tables()
    }
    try:
        tree = qualify(sqlglot.parse_one(shape, read="mysql"), schema=schema, dialect="mysql")
        tree = annotate_types(tree, schema=schema, dialect="mysql")
    except Exception:  # any query sqlglot cannot follow: no hints
        return [None] * count
    selects = tree.selects if isinstance(tree, exp.Query) else []
    if len(selects) != count:
        return [None] * count
    out: list[str | None] = []
    for select in selects:
        annotated = select.type
        kind = annotated.this if annotated is not None else None
        if annotated is not None and kind == exp.DataType.Type.DECIMAL:
            out.append(annotated.sql(dialect="mysql").lower().replace(" ", ""))
        else:
            out.append(_ANNOTATED.get(kind) if kind is not None else None)
    return out


# -- CREATE TABLE ... LIKE ------------------------------------------------------------------------


def _like_source(tree: exp.Create) -> exp.Table | None:
    target = tree.this
    items: list[Any] = []
    if isinstance(target, exp.Schema):
        items = list(target.expressions)
    properties = tree.args.get("properties")
    if properties is not None:
        items.extend(properties.expressions)
    for item in items:
        if isinstance(item, exp.LikeProperty) and isinstance(item.this, exp.Table):
            return item.this
    return None


def create_like(session: SQLSession, tree: exp.Create, source: exp.Table) -> Result:
    from p2pdb.sql.statements import _ddl_write, _named_db

    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    name = str(target.name)
    db = _named_db(session, str(target.db) or None)
    source_db = _named_db(session, str(source.db) or None)
    spec = source_db.catalog.table(str(source.name))
    if spec is None:
        raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{source_db.name}.{source.name}' doesn't exist")
    if name in db.catalog.tables:
        if tree.args.get("exists"):
            return session.note(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
        raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
    plan = TablePlan(name, False, [], list(spec.pk))
    for col in spec.columns:
        comment = col.extra.get("cm") if col.extra else None
        plan.columns.append(
            ColumnPlan(
                col.name,
                type_for_column(col).column_type,
                col.type,
                col.not_null,
                col.default,
                col.auto_increment,
                comment if isinstance(comment, str) else None,
                on_update=col.on_update,
                collation=col.extra.get("co") if col.extra else None,
            )
        )
    for index in sorted(source_db.catalog.indexes.values(), key=lambda i: i.name):
        if ident(index.table) == spec.ident:
            plan.indexes.append(
                (mysql_index_name(index.table, index.name), list(index.columns), index.unique)
            )
    if spec.rule.get("rule", "lww") != "lww":
        plan.rule = dict(spec.rule)
    if "cm" in spec.meta:  # the table comment (MySQL copies it; foreign keys are not copied)
        plan.meta["cm"] = spec.meta["cm"]
    finish_plan(plan)

    def create(conn: apsw.Connection) -> None:
        db.catalog.note_extras(plan.name, plan.extras)
        if plan.rule is not None:
            db.catalog.note_rule(plan.name, plan.rule)
        if plan.meta:
            db.catalog.note_meta(plan.name, plan.meta)
        for statement in plan.statements():
            conn.execute(statement)

    _ddl_write(session, create, db=db)
    return OkResult()
