"""The MySQL catalog over real store databases: SHOW, DESCRIBE and information_schema.

Expected headers and values are MySQL 8.0's, with this server's collation (utf8mb4_general_ci).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import apsw
import pytest

from p2pdb.log import Manifest
from p2pdb.log.identity import Identity
from p2pdb.sql.catalog import (
    describe_table,
    find_table,
    is_catalog_statement,
    like,
    refresh_information_schema,
    show,
    table_columns,
    table_indexes,
)
from p2pdb.sql.protocol.constants import ColumnFlag, FieldType
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.protocol.results import ResultSet
from p2pdb.store import Database, IndexSpec, TableSpec

ITEMS_EXTRAS = {
    "id": {"mt": "int unsigned", "ai": True},
    "name": {"mt": "varchar(20)", "cm": "what it's called"},
    "price": {"mt": "decimal(10,2)"},
    "kind": {"mt": "enum('a','b')"},
    "created": {"mt": "datetime"},
    "flag": {"mt": "tinyint(1)"},
    "body": {"mt": "text"},
}
ITEMS_SQL = (
    "CREATE TABLE items (id INTEGER NOT NULL, name TEXT NOT NULL, price NUMERIC NOT NULL DEFAULT 0,"
    " kind TEXT DEFAULT 'a', created TEXT DEFAULT CURRENT_TIMESTAMP, flag INTEGER, body TEXT,"
    " PRIMARY KEY (id))"
)
LINES_EXTRAS = {
    "order_id": {"mt": "bigint"},
    "line": {"mt": "smallint unsigned"},
    "qty": {"mt": "int"},
    "code": {"mt": "char(3)"},
    "ts": {"mt": "timestamp(3)"},
    "bits": {"mt": "bit(8)"},
    "data": {"mt": "json"},
    "raw": {"mt": "varbinary(16)"},
}
LINES_SQL = (
    "CREATE TABLE order_lines (order_id INTEGER NOT NULL, line INTEGER NOT NULL, qty INTEGER NOT NULL"
    " DEFAULT 1, code TEXT NOT NULL DEFAULT 'a''b', ts TEXT, bits INTEGER DEFAULT 5, data TEXT, raw BLOB,"
    " PRIMARY KEY (order_id, line))"
)

ITEMS_CREATE = """CREATE TABLE `items` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(20) NOT NULL COMMENT 'what it''s called',
  `price` decimal(10,2) NOT NULL DEFAULT '0.00',
  `kind` enum('a','b') DEFAULT 'a',
  `created` datetime DEFAULT CURRENT_TIMESTAMP,
  `flag` tinyint(1) DEFAULT NULL,
  `body` text,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_name` (`name`),
  KEY `ix_kind_price` (`kind`,`price`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"""

LINES_CREATE = """CREATE TABLE `order_lines` (
  `order_id` bigint NOT NULL,
  `line` smallint unsigned NOT NULL,
  `qty` int NOT NULL DEFAULT '1',
  `code` char(3) NOT NULL DEFAULT 'a''b',
  `ts` timestamp(3) NULL DEFAULT NULL,
  `bits` bit(8) DEFAULT b'101',
  `data` json,
  `raw` varbinary(16) DEFAULT NULL,
  PRIMARY KEY (`order_id`,`line`),
  UNIQUE KEY `lines_code_qty` (`code`,`qty`),
  KEY `lines_ts` (`ts`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"""


class StoreSource:
    """A CatalogSource over store databases, as the SQL layer provides it."""

    def __init__(self, dbs: Mapping[str, Database]) -> None:
        self.dbs = dict(dbs)

    def database_names(self) -> list[str]:
        return sorted(self.dbs)

    def tables(self, database: str) -> list[TableSpec]:
        return list(self.dbs[database].catalog.tables.values())

    def indexes(self, database: str) -> list[IndexSpec]:
        return list(self.dbs[database].catalog.indexes.values())

    def row_count(self, database: str, table: str) -> int:
        for (count,) in self.dbs[database].conn.execute(f'SELECT count(*) FROM "{table}"'):
            return int(count)
        return 0

    def encrypted(self, database: str) -> bool:
        return self.dbs[database].access.current().key_id is not None


def _create(db: Database, sql: str, table: str, extras: dict[str, dict[str, Any]], *more: str) -> None:
    def run(conn: apsw.Connection) -> None:
        db.catalog.note_extras(table, extras)
        conn.execute(sql)
        for statement in more:
            conn.execute(statement)

    db.write(run)


@pytest.fixture
def source() -> Iterator[StoreSource]:
    shop = Database(Identity.generate(), Manifest("shop"))
    blog = Database(Identity.generate(), Manifest("blog"))
    _create(
        shop,
        ITEMS_SQL,
        "items",
        ITEMS_EXTRAS,
        'CREATE UNIQUE INDEX "uq_name" ON items (name)',
        'CREATE INDEX "ix_kind_price" ON items (kind, price)',
    )
    _create(
        shop,
        LINES_SQL,
        "order_lines",
        LINES_EXTRAS,
        'CREATE UNIQUE INDEX "lines_code_qty" ON order_lines (code, qty)',
        'CREATE INDEX "lines_ts" ON order_lines (ts)',
    )
    shop.write(lambda c: c.execute("INSERT INTO items (id, name) VALUES (1, 'x'), (2, 'y')"))
    _create(blog, "CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT)", "posts", {})
    yield StoreSource({"shop": shop, "blog": blog})
    shop.close()
    blog.close()


VARIABLES = {
    "sql_mode": "STRICT_TRANS_TABLES",
    "autocommit": True,
    "version": "8.0.36-p2pdb",
    "init_file": None,
}
STATUS = {"Uptime": 42, "Threads_connected": 1}


def run(sql: str, source: StoreSource, current_db: str | None = "shop", **kw: Any) -> ResultSet:
    return show(sql, current_db=current_db, source=source, variables=VARIABLES, status=STATUS, **kw)


def rows(result: ResultSet) -> list[list[Any]]:
    return [list(row) for row in result.rows]


def header(result: ResultSet) -> list[str]:
    return [c.name for c in result.columns]


def error(sql: str, source: StoreSource, current_db: str | None = "shop") -> tuple[int, str]:
    with pytest.raises(MySQLError) as info:
        run(sql, source, current_db)
    return info.value.code, info.value.message


# -- databases and tables -------------------------------------------------------------------------


def test_show_databases(source: StoreSource) -> None:
    result = run("SHOW DATABASES", source)
    assert header(result) == ["Database"]
    assert rows(result) == [["information_schema"], ["blog"], ["shop"]]
    assert rows(run("show schemas;", source)) == rows(result)


def test_show_databases_like_names_the_pattern_in_the_header(source: StoreSource) -> None:
    result = run("SHOW DATABASES LIKE 'SH%'", source)
    assert header(result) == ["Database (SH%)"]
    assert rows(result) == [["shop"]]
    assert rows(run("SHOW DATABASES WHERE `Database` <> 'shop'", source)) == [
        ["information_schema"],
        ["blog"],
    ]


def test_show_tables(source: StoreSource) -> None:
    result = run("SHOW TABLES", source)
    assert header(result) == ["Tables_in_shop"]
    assert rows(result) == [["items"], ["order_lines"]]
    full = run("SHOW FULL TABLES FROM `blog`", source)
    assert header(full) == ["Tables_in_blog", "Table_type"]
    assert rows(full) == [["posts", "BASE TABLE"]]


def test_show_tables_filters(source: StoreSource) -> None:
    result = run("SHOW TABLES IN shop LIKE 'order\\_%'", source)
    assert header(result) == ["Tables_in_shop (order\\_%)"]
    assert rows(result) == [["order_lines"]]
    # SQLAlchemy's get_view_names: no views here.
    assert rows(run("SHOW FULL TABLES FROM `shop` WHERE table_type = 'VIEW'", source)) == []
    assert rows(run("SHOW TABLES WHERE Tables_in_shop LIKE '%s'", source)) == [["items"], ["order_lines"]]


def test_show_open_tables(source: StoreSource) -> None:
    """Backup and monitoring scripts ask it (it was 1235): the database's tables, none in use."""
    result = run("SHOW OPEN TABLES", source)
    assert header(result) == ["Database", "Table", "In_use", "Name_locked"]
    assert rows(result) == [["shop", "items", 0, 0], ["shop", "order_lines", 0, 0]]
    assert rows(run("SHOW OPEN TABLES FROM blog LIKE 'p%'", source)) == [["blog", "posts", 0, 0]]
    assert rows(run("SHOW OPEN TABLES IN shop WHERE `Table` = 'items'", source)) == [["shop", "items", 0, 0]]


def test_show_tables_errors(source: StoreSource) -> None:
    assert error("SHOW TABLES", source, current_db=None) == (1046, "No database selected")
    assert error("SHOW TABLES FROM nope", source) == (1049, "Unknown database 'nope'")


def test_show_tables_of_information_schema(source: StoreSource) -> None:
    names = [row[0] for row in rows(run("SHOW TABLES FROM information_schema", source))]
    assert {"COLUMNS", "TABLES", "SCHEMATA", "STATISTICS", "KEY_COLUMN_USAGE"} <= set(names)


def test_describe_information_schema_tables(source: StoreSource) -> None:
    described = rows(run("DESCRIBE information_schema.COLUMNS", source))
    assert described[:2] == [
        ["TABLE_CATALOG", "varchar(64)", "YES", "", None, ""],
        ["TABLE_SCHEMA", "varchar(64)", "YES", "", None, ""],
    ]
    assert described[4][:2] == ["ORDINAL_POSITION", "int unsigned"]
    assert rows(run("SHOW INDEX FROM tables", source, current_db="information_schema")) == []
    assert error("DESCRIBE information_schema.nope", source) == (
        1109,
        "Unknown table 'nope' in information_schema",
    )


def test_show_table_status(source: StoreSource) -> None:
    result = run("SHOW TABLE STATUS LIKE 'items'", source)
    assert header(result) == [
        "Name", "Engine", "Version", "Row_format", "Rows", "Avg_row_length", "Data_length",
        "Max_data_length", "Index_length", "Data_free", "Auto_increment", "Create_time", "Update_time",
        "Check_time", "Collation", "Checksum", "Create_options", "Comment",
    ]  # fmt: skip
    (row,) = rows(result)
    assert row[:5] == ["items", "InnoDB", 10, "Dynamic", 2]
    assert row[14] == "utf8mb4_general_ci"


# -- columns --------------------------------------------------------------------------------------

ITEMS_COLUMNS = [
    ["id", "int unsigned", "NO", "PRI", None, "auto_increment"],
    ["name", "varchar(20)", "NO", "UNI", None, ""],
    ["price", "decimal(10,2)", "NO", "", "0.00", ""],
    ["kind", "enum('a','b')", "YES", "MUL", "a", ""],
    ["created", "datetime", "YES", "", "CURRENT_TIMESTAMP", "DEFAULT_GENERATED"],
    ["flag", "tinyint(1)", "YES", "", None, ""],
    ["body", "text", "YES", "", None, ""],
]


def test_show_columns(source: StoreSource) -> None:
    result = run("SHOW COLUMNS FROM items", source)
    assert header(result) == ["Field", "Type", "Null", "Key", "Default", "Extra"]
    assert rows(result) == ITEMS_COLUMNS
    assert all(c.type == FieldType.VAR_STRING for c in result.columns)


@pytest.mark.parametrize(
    "sql",
    [
        "DESCRIBE items",
        "desc `items`",
        "EXPLAIN items",
        "DESCRIBE `shop`.`items`",
        "SHOW FIELDS IN items IN shop",
        "show columns from shop.items",
        "SHOW COLUMNS FROM `items` FROM `shop`;",
    ],
)
def test_describe_variants(source: StoreSource, sql: str) -> None:
    assert rows(run(sql, source)) == ITEMS_COLUMNS


def test_describe_qualified_ignores_the_current_database(source: StoreSource) -> None:
    assert rows(run("DESCRIBE shop.items", source, current_db="blog")) == ITEMS_COLUMNS
    assert rows(run("SHOW COLUMNS FROM items FROM shop", source, current_db=None)) == ITEMS_COLUMNS


def test_describe_one_column_or_pattern(source: StoreSource) -> None:
    assert rows(run("DESCRIBE items NAME", source)) == [ITEMS_COLUMNS[1]]
    assert rows(run("DESCRIBE items 'p%'", source)) == [ITEMS_COLUMNS[2]]


def test_show_full_columns(source: StoreSource) -> None:
    result = run("SHOW FULL COLUMNS FROM order_lines LIKE '%'", source)
    assert header(result) == [
        "Field", "Type", "Collation", "Null", "Key", "Default", "Extra", "Privileges", "Comment"
    ]  # fmt: skip
    priv = "select,insert,update,references"
    assert rows(result) == [
        ["order_id", "bigint", None, "NO", "PRI", None, "", priv, ""],
        ["line", "smallint unsigned", None, "NO", "PRI", None, "", priv, ""],
        ["qty", "int", None, "NO", "", "1", "", priv, ""],
        ["code", "char(3)", "utf8mb4_general_ci", "NO", "MUL", "a'b", "", priv, ""],
        ["ts", "timestamp(3)", None, "YES", "MUL", None, "", priv, ""],
        ["bits", "bit(8)", None, "YES", "", "b'101'", "", priv, ""],
        ["data", "json", None, "YES", "", None, "", priv, ""],
        ["raw", "varbinary(16)", None, "YES", "", None, "", priv, ""],
    ]
    comment = rows(run("SHOW FULL COLUMNS FROM items WHERE Field = 'name'", source))[0][8]
    assert comment == "what it's called"


def test_show_columns_filters_on_reserved_word_headers(source: StoreSource) -> None:
    assert [
        r[0] for r in rows(run("SHOW COLUMNS FROM items WHERE Key = 'PRI' OR `Null` = 'NO'", source))
    ] == [
        "id",
        "name",
        "price",
    ]
    assert [r[0] for r in rows(run("SHOW COLUMNS FROM items WHERE Default IS NOT NULL", source))] == [
        "price",
        "kind",
        "created",
    ]


def test_unknown_tables(source: StoreSource) -> None:
    assert error("DESCRIBE nope", source) == (1146, "Table 'shop.nope' doesn't exist")
    assert error("SHOW COLUMNS FROM blog.items", source) == (1146, "Table 'blog.items' doesn't exist")
    assert error("SHOW CREATE TABLE nope.items", source) == (1049, "Unknown database 'nope'")
    assert error("SHOW INDEX FROM items", source, current_db=None) == (1046, "No database selected")


def test_table_names_resolve_case_insensitively_like_sqlite(source: StoreSource) -> None:
    assert rows(run("SHOW CREATE TABLE ITEMS", source))[0][0] == "items"


# -- CREATE ---------------------------------------------------------------------------------------


def test_show_create_table(source: StoreSource) -> None:
    result = run("SHOW CREATE TABLE items", source)
    assert header(result) == ["Table", "Create Table"]
    assert rows(result) == [["items", ITEMS_CREATE]]
    assert rows(run("show create table `shop`.`order_lines`", source)) == [["order_lines", LINES_CREATE]]


def test_show_create_table_reads_back_through_sqlalchemy(source: StoreSource) -> None:
    from sqlalchemy.dialects.mysql import pymysql
    from sqlalchemy.dialects.mysql.reflection import MySQLTableDefinitionParser

    dialect = pymysql.dialect()
    parser = MySQLTableDefinitionParser(dialect, dialect.identifier_preparer)
    state = parser.parse(rows(run("SHOW CREATE TABLE items", source))[0][1], "utf8mb4")
    columns = {c["name"]: c for c in state.columns}
    assert list(columns) == ["id", "name", "price", "kind", "created", "flag", "body"]
    assert columns["id"]["autoincrement"] is True and columns["id"]["nullable"] is False
    assert columns["id"]["type"].unsigned is True
    assert (columns["price"]["type"].precision, columns["price"]["type"].scale) == (10, 2)
    assert columns["price"]["default"] == "'0.00'"
    assert columns["kind"]["type"].enums == ["a", "b"]
    assert columns["name"]["comment"] == "what it's called"
    assert [(k["type"], k["name"], [c[0] for c in k["columns"]]) for k in state.keys] == [
        ("PRIMARY", None, ["id"]),
        ("UNIQUE", "uq_name", ["name"]),
        (None, "ix_kind_price", ["kind", "price"]),
    ]
    assert state.table_options["mysql_engine"] == "InnoDB"


def test_show_create_database(source: StoreSource) -> None:
    result = run("SHOW CREATE DATABASE shop", source)
    assert header(result) == ["Database", "Create Database"]
    assert rows(result) == [
        [
            "shop",
            "CREATE DATABASE `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */"
            " /*!80016 DEFAULT ENCRYPTION='N' */",
        ]
    ]
    guarded = rows(run("SHOW CREATE SCHEMA IF NOT EXISTS `blog`", source))[0][1]
    assert guarded.startswith("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `blog` ")
    assert error("SHOW CREATE DATABASE nope", source) == (1049, "Unknown database 'nope'")


