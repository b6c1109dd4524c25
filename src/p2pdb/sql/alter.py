"""ALTER TABLE: MySQL's alterations as replicated schema changes (docs/mysql-compatibility.md "DDL").

Each comma-separated alteration becomes SQLite DDL (ADD COLUMN, indexes: the store reads them back from
SQLite's schema) or a noted schema change (DROP/MODIFY/CHANGE/ALTER COLUMN, which SQLite cannot express:
the store writes the op and rebuilds the table from its row states). All alterations of one statement
are one log entry. The primary key is a row's identity in every replica, so it cannot change; table
options (ENGINE, CHARSET, COLLATE, ROW_FORMAT, ALGORITHM, LOCK) are accepted and kept nowhere, as the
storage is always the same; ``AUTO_INCREMENT = n`` is a replicated table meta (the start of generated ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from p2pdb.schema import Column, ident
from p2pdb.sql.constraints import check_columns, check_foreign_key
from p2pdb.sql.ddl import ColumnPlan, column_plan, index_sql, sqlite_index_name, sqlite_type
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import OkResult, Result
from p2pdb.store.schema import quote

if TYPE_CHECKING:
    from p2pdb.schema import ResolvedTable, TableSpec
    from p2pdb.sql.lexer import Lexed
    from p2pdb.sql.session import SQLSession

_I = re.IGNORECASE | re.S
_NAME = r"(`(?:[^`]|``)+`|[\w$]+)"
_TABLE = re.compile(rf"^\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:{_NAME}\s*\.\s*)?{_NAME}\s*(.*)$", _I)
_PARAM = re.compile(r":p(\d+)")
_POSITION = re.compile(rf"\s+(FIRST|AFTER\s+{_NAME})\s*$", _I)
_OPTION = re.compile(
    r"^(?:(?:DEFAULT\s+)?(?:CHARACTER\s+SET|CHARSET|COLLATE)|ENGINE|ROW_FORMAT|AUTO_INCREMENT|ALGORITHM|LOCK"
    r"|AVG_ROW_LENGTH|CHECKSUM|KEY_BLOCK_SIZE|MAX_ROWS|MIN_ROWS|PACK_KEYS|STATS_\w+|DELAY_KEY_WRITE"
    r"|INSERT_METHOD|COMPRESSION|ENCRYPTION)\s*(?:=\s*)?\S+(?:\s+(?:DEFAULT\s+)?COLLATE\s*(?:=\s*)?\S+)?$",
    _I,
)


def auto_increment_start(value: Any) -> int:
    """The ``AUTO_INCREMENT = n`` table option's value: at least 1, at most 2^64 - 1."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise MySQLError(
            ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{value}'"
        ) from None
    return min(max(number, 1), 2**64 - 1)


def name_of(text: str) -> str:
    """An identifier as written (backquotes removed, doubled backquotes undone)."""
    text = text.strip()
    if text.startswith("`") and text.endswith("`") and len(text) > 1:
        return text[1:-1].replace("``", "`")
    return text


def unsupported(what: str, why: str = "") -> MySQLError:
    detail = f" ({why})" if why else ""
    return MySQLError(
        ErrorCode.NOT_SUPPORTED_YET, f"This version of P2PDB doesn't yet support '{what}'{detail}"
    )


@dataclass
class AlterPlan:
    """What one ALTER TABLE does: SQLite statements, column extras, noted schema changes."""

    table: str
    spec: TableSpec
    resolved: ResolvedTable
    statements: list[str] = field(default_factory=list)
    #: Statements committed first, as their own entry (the copy of a renamed column's values: row
    #: changes are captured under SQLite's layout, which the noted changes have not reached yet).
    first: list[str] = field(default_factory=list)
    first_extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[tuple[str, Column | tuple[str, Any] | str, str | None]] = field(default_factory=list)
    warnings: int = 0
    #: Columns as they will be after the alterations so far, by identity (None: dropped).
    columns: dict[str, Column | None] = field(default_factory=dict)
    indexes: dict[str, list[str] | None] = field(default_factory=dict)
    #: RENAME TO (database or None, new name): done after the other alterations.
    rename: tuple[str | None, str] | None = None
    #: Table meta after the alterations so far (None: unchanged).
    meta: dict[str, Any] | None = None
    db: Any = None
    fk_checks: bool = True
    #: AUTO_INCREMENT = n: this node numbers again from the table's ids and the new start.
    restart_ids: bool = False

    def column(self, name: str) -> Column | None:
        key = ident(name)
        if key in self.columns:
            return self.columns[key]
        return self.spec.column(name)


