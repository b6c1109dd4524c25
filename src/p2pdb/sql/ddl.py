"""MySQL DDL to SQLite DDL, keeping what MySQL clients need to see again.

CREATE TABLE is parsed with sqlglot (MySQL dialect) and rendered for SQLite by hand: each column's
SQLite declared type is chosen for the right affinity (integers, reals, text, blobs; a single
integer primary key becomes SQLite's rowid alias), while the MySQL type as written, AUTO_INCREMENT
and the comment travel as column extras in the replicated schema (``SHOW CREATE TABLE``, result
metadata). Index names are per table in MySQL and per database in SQLite, so SQLite names are
``<table>.<index>``. Foreign keys and CHECK constraints are accepted and not enforced (a warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from p2pdb.schema import column_collation
from p2pdb.sql.mysqltypes import COLLATION_NAME
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.store.schema import quote

_INT = {"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "BOOLEAN", "BOOL", "YEAR", "SERIAL"}
_INT_PREFIXES = ("TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "UTINYINT", "USMALLINT", "UMEDIUMINT",
                 "UINT", "UBIGINT", "BIT")  # fmt: skip
_REAL = ("FLOAT", "DOUBLE", "REAL")
_NUMERIC = ("DECIMAL", "NUMERIC", "DEC", "FIXED", "UDECIMAL", "UDOUBLE", "UFLOAT")
_BLOB = ("BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY")


@dataclass(slots=True)
class ColumnPlan:
    name: str
    mysql_type: str
    sqlite_type: str
    not_null: bool
    default: str | None
    auto_increment: bool
    comment: str | None
    primary: bool = False
    #: a column-level ``UNIQUE [KEY]``: MySQL makes it a unique index named after the column
    unique: bool = False
    #: ``ON UPDATE CURRENT_TIMESTAMP``: an UPDATE that changes the row sets it to the writer's now
    on_update: bool = False
    #: ``COLLATE x`` (or the BINARY attribute) when not the default collation: decides the column's
    #: SQLite collation (p2pdb.schema.column_collation)
    collation: str | None = None

    @property
    def extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"mt": self.mysql_type}
        if self.auto_increment:
            extra["ai"] = True
        if self.comment:
            extra["cm"] = self.comment
        if self.on_update:
            extra["ou"] = True
        if self.collation:
            extra["co"] = self.collation
        return extra

    def render(self) -> str:
        parts = [quote(self.name), self.sqlite_type]
        collation = column_collation(self.extra, key=self.primary)
        if collation is not None:
            parts.append(f"COLLATE {collation}")
        if self.not_null and not (self.primary and self.sqlite_type == "INTEGER"):
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        return " ".join(parts)


@dataclass(slots=True)
class TablePlan:
    name: str
    if_not_exists: bool
    columns: list[ColumnPlan]
    pk: list[str]
    indexes: list[tuple[str, list[str], bool]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Conflict rule from the table comment ``COMMENT='p2pdb:counter(col, ...)'``; None = last-writer-wins.
    rule: dict[str, Any] | None = None
    #: The database of a qualified name (``CREATE TABLE shop.t``); None = the session's.
    database: str | None = None
    #: Table meta: comment, CHECK constraints, foreign keys (p2pdb.schema.check_meta).
    meta: dict[str, Any] = field(default_factory=dict)
    #: The ENGINE the statement names (None: none). Every table is stored alike (replicated, on
    #: disk or in memory with the node's storage): another engine than InnoDB draws warning 1266.
    engine: str | None = None

    def statements(self) -> list[str]:
        cols = ", ".join(c.render() for c in self.columns)
        key = f", PRIMARY KEY ({', '.join(quote(c) for c in self.pk)})" if self.pk else ""
        create = "CREATE TABLE IF NOT EXISTS" if self.if_not_exists else "CREATE TABLE"
        out = [f"{create} {quote(self.name)} ({cols}{key})"]
        out.extend(index_sql(self.name, name, cols_, unique) for name, cols_, unique in self.indexes)
        return out

    @property
    def extras(self) -> dict[str, dict[str, Any]]:
        return {c.name: c.extra for c in self.columns}


def index_sql(table: str, name: str, columns: list[str], unique: bool, if_not_exists: bool = False) -> str:
    kind = "UNIQUE INDEX" if unique else "INDEX"
    cond = " IF NOT EXISTS" if if_not_exists else ""
    cols = ", ".join(quote(c) for c in columns)
    return f"CREATE {kind}{cond} {quote(sqlite_index_name(table, name))} ON {quote(table)} ({cols})"


def sqlite_index_name(table: str, index: str) -> str:
    return f"{table}.{index}"


def mysql_index_name(table: str, sqlite_name: str) -> str:
    prefix = table + "."
    return sqlite_name[len(prefix) :] if sqlite_name.startswith(prefix) else sqlite_name


def sqlite_type(mysql_type: str, *, integer_pk: bool) -> str:
    upper = mysql_type.upper()
    base = upper.split("(")[0].split(" ")[0]
    if integer_pk:
        return "INTEGER"
    if base in _INT or base.startswith(_INT_PREFIXES):
        return "BLOB" if base == "BIT" else "INTEGER"
    if base.startswith(_REAL):
        return "REAL"
    if base.startswith(_NUMERIC):
        return "NUMERIC"
    if base in ("CHAR", "VARCHAR", "NCHAR", "NVARCHAR") and "(" in upper:
        length = upper.split("(")[1].split(")")[0].strip()
        return f"{'VARCHAR' if base.endswith('VARCHAR') else 'CHAR'}({int(length)})"
    if base in _BLOB:
        return "BLOB"
    return "TEXT"


_NOW_NAMES = frozenset(("NOW", "LOCALTIME", "LOCALTIMESTAMP", "CURRENT_TIMESTAMP"))
#: Expression defaults the replicated schema carries (p2pdb.schema: a closed set), by MySQL name.
_EXPRESSIONS = {"UUID": "(uuid())", "JSON_ARRAY": "(json_array())", "JSON_OBJECT": "(json_object())",
                "RAND": "(rand())", "CURDATE": "CURRENT_DATE", "CURTIME": "CURRENT_TIME"}  # fmt: skip


def _default_sql(node: exp.Expression) -> str | None:
    """A DEFAULT as the replicated schema keeps it: a literal, CURRENT_TIMESTAMP (NOW(), LOCALTIME...,
    any precision), CURRENT_DATE/TIME, or one of a few expressions evaluated by the writing node."""
    if isinstance(node, exp.Paren):
        return _default_sql(node.this)
    if isinstance(node, exp.Localtimestamp | exp.Localtime):
        return "CURRENT_TIMESTAMP"
    if isinstance(node, exp.Uuid):
        return "(uuid())"
    if isinstance(node, exp.Anonymous) and not node.expressions:
        name = str(node.this).upper()
        if name in _NOW_NAMES:
            return "CURRENT_TIMESTAMP"
        return _EXPRESSIONS.get(name)
    if isinstance(node, exp.Func) and not node.args.get("expressions") and node.key.upper() in _EXPRESSIONS:
        return _EXPRESSIONS[node.key.upper()]
    return _literal_sql(node)


def _on_update(node: exp.Expression) -> bool:
    if isinstance(node, exp.CurrentTimestamp | exp.Localtimestamp | exp.Localtime):
        return True
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in _NOW_NAMES


def _literal_sql(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)):
        return {exp.CurrentTimestamp: "CURRENT_TIMESTAMP", exp.CurrentDate: "CURRENT_DATE"}.get(
            type(node), "CURRENT_TIME"
        )
    if isinstance(node, exp.Boolean):
        return "1" if node.this else "0"
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return "-" + str(node.this.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "'" + str(node.this).replace("'", "''") + "'"
        text = str(node.this)
        float(text)  # numbers only
        return text
    return None


def _identifier(node: exp.Expression | None) -> str:
    if isinstance(node, exp.Identifier):
        return str(node.this)
    if isinstance(node, exp.Column):
        return str(node.name)
    if isinstance(node, exp.Ordered):
        return _identifier(node.this)
    if node is None:
        raise MySQLError(ErrorCode.PARSE_ERROR, "expected an identifier")
    return str(node.name) if hasattr(node, "name") and node.name else node.sql()


_QUOTED = re.compile(r"('(?:[^'\\]|\\.|'')*')")


def _lower_keywords(text: str) -> str:
    """A column type in lower case, but its quoted ENUM/SET members as written."""
    return "".join(part if part.startswith("'") else part.lower() for part in _QUOTED.split(text))


def column_plan(coldef: exp.ColumnDef) -> ColumnPlan:
    name = _identifier(coldef.this)
    kind = coldef.args.get("kind")
    mysql_type = _lower_keywords(kind.sql(dialect="mysql")) if kind is not None else "text"
    not_null = False
    default: str | None = None
    auto = False
    comment = None
    primary = False
    unique = False
    on_update = False
    collation: str | None = None
    for constraint in coldef.args.get("constraints") or []:
        ckind = constraint.args.get("kind")
        if isinstance(ckind, exp.NotNullColumnConstraint):
            not_null = not ckind.args.get("allow_null")
        elif isinstance(ckind, exp.DefaultColumnConstraint):
            default = _default_sql(ckind.this)
            if default is None:
                raise MySQLError(
                    ErrorCode.NOT_SUPPORTED_YET,
                    f"This version of P2PDB doesn't yet support 'DEFAULT {ckind.this.sql('mysql')[:60]}'"
                    " (defaults are literals, CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_TIME, (uuid()),"
                    " (rand()), (json_array()) or (json_object()))",
                )
        elif isinstance(ckind, exp.OnUpdateColumnConstraint):
            if not _on_update(ckind.this):
                raise MySQLError(
                    ErrorCode.NOT_SUPPORTED_YET,
                    f"This version of P2PDB doesn't yet support 'ON UPDATE {ckind.this.sql('mysql')[:40]}'",
                )
            on_update = True
        elif isinstance(ckind, exp.AutoIncrementColumnConstraint):
            auto = True
        elif isinstance(ckind, exp.ComputedColumnConstraint):
            # Refused rather than stored as a plain column that would hold NULL (as it did).
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET,
                "This version of P2PDB doesn't yet support 'generated columns' (compute the value in"
                " the query or in a view)",
            )
        elif isinstance(ckind, exp.CommentColumnConstraint):
            comment = str(ckind.this.this) if isinstance(ckind.this, exp.Literal) else None
        elif isinstance(ckind, exp.PrimaryKeyColumnConstraint):
            primary = True
        elif isinstance(ckind, exp.UniqueColumnConstraint):
            unique = True
        elif isinstance(ckind, exp.CollateColumnConstraint):
            collation = _collation_name(ckind.this)
        elif isinstance(ckind, exp.BinaryColumnConstraint):
            collation = collation or BIN_COLLATION  # MySQL: the _bin collation of the charset
        elif isinstance(ckind, exp.CharacterSetColumnConstraint) and ckind.this.name.lower() == "binary":
            mysql_type = _binary_type(mysql_type)  # VARCHAR(n) CHARACTER SET binary is VARBINARY(n)
    if collation == DEFAULT_COLLATION:
        collation = None
    return ColumnPlan(
        name, mysql_type, "", not_null, default, auto, comment, primary, unique, on_update, collation
    )


DEFAULT_COLLATION = COLLATION_NAME
BIN_COLLATION = "utf8mb4_bin"
_BINARY_TYPES = {"char": "binary", "varchar": "varbinary", "tinytext": "tinyblob", "text": "blob",
                 "mediumtext": "mediumblob", "longtext": "longblob"}  # fmt: skip


def _collation_name(node: exp.Expression) -> str:
    from p2pdb.sql.catalog_meta import COLLATION_ALIASES, COLLATIONS

    name = (node.name if isinstance(node, (exp.Identifier, exp.Var, exp.Column)) else node.sql()).lower()
    name = name.strip("'\"`")
    name = COLLATION_ALIASES.get(name, name)
    if name not in {c[0] for c in COLLATIONS}:
        raise MySQLError(1273, f"Unknown collation: '{name}'")
    return name


def _binary_type(mysql_type: str) -> str:
    base, paren, rest = mysql_type.partition("(")
    return _BINARY_TYPES.get(base, base) + paren + rest


def plan_create_table(sql: str) -> TablePlan:
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise MySQLError(ErrorCode.PARSE_ERROR, f"You have an error in your SQL syntax: {exc}") from exc
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        if isinstance(tree, exp.Create) and tree.args.get("expression") is not None:
            raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "CREATE TABLE ... SELECT is not supported here")
        raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "this CREATE TABLE form is not supported")
    plan = declared_plan(tree)
    finish_plan(plan)
    return plan


def declared_plan(tree: exp.Create, *, meta: dict[str, Any] | None = None) -> TablePlan:
    """What a CREATE TABLE declares: its columns, keys, indexes and rule, before :func:`finish_plan`
    (``CREATE TABLE ... SELECT`` adds the query's columns in between)."""
    schema = tree.this
    table = schema.this if isinstance(schema, exp.Schema) else schema
    name = str(table.name)
    plan = TablePlan(name, bool(tree.args.get("exists")), [], [], database=str(table.db) or None)
    plan.meta.update(meta or {})
    pk: list[str] = []
    for item in schema.expressions if isinstance(schema, exp.Schema) else ():
        if isinstance(item, exp.ColumnDef):
            col = column_plan(item)
            plan.columns.append(col)
            for constraint in item.args.get("constraints") or []:
                ckind = constraint.args.get("kind")
                if isinstance(ckind, exp.CheckColumnConstraint):
                    add_check(plan, None, ckind.this)
                elif isinstance(ckind, exp.Reference):
                    add_foreign_key(plan, None, [col.name], ckind)
            if col.primary:
                pk.append(col.name)
            if col.unique:
                plan.indexes.append((col.name, [col.name], True))
        elif isinstance(item, exp.PrimaryKey):
            pk = [_identifier(e) for e in item.expressions]
        elif isinstance(item, (exp.UniqueColumnConstraint, exp.IndexColumnConstraint)):
            cols = _index_columns(item)
            iname = str(item.this.name) if isinstance(item.this, exp.Identifier | exp.Expression) else ""
            unique = isinstance(item, exp.UniqueColumnConstraint) or bool(item.args.get("kind") == "UNIQUE")
            plan.indexes.append((iname or cols[0], cols, unique))
        elif isinstance(item, exp.Constraint):
            inner = item.expressions[0] if item.expressions else None
            if isinstance(inner, exp.PrimaryKey):
                pk = [_identifier(e) for e in inner.expressions]
            elif isinstance(inner, exp.UniqueColumnConstraint):
                plan.indexes.append((str(item.this.name), _index_columns(inner), True))
            elif isinstance(inner, exp.CheckColumnConstraint):
                add_check(plan, str(item.this.name), inner.this)
            elif isinstance(inner, exp.ForeignKey):
                add_foreign_key(
                    plan,
                    str(item.this.name),
                    [_identifier(e) for e in inner.expressions],
                    inner.args["reference"],
                )
            else:
                plan.warnings.append(f"constraint {item.this.name} is ignored")
        elif isinstance(item, exp.CheckColumnConstraint):
            add_check(plan, None, item.this)
        elif isinstance(item, exp.ForeignKey):
            add_foreign_key(plan, None, [_identifier(e) for e in item.expressions], item.args["reference"])
        else:
            plan.warnings.append(f"{item.sql('mysql')[:60]} is ignored")
    plan.pk = pk
    properties = tree.args.get("properties")
    engine = properties.find(exp.EngineProperty) if properties is not None else None
    if engine is not None:
        plan.engine = engine.this.name if isinstance(engine.this, exp.Expression) else str(engine.this)
    plan.rule = _rule_from_comment(tree)
    comment = table_comment(tree)
    if comment:
        plan.meta["cm"] = comment
    start = properties.find(exp.AutoIncrementProperty) if properties is not None else None
    if start is not None and isinstance(start.this, exp.Literal) and not start.this.is_string:
        first = int(str(start.this.this)) if str(start.this.this).isdigit() else 1
        if first > 1:  # CREATE TABLE ... AUTO_INCREMENT = n: the first generated id
            plan.meta["ai"] = min(first, 2**64 - 1)
    return plan


def table_comment(tree: exp.Expression) -> str | None:
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.SchemaCommentProperty) and isinstance(prop.this, exp.Literal):
            return str(prop.this.this)
    return None