# -- indexes --------------------------------------------------------------------------------------

INDEX_HEADER = [
    "Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name", "Collation", "Cardinality",
    "Sub_part", "Packed", "Null", "Index_type", "Comment", "Index_comment", "Visible", "Expression",
]  # fmt: skip


def test_show_index(source: StoreSource) -> None:
    result = run("SHOW INDEX FROM items", source)
    assert header(result) == INDEX_HEADER
    tail = ["BTREE", "", "", "YES", None]
    assert rows(result) == [
        ["items", 0, "PRIMARY", 1, "id", "A", 2, None, None, "", *tail],
        ["items", 0, "uq_name", 1, "name", "A", 2, None, None, "", *tail],
        ["items", 1, "ix_kind_price", 1, "kind", "A", 2, None, None, "YES", *tail],
        ["items", 1, "ix_kind_price", 2, "price", "A", 2, None, None, "", *tail],
    ]
    assert result.columns[1].type == FieldType.LONGLONG


def test_show_keys_with_where(source: StoreSource) -> None:
    result = run("SHOW KEYS FROM order_lines FROM shop WHERE Key_name = 'PRIMARY'", source)
    assert [(r[2], r[3], r[4]) for r in rows(result)] == [("PRIMARY", 1, "order_id"), ("PRIMARY", 2, "line")]
    assert len(rows(run("SHOW INDEXES IN items WHERE Non_unique = 1", source))) == 2
    ordered = rows(run("SHOW INDEX FROM order_lines", source))
    assert [(r[2], r[3], r[1]) for r in ordered] == [
        ("PRIMARY", 1, 0),
        ("PRIMARY", 2, 0),
        ("lines_code_qty", 1, 0),
        ("lines_code_qty", 2, 0),
        ("lines_ts", 1, 1),
    ]
    assert [r[0] for r in rows(run("SHOW COLUMNS FROM order_lines WHERE Field NOT LIKE '%e%'", source))] == [
        "qty",
        "ts",
        "bits",
        "data",
        "raw",
    ]