def split_items(shape: str) -> list[str]:
    """Top-level comma-separated parts of a statement's shape (literals are already out of it)."""
    parts, depth, start, quoted = [], 0, 0, False
    for i, char in enumerate(shape):
        if char == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(shape[start:i])
            start = i + 1
    parts.append(shape[start:])
    return [p.strip() for p in parts if p.strip()]


def _unshape(text: str, lexed: Lexed) -> str:
    """A part of the shape with its literals back as written."""
    return _PARAM.sub(lambda m: lexed.raw[int(m.group(1)) - 1], text)


def handle_alter_table(session: SQLSession, lexed: Lexed, text: str) -> Result:
    from p2pdb.sql.statements import _ddl_write, _named_db

    match = _TABLE.match(lexed.shape)
    if match is None:
        raise MySQLError(ErrorCode.PARSE_ERROR, "You have an error in your SQL syntax near 'ALTER'")
    database = name_of(match.group(1)) if match.group(1) else None
    table = name_of(match.group(2))
    db = _named_db(session, database)
    resolved = db.catalog.schema.table(table)
    if resolved is None:
        raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db.name}.{table}' doesn't exist")
    plan = AlterPlan(resolved.spec.name, resolved.spec, resolved, db=db)
    plan.fk_checks = bool(session.variables.get("foreign_key_checks", 1))
    for item in split_items(match.group(3).strip().rstrip(";")):
        _plan_item(plan, resolved, item, lexed)

    def alter(conn: Any) -> None:
        db.catalog.note_extras(plan.table, plan.extras)
        for statement in plan.statements:
            conn.execute(statement)
        for kind, payload, at in plan.notes:
            db.catalog.note_change(kind, plan.table, payload, at)

    def copy(conn: Any) -> None:
        db.catalog.note_extras(plan.table, plan.first_extras)
        for statement in plan.first:
            conn.execute(statement)

    if plan.first:
        _ddl_write(session, copy, db=db)
    if plan.statements or plan.notes:
        _ddl_write(session, alter, db=db)
    if plan.restart_ids:
        db.restart_auto_ids(plan.table)
    if plan.rename is not None:
        rename_table(session, database, plan.table, plan.rename[0] or database, plan.rename[1])
    return OkResult(warnings=plan.warnings)