def add_check(plan: TablePlan, name: str | None, expression: exp.Expression) -> str:
    """A CHECK constraint (named ``<table>_chk_<n>`` when unnamed, as MySQL does)."""
    if not name:
        n = 1 + sum(1 for k in plan.meta if k.startswith("ck:"))
        name = f"{plan.name}_chk_{n}"
        while f"ck:{name}" in plan.meta:
            n += 1
            name = f"{plan.name}_chk_{n}"
    plan.meta[f"ck:{name}"] = {"e": expression.sql(dialect="mysql")}
    return name


_FK_ACTION = re.compile(
    r"^ON\s+(DELETE|UPDATE)\s+(RESTRICT|CASCADE|SET\s+NULL|NO\s+ACTION|SET\s+DEFAULT)$", re.I
)


def add_foreign_key(plan: TablePlan, name: str | None, columns: list[str], reference: exp.Expression) -> str:
    """A FOREIGN KEY (named ``<table>_ibfk_<n>`` when unnamed, as MySQL does)."""
    target = reference.this
    table = target.this if isinstance(target, exp.Schema) else target
    ref_columns = [_identifier(e) for e in target.expressions] if isinstance(target, exp.Schema) else []
    if len(ref_columns) != len(columns):
        raise MySQLError(
            1239,
            f"Incorrect foreign key definition for '{name or columns[0]}': Key reference and table reference don't match",
        )
    actions = {"DELETE": "RESTRICT", "UPDATE": "RESTRICT"}
    for option in reference.args.get("options") or []:
        match = _FK_ACTION.match(" ".join(str(option).split()))
        if match:
            actions[match.group(1).upper()] = " ".join(match.group(2).upper().split())
    if not name:
        n = 1 + sum(1 for k in plan.meta if k.startswith("fk:"))
        name = f"{plan.name}_ibfk_{n}"
    plan.meta[f"fk:{name}"] = {
        "c": columns,
        "rt": str(table.name),
        "rc": ref_columns,
        "od": actions["DELETE"],
        "ou": actions["UPDATE"],
    }
    return name