# -- variables, status, diagnostics ---------------------------------------------------------------


def test_show_variables(source: StoreSource) -> None:
    result = run("SHOW VARIABLES", source)
    assert header(result) == ["Variable_name", "Value"]
    assert rows(result) == [
        ["autocommit", "ON"],
        ["init_file", ""],
        ["sql_mode", "STRICT_TRANS_TABLES"],
        ["version", "8.0.36-p2pdb"],
    ]
    assert rows(run("SHOW SESSION VARIABLES LIKE 'SQL\\_MODE'", source)) == [
        ["sql_mode", "STRICT_TRANS_TABLES"]
    ]
    assert rows(run("SHOW GLOBAL VARIABLES LIKE 'version%'", source)) == [["version", "8.0.36-p2pdb"]]
    where = "SHOW VARIABLES WHERE Variable_name IN ('autocommit', 'version') AND Value <> 'OFF'"
    assert rows(run(where, source)) == [["autocommit", "ON"], ["version", "8.0.36-p2pdb"]]


def test_show_status(source: StoreSource) -> None:
    assert rows(run("SHOW STATUS", source)) == [["Threads_connected", "1"], ["Uptime", "42"]]
    assert rows(run("SHOW GLOBAL STATUS LIKE 'upt%'", source)) == [["Uptime", "42"]]