def _plan_item(plan: AlterPlan, resolved: ResolvedTable, item: str, lexed: Lexed) -> None:
    table = plan.table
    if m := re.match(r"^AUTO_INCREMENT\s*(?:=\s*)?:p(\d+)$", item, _I):
        # The next generated id is at least this (and above every id in the table), on every node.
        _set_meta(plan, "ai", auto_increment_start(lexed.params[int(m.group(1)) - 1]))
        plan.restart_ids = True
        return
    if _OPTION.match(item) or re.match(r"^CONVERT\s+TO\s+(CHARACTER\s+SET|CHARSET)\b", item, _I):
        return
    if re.match(r"^(FORCE|ENABLE\s+KEYS|DISABLE\s+KEYS|(WITH|WITHOUT)\s+VALIDATION)$", item, _I):
        return
    if m := re.match(r"^COMMENT\s*(?:=\s*)?:p(\d+)$", item, _I):
        comment = lexed.params[int(m.group(1)) - 1]
        _set_meta(plan, "cm", str(comment) if comment else None)
        return
    if m := re.match(
        rf"^ADD\s+(?:CONSTRAINT\s+(?:{_NAME}\s+)?)?PRIMARY\s+KEY\s*(?:USING\s+\w+\s*)?\((.+)\)", item, _I
    ):
        cols = [ident(index_column(c)) for c in split_items(m.group(2))]
        if tuple(cols) == plan.spec.pk_idents:
            return  # the key it has
        if plan.spec.pk:
            raise MySQLError(1068, "Multiple primary key defined")
        raise unsupported(
            "ADD PRIMARY KEY", "a table keeps the key it was created with: rows are identified by it"
        )
    if re.match(r"^DROP\s+PRIMARY\s+KEY$", item, _I):
        raise unsupported(
            "DROP PRIMARY KEY", "a table keeps the key it was created with: rows are identified by it"
        )
    if m := re.match(
        rf"^ADD\s+(?:CONSTRAINT\s+(?:{_NAME}\s+)?)?UNIQUE\s+(?:INDEX\s+|KEY\s+)?(?:{_NAME}\s*)?(?:USING\s+\w+\s*)?\((.+)\)$",
        item,
        _I,
    ):
        _add_index(plan, m.group(2) or m.group(1), m.group(3), unique=True)
        return
    if m := re.match(
        rf"^ADD\s+(?:FULLTEXT(?:\s+INDEX|\s+KEY)?|INDEX|KEY)\s*(?:{_NAME}\s*)?(?:USING\s+\w+\s*)?\((.+)\)",
        item,
        _I,
    ):  # a FULLTEXT index is a plain one here (MATCH ... AGAINST scans: p2pdb.sql.fulltext)
        _add_index(plan, m.group(1), m.group(2), unique=False)
        return
    if re.match(r"^ADD\s+SPATIAL\b", item, _I):
        raise unsupported(f"ALTER TABLE ... {item[:40]}", "SPATIAL indexes")
    if m := re.match(rf"^DROP\s+(?:INDEX|KEY)\s+{_NAME}$", item, _I):
        name = name_of(m.group(1))
        if resolved.index(sqlite_index_name(table, name)) is None and ident(name) not in plan.indexes:
            raise MySQLError(1091, f"Can't DROP '{name}'; check that column/key exists")
        plan.statements.append(f"DROP INDEX {quote(sqlite_index_name(table, name))}")
        plan.indexes[ident(name)] = None
        return
    if m := re.match(rf"^RENAME\s+(?:INDEX|KEY)\s+{_NAME}\s+TO\s+{_NAME}$", item, _I):
        _rename_index(plan, resolved, name_of(m.group(1)), name_of(m.group(2)))
        return
    if re.match(r"^ADD\s+(CONSTRAINT\b.*\b)?(CHECK|FOREIGN\s+KEY)\b", item, _I):
        _add_constraint(plan, _unshape(item[3:].strip(), lexed))
        return
    if m := re.match(rf"^DROP\s+(CHECK|CONSTRAINT|FOREIGN\s+KEY)\s+{_NAME}$", item, _I):
        _drop_constraint(plan, m.group(1).upper(), name_of(m.group(2)))
        return
    if re.match(r"^ALTER\s+(CHECK|CONSTRAINT)\b", item, _I):
        raise unsupported("ALTER CHECK ... [NOT] ENFORCED")
    if m := re.match(
        rf"^RENAME\s+(?:TO\s+|AS\s+)?(?!COLUMN\b|INDEX\b|KEY\b)(?:{_NAME}\s*\.\s*)?{_NAME}$", item, _I
    ):
        plan.rename = (name_of(m.group(1)) if m.group(1) else None, name_of(m.group(2)))
        return
    if m := re.match(rf"^RENAME\s+COLUMN\s+{_NAME}\s+TO\s+{_NAME}$", item, _I):
        old, new = name_of(m.group(1)), name_of(m.group(2))
        current = plan.column(old)
        if current is None:
            raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{old}' in '{plan.table}'")
        if ident(old) != ident(new):
            _rename_column(
                plan,
                current,
                Column(new, current.type, current.not_null, current.default, dict(current.extra)),
            )
        return
    if m := re.match(
        rf"^ALTER\s+(?:COLUMN\s+)?{_NAME}\s+(SET\s+DEFAULT\s+(.+)|DROP\s+DEFAULT|SET\s+(VISIBLE|INVISIBLE))$",
        item,
        _I,
    ):
        _alter_default(plan, name_of(m.group(1)), m.group(2), _unshape(m.group(3) or "", lexed))
        return
    if m := re.match(
        rf"^DROP\s+(?:COLUMN\s+)?(?!INDEX\b|KEY\b|PRIMARY\b|FOREIGN\b|CHECK\b|CONSTRAINT\b){_NAME}$", item, _I
    ):
        _drop_column(plan, resolved, name_of(m.group(1)))
        return
    if m := re.match(r"^MODIFY\s+(?:COLUMN\s+)?(.+)$", item, _I):
        _modify_column(plan, None, _unshape(m.group(1), lexed))
        return
    if m := re.match(rf"^CHANGE\s+(?:COLUMN\s+)?{_NAME}\s+(.+)$", item, _I):
        _modify_column(plan, name_of(m.group(1)), _unshape(m.group(2), lexed))
        return
    if m := re.match(
        r"^ADD\s+(?:COLUMN\s+)?(?!INDEX\b|KEY\b|UNIQUE\b|PRIMARY\b|CONSTRAINT\b|FOREIGN\b|CHECK\b)(.+)$",
        item,
        _I,
    ):
        body = m.group(1).strip()
        if body.startswith("(") and body.endswith(")"):
            for part in split_items(body[1:-1]):
                _add_column(plan, _unshape(part, lexed))
        else:
            _add_column(plan, _unshape(body, lexed))
        return
    raise unsupported(f"ALTER TABLE ... {_unshape(item, lexed)[:60]}")


