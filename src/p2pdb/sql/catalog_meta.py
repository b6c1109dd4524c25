"""What the catalog knows about a table, shared by SHOW, DESCRIBE and information_schema.

From a store :class:`TableSpec` and its :class:`IndexSpec` list: each column's MySQL type, key
(PRI/UNI/MUL), default as MySQL shows it, extra (auto_increment...), and the table's
``SHOW CREATE TABLE`` text. Also the fixed facts the server reports about itself: character sets,
collations and engines, and the :class:`CatalogSource` protocol the SQL layer implements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from p2pdb.schema import ViewSpec
from p2pdb.sql.mysqltypes import (
    COLLATION_NAME,
    TypeInfo,
    output_converter,
    quote_string,
    result_column,
    type_for_column,
)
from p2pdb.sql.protocol.constants import FieldType
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import Column as ResultColumn
from p2pdb.store.schema import Column, IndexSpec, TableSpec

INFORMATION_SCHEMA = "information_schema"
TABLE_OPTIONS = f"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={COLLATION_NAME}"
PRIVILEGES = "select,insert,update,references"

#: (charset, description, default collation, maxlen): SHOW CHARACTER SET, CHARACTER_SETS.
CHARSETS: tuple[tuple[str, str, str, int], ...] = (
    ("ascii", "US ASCII", "ascii_general_ci", 1),
    ("binary", "Binary pseudo charset", "binary", 1),
    ("latin1", "cp1252 West European", "latin1_swedish_ci", 1),
    ("utf8mb3", "UTF-8 Unicode", "utf8mb3_general_ci", 3),
    ("utf8mb4", "UTF-8 Unicode", COLLATION_NAME, 4),
)
#: (collation, charset, id, default, sortlen, pad attribute): SHOW COLLATION, COLLATIONS.
COLLATIONS: tuple[tuple[str, str, int, str, int, str], ...] = (
    ("ascii_bin", "ascii", 65, "", 1, "PAD SPACE"),
    ("ascii_general_ci", "ascii", 11, "Yes", 1, "PAD SPACE"),
    ("binary", "binary", 63, "Yes", 1, "NO PAD"),
    ("latin1_bin", "latin1", 47, "", 1, "PAD SPACE"),
    ("latin1_general_ci", "latin1", 48, "", 1, "PAD SPACE"),
    ("latin1_general_cs", "latin1", 49, "", 1, "PAD SPACE"),
    ("latin1_swedish_ci", "latin1", 8, "Yes", 1, "PAD SPACE"),
    ("utf8mb3_bin", "utf8mb3", 83, "", 1, "PAD SPACE"),
    ("utf8mb3_general_ci", "utf8mb3", 33, "Yes", 1, "PAD SPACE"),
    ("utf8mb3_unicode_520_ci", "utf8mb3", 214, "", 8, "PAD SPACE"),
    ("utf8mb3_unicode_ci", "utf8mb3", 192, "", 8, "PAD SPACE"),
    ("utf8mb4_0900_ai_ci", "utf8mb4", 255, "", 0, "NO PAD"),
    ("utf8mb4_0900_as_ci", "utf8mb4", 305, "", 0, "NO PAD"),
    ("utf8mb4_0900_as_cs", "utf8mb4", 278, "", 0, "NO PAD"),
    ("utf8mb4_0900_bin", "utf8mb4", 309, "", 1, "NO PAD"),
    ("utf8mb4_bin", "utf8mb4", 46, "", 1, "PAD SPACE"),
    ("utf8mb4_general_ci", "utf8mb4", 45, "Yes", 1, "PAD SPACE"),
    ("utf8mb4_unicode_520_ci", "utf8mb4", 246, "", 8, "PAD SPACE"),
    ("utf8mb4_unicode_ci", "utf8mb4", 224, "", 8, "PAD SPACE"),
)
#: MySQL's older names: utf8 is utf8mb3.
COLLATION_ALIASES = {"utf8_bin": "utf8mb3_bin", "utf8_general_ci": "utf8mb3_general_ci",
                     "utf8_unicode_ci": "utf8mb3_unicode_ci", "utf8_unicode_520_ci": "utf8mb3_unicode_520_ci"}  # fmt: skip
#: (engine, support, comment, transactions, XA, savepoints): SHOW ENGINES, ENGINES.
ENGINES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("InnoDB", "DEFAULT", "Supports transactions, row-level locking, and foreign keys", "YES", "YES", "YES"),
)

#: (name, version, type, description): SHOW PLUGINS, information_schema.PLUGINS. All built in (no library).
PLUGINS: tuple[tuple[str, str, str, str], ...] = (
    ("mysql_native_password", "1.1", "AUTHENTICATION", "Native MySQL authentication"),
    ("caching_sha2_password", "1.0", "AUTHENTICATION", "Caching sha2 authentication"),
    ("sha256_password", "1.1", "AUTHENTICATION", "SHA256 password authentication"),
    ("InnoDB", "8.0", "STORAGE ENGINE", "Supports transactions, row-level locking, and foreign keys"),
    ("INFORMATION_SCHEMA", "8.0", "STORAGE ENGINE", "The catalog as tables"),
)

#: (privilege, context, comment): SHOW PRIVILEGES, the static MySQL privileges GRANT takes.
PRIVILEGE_LIST: tuple[tuple[str, str, str], ...] = (
    ("Alter", "Tables", "To alter the table"),
    ("Create", "Databases,Tables,Indexes", "To create new databases and tables"),
    ("Create view", "Tables", "To create new views"),
    ("Create user", "Server Admin", "To create new users"),
    ("Delete", "Tables", "To delete existing rows"),
    ("Drop", "Databases,Tables", "To drop databases, tables, and views"),
    (
        "Grant option",
        "Databases,Tables,Functions,Procedures",
        "To give to other users those privileges you possess",
    ),
    ("Index", "Tables", "To create or drop indexes"),
    ("Insert", "Tables", "To insert data into tables"),
    ("Lock tables", "Databases", "To use LOCK TABLES (together with SELECT privilege)"),
    ("Process", "Server Admin", "To view the plain text of currently executing queries"),
    ("References", "Databases,Tables", "To have references on tables"),
    ("Reload", "Server Admin", "To reload or refresh tables, logs and privileges"),
    ("Select", "Tables", "To retrieve rows from table"),
    ("Show databases", "Server Admin", "To see all databases with SHOW DATABASES"),
    ("Show view", "Tables", "To see views with SHOW CREATE VIEW"),
    ("Super", "Server Admin", "To use KILL thread, SET GLOBAL, CHANGE MASTER, etc."),
    ("Update", "Tables", "To update existing rows"),
    ("Usage", "Server Admin", "No privileges - allow connect only"),
)


class CatalogSource(Protocol):
    """The schema the catalog describes; the SQL layer implements it over its store databases."""

    def database_names(self) -> list[str]:
        """User databases, sorted (information_schema excluded)."""
        ...

    def tables(self, database: str) -> list[TableSpec]:
        """The tables of ``database``; raises KeyError for an unknown database."""
        ...

    def indexes(self, database: str) -> list[IndexSpec]:
        """The indexes of every table of ``database``; raises KeyError for an unknown database."""
        ...

    def row_count(self, database: str, table: str) -> int:
        """Rows in ``table`` now (exact or an estimate)."""
        ...

    def encrypted(self, database: str) -> bool:
        """Are the entries of ``database`` sealed for its readers (docs/security.md)?"""
        ...


def database_views(source: CatalogSource, database: str) -> list[ViewSpec]:
    """The views of ``database`` (sources without views have none)."""
    views = getattr(source, "views", None)
    if views is None:
        return []
    try:
        return list(views(database))
    except KeyError:
        return []


def create_view_sql(view: ViewSpec) -> str:
    """SHOW CREATE VIEW's text: the query as the client wrote it, with MySQL's fixed prefix."""
    columns = f" ({','.join(quote_ident(c) for c in view.columns)})" if view.columns else ""
    return (
        "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER"
        f" VIEW {quote_ident(view.name)}{columns} AS {view.query}"
    )


def quote_ident(name: str) -> str:
    """A MySQL identifier in backticks, embedded backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