def test_show_warnings_and_errors(source: StoreSource) -> None:
    warnings = [("Warning", 1366, "Incorrect integer value"), ("Error", 1146, "no table"), ("Note", 1, "n")]
    result = run("SHOW WARNINGS", source, warnings=warnings)
    assert header(result) == ["Level", "Code", "Message"]
    assert rows(result) == [list(w) for w in warnings]
    assert rows(run("SHOW ERRORS", source, warnings=warnings)) == [["Error", 1146, "no table"]]
    assert rows(run("SHOW WARNINGS LIMIT 1, 1", source, warnings=warnings)) == [["Error", 1146, "no table"]]
    count = run("SHOW COUNT(*) WARNINGS", source, warnings=warnings)
    assert (header(count), rows(count)) == (["@@session.warning_count"], [[3]])
    assert rows(run("SHOW COUNT(*) ERRORS", source, warnings=warnings)) == [[1]]


def test_show_processlist(source: StoreSource) -> None:
    long_query = "SELECT " + "x" * 200
    processes = [(7, "root", "localhost:5000", "shop", "Query", 0, "executing", long_query)]
    result = run("SHOW PROCESSLIST", source, processlist=processes)
    assert header(result) == ["Id", "User", "Host", "db", "Command", "Time", "State", "Info"]
    assert rows(result)[0][7] == long_query[:100]
    assert rows(run("SHOW FULL PROCESSLIST", source, processlist=processes))[0][7] == long_query