def _meta(plan: AlterPlan) -> dict[str, Any]:
    if plan.meta is None:
        plan.meta = dict(plan.spec.meta)
    return plan.meta


def _set_meta(plan: AlterPlan, key: str, value: Any) -> None:
    meta = _meta(plan)
    if value is None:
        meta.pop(key, None)
    else:
        meta[key] = value
    plan.notes.append(("table_meta", (key, value), None))


def _add_constraint(plan: AlterPlan, text: str) -> None:
    """ADD [CONSTRAINT [s]] CHECK (...) / FOREIGN KEY (...) REFERENCES ...: read as CREATE TABLE reads it."""
    from p2pdb.sql.ddl import TablePlan, declared_plan

    try:
        tree = sqlglot.parse_one(f"CREATE TABLE {quote_mysql(plan.table)} ({text})", read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise MySQLError(
            ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{text[:40]}'"
        ) from exc
    if not isinstance(tree, exp.Create):
        raise MySQLError(ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{text[:40]}'")
    existing = _meta(plan)
    found: TablePlan = declared_plan(tree, meta=dict(existing))
    for key, value in found.meta.items():
        if key in existing:
            if existing[key] != value:
                kind = "check" if key.startswith("ck:") else "foreign key"
                raise MySQLError(
                    3822 if key.startswith("ck:") else 1826, f"Duplicate {kind} constraint name '{key[3:]}'."
                )
            continue
        if key.startswith("fk:"):
            check_foreign_key(
                plan.db, plan.table, key[3:], value, [c.name for c in plan.spec.columns], plan.fk_checks
            )
        elif key.startswith("ck:"):
            for name in check_columns(value["e"]):
                if plan.column(name) is None:
                    raise MySQLError(
                        3820, f"Check constraint '{key[3:]}' refers to non-existing column '{name}'."
                    )
        _set_meta(plan, key, value)


def _drop_constraint(plan: AlterPlan, kind: str, name: str) -> None:
    meta = _meta(plan)
    keys = {"CHECK": ["ck:"], "FOREIGN KEY": ["fk:"]}.get(" ".join(kind.split()), ["ck:", "fk:"])
    for prefix in keys:
        for key in list(meta):
            if key.startswith(prefix) and ident(key[3:]) == ident(name):
                _set_meta(plan, key, None)
                return
    if kind == "CHECK":
        raise MySQLError(3821, f"Check constraint '{name}' is not found in the table.")
    raise MySQLError(1091, f"Can't DROP '{name}'; check that column/key exists")


def index_column(text: str) -> str:
    """The column of an index part: ``a``, ``a(191)`` (a prefix; its length reaches the shape as a
    parameter, ``a(:p1)``) or ``a DESC``."""
    name = re.sub(r"\(\s*(?:\d+|:p\d+)\s*\)", "", text).strip()
    name = re.sub(r"\s+(ASC|DESC)$", "", name, flags=re.IGNORECASE).strip()
    return name_of(name)


def _add_index(plan: AlterPlan, name: str | None, columns: str, *, unique: bool) -> None:
    cols = [index_column(c) for c in split_items(columns)]
    for col in cols:
        if plan.column(col) is None:
            raise MySQLError(1072, f"Key column '{col}' doesn't exist in table", "42000")
    if name:
        index = name_of(name)
    else:  # MySQL names it after its first column: a, a_2, a_3...
        index, n = cols[0], 1
        while _index_taken(plan, index):
            n += 1
            index = f"{cols[0]}_{n}"
    plan.statements.append(index_sql(plan.table, index, cols, unique))
    plan.indexes[ident(index)] = cols


def _index_taken(plan: AlterPlan, name: str) -> bool:
    key = ident(name)
    if key in plan.indexes:
        return plan.indexes[key] is not None
    return any(ident(i.name) == ident(sqlite_index_name(plan.table, name)) for i in plan.resolved.indexes)


def _rename_index(plan: AlterPlan, resolved: ResolvedTable, old: str, new: str) -> None:
    index = resolved.index(sqlite_index_name(plan.table, old))
    if index is None:
        raise MySQLError(1176, f"Key '{old}' doesn't exist in table '{plan.table}'")
    plan.statements.append(f"DROP INDEX {quote(index.name)}")
    plan.statements.append(index_sql(plan.table, new, list(index.columns), index.unique))


def _position(plan: AlterPlan, text: str) -> str | None:
    """FIRST: ""; AFTER c: c (1054 if the table has no c); else None."""
    found = _POSITION.search(text)
    if found is None:
        return None
    words = found.group(1).split(None, 1)
    if words[0].upper() == "FIRST":
        return ""
    anchor = name_of(words[1])
    column = plan.column(anchor)
    if column is None:
        raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{anchor}' in '{plan.table}'")
    return column.name


def _parse_column(text: str) -> ColumnPlan:
    position = _POSITION.search(text)
    if position is not None:
        text = text[: position.start()]
    try:
        tree = sqlglot.parse_one(f"CREATE TABLE _t ({text})", read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise MySQLError(
            ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{text[:40]}'"
        ) from exc
    coldef = tree.this.expressions[0] if isinstance(tree.this, exp.Schema) and tree.this.expressions else None
    if not isinstance(coldef, exp.ColumnDef):
        raise MySQLError(ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{text[:40]}'")
    return column_plan(coldef)


def _schema_column(col: ColumnPlan, *, primary: bool, single_key: bool) -> Column:
    integer_pk = primary and single_key and sqlite_type(col.mysql_type, integer_pk=False) == "INTEGER"
    col.sqlite_type = sqlite_type(col.mysql_type, integer_pk=integer_pk)
    not_null = (col.not_null or primary) and not integer_pk
    return Column(col.name, col.sqlite_type, not_null, col.default, col.extra)


def _add_column(plan: AlterPlan, text: str) -> None:
    at = _position(plan, text)
    col = _parse_column(text)
    if plan.column(col.name) is not None:
        raise MySQLError(1060, f"Duplicate column name '{col.name}'")
    if col.primary:
        raise unsupported("ADD COLUMN ... PRIMARY KEY", "a table keeps the key it was created with")
    column = _schema_column(col, primary=False, single_key=False)
    plan.columns[column.ident] = column
    if _addable(column) and at is None:
        plan.extras[column.name] = column.extra
        plan.statements.append(f"ALTER TABLE {quote(plan.table)} ADD COLUMN {column.render()}")
    else:  # SQLite cannot add it in place (a position, NOT NULL without default, CURRENT_TIMESTAMP)
        plan.notes.append(("add_column", column, at))
    if col.unique:
        _add_index(plan, col.name, quote_mysql(col.name), unique=True)


def quote_mysql(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _addable(column: Column) -> bool:
    if not column.constant_default:
        return False
    return not column.not_null or (column.default is not None and column.default.upper() != "NULL")


def _modify_column(plan: AlterPlan, old: str | None, text: str) -> None:
    at = _position(plan, text)
    col = _parse_column(text)
    target = old if old is not None else col.name
    current = plan.column(target)
    if current is None:
        raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{target}' in '{plan.table}'")
    primary = current.ident in plan.spec.pk_idents
    if ident(col.name) != current.ident:
        if col.primary:
            raise unsupported("CHANGE COLUMN ... PRIMARY KEY", "a table keeps the key it was created with")
        _rename_column(plan, current, _schema_column(col, primary=False, single_key=False), at)
        if col.unique:
            _add_index(plan, col.name, quote_mysql(col.name), unique=True)
        return
    if col.primary and not primary:
        raise unsupported("MODIFY COLUMN ... PRIMARY KEY", "a table keeps the key it was created with")
    column = _schema_column(col, primary=primary, single_key=len(plan.spec.pk) == 1)
    if column.ident in plan.spec.rule.get("columns", ()) and column.affinity not in (
        "INTEGER",
        "REAL",
        "NUMERIC",
    ):
        raise unsupported("a counter column of a non-numeric type")
    plan.columns[column.ident] = column
    plan.notes.append(("modify_column", column, at))
    if col.unique:
        _add_index(plan, col.name, quote_mysql(col.name), unique=True)


def _rename_column(plan: AlterPlan, current: Column, column: Column, at: str | None = None) -> None:
    """A renamed column is a new column with the old one's values, and the old one dropped, in one
    entry: its identity is its name on every peer. It keeps its place (or goes where FIRST / AFTER
    puts it); writes that peers
    make to the old name concurrently stay with the old name (docs/mysql-compatibility.md "DDL")."""
    if plan.column(column.name) is not None:
        raise MySQLError(1060, f"Duplicate column name '{column.name}'")
    if current.ident in plan.spec.pk_idents:
        raise unsupported("renaming a primary key column", "rows are identified by their key on every peer")
    if at is None:  # it keeps its place: after the column before it
        idents = [c.ident for c in plan.spec.columns]
        place = idents.index(current.ident) if current.ident in idents else len(idents)
        at = "" if place == 0 else plan.spec.columns[place - 1].name
    if plan.spec.column(current.name) is None:
        raise unsupported("renaming a column added by the same statement")
    table = quote(plan.table)
    plan.first_extras[column.name] = column.extra
    plan.first.append(f"ALTER TABLE {table} ADD COLUMN {quote(column.name)} {column.type}")
    plan.first.append(f"UPDATE {table} SET {quote(column.name)} = {quote(current.name)}")
    if column != Column(column.name, column.type, False, None, column.extra) or at is not None:
        plan.notes.append(("modify_column", column, at))
    moved = [i for i in plan.resolved.indexes if current.ident in i.column_idents]
    _drop_column(plan, plan.resolved, current.name)
    plan.columns[column.ident] = column
    for index in moved:  # the indexes that named the old column name the new one
        short = index.name[len(plan.table) + 1 :] if index.name.startswith(plan.table + ".") else index.name
        cols = [column.name if ident(c) == current.ident else c for c in index.columns]
        plan.statements = [
            s
            for s in plan.statements
            if s
            != index_sql(
                plan.table, short, [c for c in index.columns if ident(c) != current.ident], index.unique
            )
        ]
        plan.statements.append(index_sql(plan.table, short, cols, index.unique))
        plan.indexes[ident(short)] = cols


def _alter_default(plan: AlterPlan, name: str, clause: str, value: str) -> None:
    current = plan.column(name)
    if current is None:
        raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{name}' in '{plan.table}'")
    upper = clause.upper()
    if upper.startswith("SET") and ("VISIBLE" in upper.split()[-1]):
        raise unsupported("invisible columns")
    default: str | None = None
    if upper.startswith("SET"):
        probe = _parse_column(f"`_` TEXT DEFAULT {value.strip()}")
        default = probe.default
    column = Column(current.name, current.type, current.not_null, default, dict(current.extra))
    plan.columns[column.ident] = column
    plan.notes.append(("modify_column", column, None))


def _drop_column(plan: AlterPlan, resolved: ResolvedTable, name: str) -> None:
    current = plan.column(name)
    if current is None:
        raise MySQLError(1091, f"Can't DROP '{name}'; check that column/key exists")
    if current.ident in plan.spec.pk_idents:
        raise unsupported("dropping a primary key column", "rows are identified by their key on every peer")
    if current.ident in plan.spec.rule.get("columns", ()):
        raise unsupported("dropping a counter column")
    left = [c for c in plan.spec.columns if plan.column(c.name) is not None and c.ident != current.ident]
    left += [
        c
        for k, c in plan.columns.items()
        if c is not None and plan.spec.column(k) is None and k != current.ident
    ]
    if not left:
        raise MySQLError(1090, "You can't delete all columns with ALTER TABLE; use DROP TABLE instead")
    # MySQL takes the column out of its indexes (an index left without columns goes).
    for index in resolved.indexes:
        short = index.name[len(plan.table) + 1 :] if index.name.startswith(plan.table + ".") else index.name
        if ident(short) in plan.indexes or current.ident not in index.column_idents:
            continue
        plan.statements.append(f"DROP INDEX {quote(index.name)}")
        rest = [c for c in index.columns if ident(c) != current.ident]
        if rest:
            plan.statements.append(index_sql(plan.table, short, rest, index.unique))
        plan.indexes[ident(short)] = rest or None
    plan.columns[current.ident] = None
    plan.notes.append(("drop_column", current.name, None))


# -- RENAME TABLE ------------------------------------------------------------------------------------

_RENAME_PAIR = re.compile(rf"^(?:{_NAME}\s*\.\s*)?{_NAME}\s+TO\s+(?:{_NAME}\s*\.\s*)?{_NAME}$", _I)


def handle_rename(session: SQLSession, lexed: Lexed, text: str) -> Result:
    """``RENAME TABLE a TO b [, c TO d]``."""
    match = re.match(r"^\s*RENAME\s+TABLES?\s+(.+)$", lexed.shape, _I)
    if match is None:
        raise unsupported(text.strip()[:60])
    pairs: list[tuple[str | None, str, str | None, str]] = []
    for item in split_items(match.group(1).rstrip(";")):
        pair = _RENAME_PAIR.match(item)
        if pair is None:
            raise MySQLError(
                ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax near '{item[:40]}'"
            )
        db_a, a, db_b, b = (name_of(g) if g else None for g in pair.groups())
        assert a is not None and b is not None
        pairs.append((db_a, a, db_b, b))
    for db_a, a, db_b, b in pairs:
        rename_table(session, db_a, a, db_b or db_a, b)
    return OkResult()


def rename_table(
    session: SQLSession, database: str | None, old: str, new_database: str | None, new: str
) -> None:
    """A rename is a copy and a drop in one entry: the new table is created with the old one's
    definition and rows, and the old one is dropped (writes that peers make to the old name
    concurrently are lost writes, docs/mysql-compatibility.md "DDL")."""
    from p2pdb.sql.statements import _ddl_write, _named_db

    db = _named_db(session, database)
    if _named_db(session, new_database) is not db:
        raise unsupported("RENAME TABLE to another database")
    resolved = db.catalog.schema.table(old)
    if resolved is None:
        raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{db.name}.{old}' doesn't exist")
    if ident(old) == ident(new):
        if old == new or resolved.spec.name == new:
            return
        raise unsupported("RENAME TABLE to another spelling of the same name")
    if new in db.catalog.tables:
        raise MySQLError(ErrorCode.TABLE_EXISTS_ERROR, f"Table '{new}' already exists")
    if not session.variables.get("p2pdb_replicate_drop", 1):
        raise MySQLError(
            ErrorCode.NOT_SUPPORTED_YET, "RENAME TABLE drops the old name (SET p2pdb_replicate_drop = 1)"
        )
    spec = resolved.spec
    copy = type(spec)(new, spec.columns, spec.pk, spec.rule)
    names = ", ".join(quote(c.name) for c in spec.columns)

    def rename(conn: Any) -> None:
        db.catalog.note_extras(new, {c.name: c.extra for c in spec.columns})
        if spec.rule != {"rule": "lww"}:
            db.catalog.note_rule(new, spec.rule)
        if spec.meta:
            db.catalog.note_meta(new, spec.meta)
        conn.execute(copy.render())
        for index in resolved.indexes:
            short = index.name[len(spec.name) + 1 :] if index.name.startswith(spec.name + ".") else index.name
            conn.execute(index_sql(new, short, list(index.columns), index.unique))
        conn.execute(f"INSERT INTO {quote(new)} ({names}) SELECT {names} FROM {quote(spec.name)}")
        conn.execute(f"DROP TABLE {quote(spec.name)}")

    _ddl_write(session, rename, allow_drop=True, db=db)