# -- lookups --------------------------------------------------------------------------------------


def unknown_database(name: str) -> MySQLError:
    return MySQLError(ErrorCode.BAD_DB_ERROR, f"Unknown database '{name}'")


def no_database() -> MySQLError:
    return MySQLError(ErrorCode.NO_DB_ERROR, "No database selected")


def database_tables(source: CatalogSource, database: str) -> list[TableSpec]:
    try:
        return source.tables(database)
    except KeyError:
        raise unknown_database(database) from None


def find_table(source: CatalogSource, database: str | None, name: str) -> TableSpec:
    """The table ``database.name`` (exact name first, then ignoring case, as SQLite resolves it).

    Raises MySQLError 1046 without a database, 1049 for an unknown one, 1146 for an unknown table.
    """
    if database is None:
        raise no_database()
    tables = database_tables(source, database)
    for spec in tables:
        if spec.name == name:
            return spec
    folded = name.casefold()
    for spec in tables:
        if spec.name.casefold() == folded:
            return spec
    view_columns = getattr(source, "view_columns", None)  # DESCRIBE / SHOW COLUMNS of a view
    view: TableSpec | None = view_columns(database, name) if view_columns is not None else None
    if view is not None:
        return view
    raise MySQLError(ErrorCode.NO_SUCH_TABLE, f"Table '{database}.{name}' doesn't exist")