def finish_plan(plan: TablePlan) -> None:
    """Settle the key and each column's SQLite type once every column is known."""
    by_name: dict[str, ColumnPlan] = {}
    for col in plan.columns:
        if col.name.lower() in by_name:
            raise MySQLError(1060, f"Duplicate column name '{col.name}'")
        by_name[col.name.lower()] = col
    pk = plan.pk
    if not pk:
        # An AUTO_INCREMENT column without a declared key becomes the key; without either, rows get
        # the store's hidden identity (a table without a primary key, as MySQL allows).
        pk = [c.name for c in plan.columns if c.auto_increment][:1]
    missing = [c for c in pk if c.lower() not in by_name]
    if missing:
        raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Key column '{missing[0]}' doesn't exist in table")
    pk = plan.pk = [by_name[c.lower()].name for c in pk]
    for col in plan.columns:
        col.primary = col.name in pk
        integer_pk = (
            len(pk) == 1 and col.primary and sqlite_type(col.mysql_type, integer_pk=False) == "INTEGER"
        )
        if integer_pk or not col.sqlite_type:  # a column copied from another table keeps its type
            col.sqlite_type = sqlite_type(col.mysql_type, integer_pk=integer_pk)


def _index_columns(item: exp.Expression) -> list[str]:
    exprs = item.expressions or (item.this.expressions if isinstance(item.this, exp.Schema) else [])
    if not exprs and isinstance(item.args.get("expressions"), list):
        exprs = item.args["expressions"]
    cols = [_identifier(e) for e in exprs]
    if not cols:
        raise MySQLError(ErrorCode.PARSE_ERROR, f"cannot read the columns of {item.sql('mysql')}")
    return cols


_RULE_COMMENT = re.compile(r"^\s*p2pdb:\s*(\w+)\s*(?:\(([^)]*)\))?\s*$", re.IGNORECASE)


def _rule_from_comment(tree: exp.Expression) -> dict[str, Any] | None:
    """``COMMENT='p2pdb:counter(hits, views)'`` chooses the table's conflict rule (docs/crdt.md)."""
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.SchemaCommentProperty) and isinstance(prop.this, exp.Literal):
            match = _RULE_COMMENT.match(str(prop.this.this))
            if match is None:
                return None
            rule: dict[str, Any] = {"rule": match.group(1).lower()}
            if match.group(2):
                rule["columns"] = [c.strip().strip("`") for c in match.group(2).split(",") if c.strip()]
            return rule
    return None