def test_show_grants(source: StoreSource) -> None:
    result = run("SHOW GRANTS", source)
    assert header(result) == ["Grants for root@localhost"]
    assert rows(result) == [["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"]]
    other = run("SHOW GRANTS FOR 'app'@'%'", source)
    assert header(other) == ["Grants for app@%"]
    assert rows(run("SHOW GRANTS FOR CURRENT_USER()", source)) == rows(result)


def test_show_engines_charsets_collations(source: StoreSource) -> None:
    engines = run("SHOW ENGINES", source)
    assert header(engines) == ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"]
    assert rows(engines)[0][:2] == ["InnoDB", "DEFAULT"]
    assert rows(run("SHOW STORAGE ENGINES", source)) == rows(engines)
    charsets = run("SHOW CHARACTER SET LIKE 'utf8%'", source)
    assert header(charsets) == ["Charset", "Description", "Default collation", "Maxlen"]
    assert rows(charsets) == [
        ["utf8mb3", "UTF-8 Unicode", "utf8mb3_general_ci", 3],
        ["utf8mb4", "UTF-8 Unicode", "utf8mb4_general_ci", 4],
    ]
    assert rows(run("SHOW CHARSET WHERE Charset = 'binary'", source)) == [
        ["binary", "Binary pseudo charset", "binary", 1]
    ]
    collations = run("SHOW COLLATION WHERE Charset = 'utf8mb4' AND Collation = 'utf8mb4_bin'", source)
    assert header(collations) == [
        "Collation",
        "Charset",
        "Id",
        "Default",
        "Compiled",
        "Sortlen",
        "Pad_attribute",
    ]
    assert rows(collations) == [["utf8mb4_bin", "utf8mb4", 46, "", "Yes", 1, "PAD SPACE"]]
    ids = {r[0]: r[2] for r in rows(run("SHOW COLLATION", source))}
    assert (ids["utf8mb4_general_ci"], ids["binary"], ids["utf8mb4_0900_ai_ci"]) == (45, 63, 255)