def table_indexes(source: CatalogSource, database: str, spec: TableSpec) -> list[IndexSpec]:
    """The indexes of one table in MySQL's order: unique ones first, then the others."""
    return indexes_of(spec, source.indexes(database))


def indexes_of(spec: TableSpec, indexes: Sequence[IndexSpec]) -> list[IndexSpec]:
    """The table's own indexes among a database's, unique ones first (MySQL's order)."""
    mine = [index for index in indexes if index.table == spec.name]
    return [i for i in mine if i.unique] + [i for i in mine if not i.unique]


# -- columns --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnFacts:
    """One column as SHOW COLUMNS and information_schema.COLUMNS describe it."""

    name: str
    position: int  # 1-based ORDINAL_POSITION
    info: TypeInfo
    nullable: bool
    key: str  # "PRI", "UNI", "MUL" or ""
    default: str | None  # the Default column: the value, unquoted; None is NULL
    default_clause: str  # "DEFAULT 'x'" as SHOW CREATE TABLE writes it, or ""
    extra: str  # "auto_increment", "DEFAULT_GENERATED" or ""
    comment: str
    auto_increment: bool
    pk: bool
    unique: bool  # the single column of a one-column UNIQUE index
    multiple_key: bool  # the first column of another non-primary index
    #: the column's collation when not the table's default (``COLLATE utf8mb4_bin``), else None
    own_collation: str | None = None

    @property
    def collation_name(self) -> str | None:
        """COLLATION_NAME / SHOW FULL COLUMNS' Collation: the column's own or the default."""
        return (self.own_collation or self.info.collation_name) if self.info.is_text else None


def describe_table(spec: TableSpec, indexes: Sequence[IndexSpec]) -> list[ColumnFacts]:
    """Facts for every column of ``spec`` (``indexes``: the table's own, as from table_indexes)."""
    pk = set(spec.pk)
    unique = {i.columns[0] for i in indexes if i.unique and len(i.columns) == 1}
    multiple = {i.columns[0] for i in indexes if not (i.unique and len(i.columns) == 1)}
    facts = []
    for position, col in enumerate(spec.columns, 1):
        info = type_for_column(col)
        auto = bool(col.extra.get("ai")) if col.extra else False
        nullable = not (col.not_null or col.name in pk)
        default, clause, generated = _default(col, info, nullable)
        key = (
            "PRI"
            if col.name in pk
            else "UNI"
            if col.name in unique
            else "MUL"
            if col.name in multiple
            else ""
        )
        extra = "auto_increment" if auto else "DEFAULT_GENERATED" if generated else ""
        if col.extra.get("ou"):  # ON UPDATE CURRENT_TIMESTAMP
            stamp = f"CURRENT_TIMESTAMP({info.decimals})" if info.decimals else "CURRENT_TIMESTAMP"
            extra = f"{extra} on update {stamp}".strip()
            clause = f"{clause} ON UPDATE {stamp}".strip()
        comment = col.extra.get("cm") if col.extra else None
        facts.append(
            ColumnFacts(
                col.name,
                position,
                info,
                nullable,
                key,
                default,
                clause,
                extra,
                comment if isinstance(comment, str) else "",
                auto,
                col.name in pk,
                col.name in unique,
                col.name in multiple,
                col.extra.get("co") if info.is_text else None,
            )
        )
    return facts


_EXPRESSION_DEFAULTS = {"CURRENT_DATE": "curdate()", "CURRENT_TIME": "curtime()"}


def _default(col: Column, info: TypeInfo, nullable: bool) -> tuple[str | None, str, bool]:
    """(value shown in SHOW COLUMNS, clause of SHOW CREATE TABLE, DEFAULT_GENERATED?)."""
    text = col.default.strip() if col.default is not None else None
    if text is None or text.upper() == "NULL":
        if nullable and info.takes_literal_default:
            prefix = "NULL " if info.field_type == FieldType.TIMESTAMP else ""
            return None, prefix + "DEFAULT NULL", False
        return None, "", False
    upper = text.upper()
    if upper == "CURRENT_TIMESTAMP":
        shown = f"CURRENT_TIMESTAMP({info.decimals})" if info.decimals else "CURRENT_TIMESTAMP"
        return shown, f"DEFAULT {shown}", True
    if upper in _EXPRESSION_DEFAULTS:
        shown = _EXPRESSION_DEFAULTS[upper]
        return shown, f"DEFAULT ({shown})", True
    if text.startswith("("):  # an expression default: (uuid()), (json_array())...
        return text[1:-1], f"DEFAULT {text}", True
    if upper.startswith("X'"):
        shown = "0x" + text[2:-1].upper()
        return shown, f"DEFAULT {shown}", False
    value = text[1:-1].replace("''", "'") if text.startswith("'") else text
    if not info.takes_literal_default:  # TEXT/BLOB/JSON: MySQL 8 keeps an expression default
        introducer = "_utf8mb4" if info.is_text else "_binary"
        return f"{introducer}\\'{value}\\'", f"DEFAULT ({introducer}{quote_string(value)})", True
    value = _literal(value, info)
    if info.field_type == FieldType.BIT:
        return value, f"DEFAULT {value}", False
    return value, f"DEFAULT {quote_string(value)}", False


def _literal(value: str, info: TypeInfo) -> str:
    """A default literal normalised to the column type, as MySQL stores it ('0.00' for decimal(p,2))."""
    convert = output_converter(info)
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if info.field_type == FieldType.BIT:
        return f"b'{int(number):b}'"
    if info.field_type == FieldType.NEWDECIMAL and convert is not None:
        return str(convert(value))
    if info.field_type in (FieldType.FLOAT, FieldType.DOUBLE):
        text = repr(float(number))
        return text[:-2] if text.endswith(".0") else text
    if info.numeric_scale == 0 or info.field_type == FieldType.YEAR:
        return str(int(number))
    return value


# -- SHOW CREATE TABLE and result columns ---------------------------------------------------------


def _key_columns(columns: Sequence[str]) -> str:
    return "(" + ",".join(quote_ident(c) for c in columns) + ")"