def test_empty_object_listings(source: StoreSource) -> None:
    assert rows(run("SHOW TRIGGERS LIKE 'items'", source)) == []
    assert header(run("SHOW PROCEDURE STATUS WHERE Db = 'shop'", source))[:3] == ["Db", "Name", "Type"]
    assert rows(run("SHOW FUNCTION STATUS", source)) == []
    assert rows(run("SHOW EVENTS FROM shop", source)) == []
    assert header(run("SHOW MASTER STATUS", source))[0] == "File"


# -- errors and parsing ---------------------------------------------------------------------------


def test_unsupported_and_malformed(source: StoreSource) -> None:
    assert error("SHOW PROFILES", source) == (
        1235,
        "This version of MySQL doesn't yet support 'SHOW PROFILES'",
    )
    assert error("SHOW CREATE VIEW v", source)[0] == 1146  # no such view (views: tests/sql/test_sql_ddl.py)
    assert error("EXPLAIN SELECT 1", source)[0] == 1235
    code, message = error("SHOW TABLES FROM", source)
    assert code == 1064 and message.startswith("You have an error in your SQL syntax")
    assert error("SHOW COLUMNS FROM items WHERE nope = 1", source) == (
        1054,
        "Unknown column 'nope' in 'where clause'",
    )
    assert error("SHOW TABLES LIKE", source)[0] == 1064


def test_is_catalog_statement() -> None:
    assert is_catalog_statement("show tables")
    assert is_catalog_statement("DESCRIBE `t`")
    assert is_catalog_statement("explain shop.t")
    assert not is_catalog_statement("EXPLAIN SELECT * FROM t")
    assert not is_catalog_statement("DESC")
    assert not is_catalog_statement("SELECT 1")


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("shop", "sh%", True),
        ("SHOP", "sh%", True),
        ("shop", "s_op", True),
        ("shop", "s_p", False),
        ("sql_mode", "sql\\_mode", True),
        ("sqlXmode", "sql\\_mode", False),
        ("100%", "100\\%", True),
        ("1000", "100\\%", False),
        ("a.b", "a.b", True),
        ("axb", "a.b", False),
        ("line\nbreak", "line%", True),
        ("", "%", True),
        ("x", "", False),
    ],
)
def test_like_semantics(value: str, pattern: str, expected: bool) -> None:
    assert like(value, pattern) is expected


# -- result columns and facts ---------------------------------------------------------------------


def test_table_columns_carry_mysql_flags(source: StoreSource) -> None:
    spec = find_table(source, "shop", "items")
    by_name = {c.name: c for c in table_columns(spec, table_indexes(source, "shop", spec), "shop")}
    assert by_name["id"].flags & (ColumnFlag.PRI_KEY | ColumnFlag.AUTO_INCREMENT | ColumnFlag.NOT_NULL) == (
        ColumnFlag.PRI_KEY | ColumnFlag.AUTO_INCREMENT | ColumnFlag.NOT_NULL
    )
    assert by_name["name"].flags & ColumnFlag.UNIQUE_KEY
    assert by_name["name"].flags & ColumnFlag.NO_DEFAULT_VALUE
    assert by_name["kind"].flags & ColumnFlag.MULTIPLE_KEY
    lines = find_table(source, "shop", "order_lines")
    code = {c.name: c for c in table_columns(lines, table_indexes(source, "shop", lines), "shop")}["code"]
    assert code.flags & (ColumnFlag.MULTIPLE_KEY | ColumnFlag.UNIQUE_KEY) == ColumnFlag.MULTIPLE_KEY
    assert not by_name["price"].flags & (ColumnFlag.MULTIPLE_KEY | ColumnFlag.NO_DEFAULT_VALUE)
    assert (by_name["price"].type, by_name["price"].decimals) == (FieldType.NEWDECIMAL, 2)
    assert (by_name["items" if False else "id"].table, by_name["id"].database) == ("items", "shop")


def test_describe_table_facts(source: StoreSource) -> None:
    spec = find_table(source, "shop", "order_lines")
    facts = describe_table(spec, [])
    assert [f.position for f in facts] == list(range(1, 9))
    assert [f.key for f in facts[:3]] == ["PRI", "PRI", ""]


# -- information_schema ---------------------------------------------------------------------------


@pytest.fixture
def conn(source: StoreSource) -> Iterator[apsw.Connection]:
    connection = apsw.Connection(":memory:")
    assert refresh_information_schema(connection, source) is True
    yield connection
    connection.close()


def query(conn: apsw.Connection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql, params)]


def test_information_schema_columns_query(conn: apsw.Connection) -> None:
    got = query(
        conn,
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND"
        " TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        "shop",
        "items",
    )
    assert got == [
        ("id", "int"),
        ("name", "varchar"),
        ("price", "decimal"),
        ("kind", "enum"),
        ("created", "datetime"),
        ("flag", "tinyint"),
        ("body", "text"),
    ]


def test_information_schema_column_details(conn: apsw.Connection) -> None:
    got = query(
        conn,
        "SELECT COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH,"
        " NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_SET_NAME, COLLATION_NAME,"
        " COLUMN_TYPE, COLUMN_KEY, EXTRA, COLUMN_COMMENT, TABLE_CATALOG"
        " FROM information_schema.columns WHERE table_schema = 'shop' AND table_name = 'items'",
    )
    cs, co = "utf8mb4", "utf8mb4_general_ci"
    assert got == [
        ("id", None, "NO", None, None, 10, 0, None, None, None, "int unsigned", "PRI", "auto_increment", "", "def"),
        ("name", None, "NO", 20, 80, None, None, None, cs, co, "varchar(20)", "UNI", "", "what it's called", "def"),
        ("price", "0.00", "NO", None, None, 10, 2, None, None, None, "decimal(10,2)", "", "", "", "def"),
        ("kind", "a", "YES", 1, 4, None, None, None, cs, co, "enum('a','b')", "MUL", "", "", "def"),
        ("created", "CURRENT_TIMESTAMP", "YES", None, None, None, None, 0, None, None, "datetime", "",
         "DEFAULT_GENERATED", "", "def"),
        ("flag", None, "YES", None, None, 3, 0, None, None, None, "tinyint(1)", "", "", "", "def"),
        ("body", None, "YES", 65535, 65535, None, None, None, cs, co, "text", "", "", "", "def"),
    ]  # fmt: skip


def test_information_schema_tables_and_schemata(conn: apsw.Connection) -> None:
    assert query(conn, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA") == [
        ("information_schema", "utf8mb3"),
        ("blog", "utf8mb4"),
        ("shop", "utf8mb4"),
    ]
    got = query(
        conn,
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, TABLE_COLLATION FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        "shop",
    )
    assert got == [
        ("items", "BASE TABLE", "InnoDB", 2, "utf8mb4_general_ci"),
        ("order_lines", "BASE TABLE", "InnoDB", 0, "utf8mb4_general_ci"),
    ]
    # SQLAlchemy's MariaDB sequence lookup and its FK-casing workaround query.
    sequences = (
        "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE='SEQUENCE' and TABLE_SCHEMA=?"
    )
    assert query(conn, sequences, "shop") == []
    casing = (
        "select table_schema, table_name, column_name from information_schema.columns"
        " where (table_schema = ? and lower(table_name) = ?)"
    )
    assert len(query(conn, casing, "blog", "posts")) == 2


def test_information_schema_keys(conn: apsw.Connection) -> None:
    pk = query(
        conn,
        "SELECT k.COLUMN_NAME, k.ORDINAL_POSITION FROM information_schema.TABLE_CONSTRAINTS t"
        " JOIN information_schema.KEY_COLUMN_USAGE k USING (CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME)"
        " WHERE t.CONSTRAINT_TYPE = 'PRIMARY KEY' AND t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?"
        " ORDER BY k.ORDINAL_POSITION",
        "shop",
        "order_lines",
    )
    assert pk == [("order_id", 1), ("line", 2)]
    constraints = query(
        conn,
        "SELECT CONSTRAINT_NAME, CONSTRAINT_TYPE, ENFORCED FROM information_schema.TABLE_CONSTRAINTS"
        " WHERE TABLE_NAME = 'items'",
    )
    assert constraints == [("PRIMARY", "PRIMARY KEY", "YES"), ("uq_name", "UNIQUE", "YES")]
    stats = query(
        conn,
        "SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, NULLABLE, INDEX_TYPE"
        " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'items'"
        " ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
    )
    assert stats == [
        ("PRIMARY", 0, 1, "id", "", "BTREE"),
        ("ix_kind_price", 1, 1, "kind", "YES", "BTREE"),
        ("ix_kind_price", 1, 2, "price", "", "BTREE"),
        ("uq_name", 0, 1, "name", "", "BTREE"),
    ]
    assert query(conn, "SELECT count(*) FROM information_schema.REFERENTIAL_CONSTRAINTS") == [(0,)]