def create_table_sql(spec: TableSpec, indexes: Sequence[IndexSpec], auto_increment: int | None = None) -> str:
    """The table as MySQL 8's ``SHOW CREATE TABLE`` writes it (``AUTO_INCREMENT=n`` past 1)."""
    lines = []
    for facts in describe_table(spec, indexes):
        parts = [quote_ident(facts.name), facts.info.column_type]
        if facts.own_collation:
            charset = facts.own_collation.split("_", 1)[0]
            if charset not in ("utf8mb4", "binary"):  # another character set than the table's, as MySQL
                parts.append(f"CHARACTER SET {charset}")
            parts.append(f"COLLATE {facts.own_collation}")
        if not facts.nullable:
            parts.append("NOT NULL")
        if facts.default_clause:
            parts.append(facts.default_clause)
        if facts.auto_increment:
            parts.append("AUTO_INCREMENT")
        if facts.comment:
            parts.append("COMMENT " + quote_string(facts.comment))
        lines.append(" ".join(parts))
    if spec.pk:
        lines.append("PRIMARY KEY " + _key_columns(spec.pk))
    for index in indexes:
        kind = "UNIQUE KEY" if index.unique else "KEY"
        lines.append(f"{kind} {quote_ident(index.name)} {_key_columns(index.columns)}")
    lines.extend(constraint_lines(spec))
    body = ",\n  ".join(lines)
    comment = table_comment(spec)
    options = TABLE_OPTIONS
    if auto_increment is not None and auto_increment > 1:
        options = options.replace("ENGINE=InnoDB ", f"ENGINE=InnoDB AUTO_INCREMENT={auto_increment} ", 1)
    if comment:
        options = f"{options} COMMENT={quote_string(comment)}"
    return f"CREATE TABLE {quote_ident(spec.name)} (\n  {body}\n) {options}"


def table_comment(spec: TableSpec) -> str:
    """The table's comment as MySQL shows it: the COMMENT it was given, or, for a conflict rule other
    than last-writer-wins chosen another way, the comment that chooses it (``p2pdb:counter(hits)``),
    so ``SHOW CREATE TABLE`` and a dump carry the rule."""
    given = spec.meta.get("cm")
    if given:
        return str(given)
    rule = dict(spec.rule or {})
    name = rule.pop("rule", "lww")
    if name == "lww" and not rule:
        return ""
    columns = rule.pop("columns", None)
    if columns is None or rule:  # a rule with other options: name it (ddl accepts only name(columns))
        return f"p2pdb:{name}"
    names = []
    for column in columns:
        found = spec.column(column)
        names.append(found.name if found is not None else column)
    return f"p2pdb:{name}({', '.join(names)})"


def constraint_lines(spec: TableSpec) -> list[str]:
    """Foreign keys, then CHECK constraints, as SHOW CREATE TABLE writes them."""
    lines = []
    meta = spec.meta
    for key in sorted(k for k in meta if k.startswith("fk:")):
        fk = meta[key]
        line = (
            f"CONSTRAINT {quote_ident(key[3:])} FOREIGN KEY {_key_columns(fk['c'])}"
            f" REFERENCES {quote_ident(fk['rt'])} {_key_columns(fk['rc'])}"
        )
        for clause, action in (("DELETE", fk["od"]), ("UPDATE", fk["ou"])):
            if action != "RESTRICT":
                line += f" ON {clause} {action}"
        lines.append(line)
    for key in sorted(k for k in meta if k.startswith("ck:")):
        lines.append(f"CONSTRAINT {quote_ident(key[3:])} CHECK ({meta[key]['e']})")
    return lines


def table_columns(spec: TableSpec, indexes: Sequence[IndexSpec], database: str) -> list[ResultColumn]:
    """Result-set columns for ``SELECT * FROM`` the table, with MySQL's key and NOT NULL flags."""
    return [
        result_column(
            f.name,
            f.info,
            table=spec.name,
            database=database,
            not_null=not f.nullable,
            pk=f.pk,
            auto_increment=f.auto_increment,
            unique=f.unique,
            multiple_key=f.multiple_key,
            no_default=not f.nullable and f.default is None,
        )
        for f in describe_table(spec, indexes)
    ]