def test_information_schema_column_names_are_mysql_8s(conn: apsw.Connection) -> None:
    def names(table: str) -> list[str]:
        return [row[1] for row in conn.execute(f"PRAGMA information_schema.table_info({table})")]

    assert names("TABLES") == [
        "TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE", "ENGINE", "VERSION", "ROW_FORMAT",
        "TABLE_ROWS", "AVG_ROW_LENGTH", "DATA_LENGTH", "MAX_DATA_LENGTH", "INDEX_LENGTH", "DATA_FREE",
        "AUTO_INCREMENT", "CREATE_TIME", "UPDATE_TIME", "CHECK_TIME", "TABLE_COLLATION", "CHECKSUM",
        "CREATE_OPTIONS", "TABLE_COMMENT",
    ]  # fmt: skip
    assert names("COLUMNS") == [
        "TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "COLUMN_DEFAULT",
        "IS_NULLABLE", "DATA_TYPE", "CHARACTER_MAXIMUM_LENGTH", "CHARACTER_OCTET_LENGTH", "NUMERIC_PRECISION",
        "NUMERIC_SCALE", "DATETIME_PRECISION", "CHARACTER_SET_NAME", "COLLATION_NAME", "COLUMN_TYPE",
        "COLUMN_KEY", "EXTRA", "PRIVILEGES", "COLUMN_COMMENT", "GENERATION_EXPRESSION", "SRS_ID",
    ]  # fmt: skip
    assert names("STATISTICS") == [
        "TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "NON_UNIQUE", "INDEX_SCHEMA", "INDEX_NAME",
        "SEQ_IN_INDEX", "COLUMN_NAME", "COLLATION", "CARDINALITY", "SUB_PART", "PACKED", "NULLABLE",
        "INDEX_TYPE", "COMMENT", "INDEX_COMMENT", "IS_VISIBLE", "EXPRESSION",
    ]  # fmt: skip
    for empty in ("VIEWS", "ROUTINES", "PARAMETERS", "REFERENTIAL_CONSTRAINTS", "TRIGGERS"):
        assert query(conn, f"SELECT count(*) FROM information_schema.{empty}") == [(0,)]
    declared = {row[1]: row[2] for row in conn.execute("PRAGMA information_schema.table_info(COLUMNS)")}
    assert (declared["TABLE_NAME"], declared["ORDINAL_POSITION"]) == ("varchar(64)", "int unsigned")


def test_information_schema_static_tables(conn: apsw.Connection) -> None:
    assert query(conn, "SELECT ENGINE, SUPPORT FROM information_schema.ENGINES") == [("InnoDB", "DEFAULT")]
    assert query(
        conn,
        "SELECT ID, IS_DEFAULT FROM information_schema.COLLATIONS WHERE COLLATION_NAME = 'utf8mb4_general_ci'",
    ) == [(45, "Yes")]
    assert query(
        conn, "SELECT DEFAULT_COLLATE_NAME, MAXLEN FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME = ?",
        "utf8mb4",
    ) == [("utf8mb4_general_ci", 4)]  # fmt: skip


def test_refresh_only_refills_after_a_schema_change(conn: apsw.Connection, source: StoreSource) -> None:
    assert refresh_information_schema(conn, source) is False
    blog = source.dbs["blog"]
    _create(
        blog,
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)",
        "tags",
        {"label": {"mt": "varchar(9)"}},
    )
    assert refresh_information_schema(conn, source) is True
    assert query(conn, "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_NAME = 'tags'") == [
        ("bigint",),
        ("varchar(9)",),
    ]
    assert refresh_information_schema(conn, source) is False
    assert query(conn, "SELECT count(*) FROM information_schema.ENGINES") == [(1,)]  # static tables kept


def test_refresh_with_a_version_token(source: StoreSource) -> None:
    connection = apsw.Connection(":memory:")
    assert refresh_information_schema(connection, source, version=1) is True
    assert refresh_information_schema(connection, source, version=1) is False
    source.dbs["shop"].write(lambda c: c.execute("INSERT INTO items (id, name) VALUES (3, 'z')"))
    assert refresh_information_schema(connection, source, version=2) is True
    assert query(
        connection, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_NAME = 'items'"
    ) == [(3,)]
    # A second connection has its own copy.
    other = apsw.Connection(":memory:")
    assert refresh_information_schema(other, source, version=2) is True
    connection.execute("DETACH DATABASE information_schema")
    assert refresh_information_schema(connection, source, version=2) is True
