"""The SQL layer over the store, in process: tables without a primary key, CREATE TABLE ... SELECT,
AUTO_INCREMENT ids of INSERT ... SELECT, and information_schema.P2PDB_CONFLICTS.

Each test drives :class:`SQLSession` objects the way the MySQL server does, and checks what replicas
see after exchanging their logs (``Database.join``).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from p2pdb.log import Identity
from p2pdb.schema import Column, TableSpec
from p2pdb.sql.backend import Accounts, SQLBackend
from p2pdb.sql.lexer import lex
from p2pdb.sql.plan import build_plan
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.protocol.results import OkResult, ResultSet
from p2pdb.sql.session import SQLSession
from p2pdb.store import Database
from p2pdb.store.registry import Registry


class Node:
    """One in-process node: a backend over its own registry, and one client session."""

    def __init__(self, access: str = "open") -> None:
        # Replication tests write one database from both nodes: open unless a test picks its rules.
        registry = Registry(Identity.generate(), None, new_database_access=access)
        self.backend = SQLBackend(registry, Accounts(None))
        info = ConnectInfo(1, "root", None, "127.0.0.1", False, False, 45)
        self.session: SQLSession = asyncio.run(self.backend.open_session(info))

    def session_(self) -> SQLSession:
        info = ConnectInfo(2, "root", None, "127.0.0.1", False, False, 45)
        return asyncio.run(self.backend.open_session(info))

    def db(self, name: str = "app") -> Database:
        db = self.backend.registry.get(name)
        assert db is not None
        return db


def app_node(*statements: str) -> Node:
    """A node whose session uses a new database ``app``, after ``statements`` ran there."""
    node = Node()
    for sql in ("CREATE DATABASE app", "USE app", *statements):
        run(node.session, sql)
    return node


def run(session: SQLSession, sql: str) -> Any:
    (result,) = asyncio.run(session.execute(sql, multi=False))
    return result


def rows(session: SQLSession, sql: str) -> list[tuple[Any, ...]]:
    result = run(session, sql)
    assert isinstance(result, ResultSet), result
    return [tuple(r) for r in result.rows]


def error(session: SQLSession, sql: str) -> tuple[int, str]:
    with pytest.raises(MySQLError) as caught:
        run(session, sql)
    return caught.value.code, caught.value.message


def sync(*dbs: Database) -> None:
    """Every database joins every other's log."""
    for target in dbs:
        for source in dbs:
            if source is not target:
                target.join([e.block for e in source.log.traverse()])


def replica_of(source: Node, name: str = "app") -> Node:
    node = Node()
    node.backend.registry.create(name)
    sync(source.db(name), node.db(name))
    run(node.session, f"USE {name}")
    return node


def entries(db: Database) -> int:
    return len(list(db.log.traverse()))


@pytest.fixture
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE app")
    run(node.session, "USE app")
    return node


# -- tables without a primary key ----------------------------------------------------------------


def test_keyless_table_takes_duplicates_and_replicates(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE t (a INT, b VARCHAR(10))")
    spec = node.db().catalog.table("t")
    assert spec is not None and spec.keyless and spec.column_names == ("a", "b")
    assert run(s, "INSERT INTO t VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, 'z')").affected_rows == 4
    assert run(s, "UPDATE t SET b = 'w' WHERE a = 1").affected_rows == 2
    assert run(s, "DELETE FROM t WHERE a = 1 LIMIT 1").affected_rows == 1  # one of two equal rows
    assert run(s, "UPDATE t SET b = 'v' WHERE a > 1 ORDER BY a DESC LIMIT 1").affected_rows == 1
    assert run(s, "DELETE FROM t WHERE b = 'y'").affected_rows == 1
    expected = [(1, "w"), (3, "v")]
    assert rows(s, "SELECT * FROM t ORDER BY a") == expected
    replica = replica_of(node)
    assert rows(replica.session, "SELECT * FROM t ORDER BY a") == expected
    assert replica.db().state_hash() == node.db().state_hash()
    # the replica changes a duplicate-free row, and the change comes back
    run(replica.session, "INSERT INTO t VALUES (1, 'w')")
    run(replica.session, "DELETE FROM t WHERE a = 3")
    sync(node.db(), replica.db())
    assert Counter(rows(s, "SELECT * FROM t")) == Counter({(1, "w"): 2})


def test_keyless_catalog_shows_no_primary_key(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE t (a INT NOT NULL, b TEXT)")
    run(s, "CREATE TABLE u (code VARCHAR(8) NOT NULL UNIQUE, n INT)")
    (create,) = rows(s, "SHOW CREATE TABLE t")
    assert create[1] == (
        "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `b` text\n)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
    )
    assert [r[3] for r in rows(s, "DESCRIBE t")] == ["", ""]
    assert rows(s, "SHOW INDEX FROM t") == []
    (create_u,) = rows(s, "SHOW CREATE TABLE u")
    assert "PRIMARY KEY" not in create_u[1] and "UNIQUE KEY `code` (`code`)" in create_u[1]
    assert rows(s, "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'app'") == [
        ("code",)
    ]
    assert rows(s, "SELECT CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS") == [
        ("code", "UNIQUE")
    ]
    assert rows(s, "SELECT count(*) FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_NAME = 't'") == [
        (0,)
    ]


def test_ddl_plan_without_key_and_auto_increment_key() -> None:
    from p2pdb.sql.ddl import plan_create_table

    keyless = plan_create_table("CREATE TABLE t (a INT, b INT)")
    assert keyless.pk == []
    assert keyless.statements() == ['CREATE TABLE "t" ("a" INTEGER, "b" INTEGER)']
    auto = plan_create_table("CREATE TABLE t (id INT AUTO_INCREMENT, v INT, UNIQUE KEY (id))")
    assert auto.pk == ["id"]
    mixed_case = plan_create_table("CREATE TABLE t (Id INT, PRIMARY KEY (ID))")
    assert mixed_case.pk == ["Id"]


# -- CREATE TABLE ... SELECT -----------------------------------------------------------------------


SOURCE = (
    "CREATE TABLE src (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10) NOT NULL COMMENT 'who',"
    " price DECIMAL(10,2) DEFAULT '1.50', seen DATETIME)"
)


def _with_source(node: Node) -> None:
    run(node.session, SOURCE)
    run(
        node.session,
        "INSERT INTO src (name, price, seen) VALUES ('a', 1.5, '2024-01-02 03:04:05'), ('bb', 2.25, NULL),"
        " ('ccc', 3, '2024-05-06 00:00:00')",
    )


def _columns(db: Database, table: str) -> list[tuple[str, str, bool]]:
    spec = db.catalog.table(table)
    assert spec is not None
    return [(c.name, str(c.extra.get("mt")), c.not_null) for c in spec.columns]


def test_create_table_select_is_one_entry_and_replicates(node: Node) -> None:
    _with_source(node)
    db = node.db()
    before = entries(db)
    result = run(node.session, "CREATE TABLE copy AS SELECT * FROM src WHERE id > 1")
    assert isinstance(result, OkResult) and result.affected_rows == 2
    assert entries(db) == before + 1
    spec = db.catalog.table("copy")
    assert spec is not None and spec.keyless
    assert _columns(db, "copy") == [
        ("id", "int", True),
        ("name", "varchar(10)", True),
        ("price", "decimal(10,2)", False),
        ("seen", "datetime", False),
    ]
    (create,) = rows(node.session, "SHOW CREATE TABLE copy")
    assert "PRIMARY KEY" not in create[1] and "AUTO_INCREMENT" not in create[1]
    assert "`id` int NOT NULL DEFAULT '0'" in create[1] and "COMMENT 'who'" in create[1]
    expected = [(2, "bb", "2.25", None), (3, "ccc", "3.00", "2024-05-06 00:00:00")]
    assert rows(node.session, "SELECT * FROM copy ORDER BY id") == expected
    replica = replica_of(node)
    assert rows(replica.session, "SELECT * FROM copy ORDER BY id") == expected
    assert _columns(replica.db(), "copy") == _columns(db, "copy")


def test_create_table_select_infers_expression_types(node: Node) -> None:
    _with_source(node)
    run(
        node.session,
        "CREATE TABLE agg SELECT name, COUNT(*) AS n, SUM(price) AS total, 'lit' AS l, 1.5 AS f,"
        " DATE(seen) AS d, NULL AS z, x'00ff' AS bin, id * 3000000000 AS big FROM src GROUP BY name",
    )
    assert _columns(node.db(), "agg") == [
        ("name", "varchar(10)", True),
        ("n", "bigint", False),
        ("total", "decimal(32,2)", False),  # MySQL: SUM(DECIMAL(M,D)) is DECIMAL(M+22,D)
        ("l", "varchar(3)", False),
        ("f", "decimal(2,1)", False),  # a decimal literal is a DECIMAL
        ("d", "date", False),
        ("z", "text", False),
        ("bin", "varbinary(2)", False),
        ("big", "bigint", False),
    ]
    assert rows(node.session, "SELECT name, n, total, l, d, bin FROM agg ORDER BY name") == [
        ("a", 1, "1.50", "lit", "2024-01-02", b"\x00\xff"),
        ("bb", 1, "2.25", "lit", None, b"\x00\xff"),
        ("ccc", 1, "3.00", "lit", "2024-05-06", b"\x00\xff"),
    ]
    # No rows to look at: the query's own types decide.
    run(node.session, "CREATE TABLE empty SELECT id * 2 AS twice, name FROM src WHERE 0")
    assert _columns(node.db(), "empty") == [("twice", "int", False), ("name", "varchar(10)", True)]
    # A NOT NULL column read through the outer side of a LEFT JOIN may be NULL there.
    run(node.session, "CREATE TABLE joined SELECT b.name FROM src a LEFT JOIN src b ON b.id = a.id + 1")
    assert _columns(node.db(), "joined") == [("name", "varchar(3)", False)]


def test_create_table_select_with_declared_columns_and_keys(node: Node) -> None:
    _with_source(node)
    s = node.session
    run(
        s,
        "CREATE TABLE t4 (id INT AUTO_INCREMENT PRIMARY KEY, extra INT DEFAULT 7) SELECT name FROM src ORDER BY name DESC",
    )
    assert rows(s, "SELECT * FROM t4 ORDER BY id") == [(1, 7, "ccc"), (2, 7, "bb"), (3, 7, "a")]
    assert node.db().catalog.tables["t4"].pk == ("id",)
    run(s, "INSERT INTO t4 (name) VALUES ('next')")
    assert rows(s, "SELECT id FROM t4 WHERE name = 'next'") == [(4,)]
    run(s, "CREATE TABLE t5 (PRIMARY KEY (name), price DECIMAL(6,1)) SELECT name, price FROM src")
    assert node.db().catalog.tables["t5"].pk == ("name",)
    (create,) = rows(s, "SHOW CREATE TABLE t5")  # declared columns first, and their definition wins
    assert create[1].split("\n")[1:4] == [
        "  `price` decimal(6,1) DEFAULT NULL,",
        "  `name` varchar(10) NOT NULL COMMENT 'who',",
        "  PRIMARY KEY (`name`)",
    ]
    ignored = run(s, "CREATE TABLE t6 (UNIQUE KEY (k)) IGNORE SELECT 1 AS k UNION ALL SELECT 1")
    assert (ignored.affected_rows, ignored.info) == (1, "Records: 2  Duplicates: 1  Warnings: 0")
    assert rows(s, "SELECT * FROM t6") == [(1,)]
    run(s, "CREATE TABLE t6r (UNIQUE KEY (k)) REPLACE SELECT 1 AS k, 'a' AS v UNION ALL SELECT 1, 'b'")
    assert rows(s, "SELECT * FROM t6r") == [(1, "b")]
    run(s, "CREATE TABLE t7 AS WITH x AS (SELECT 5 AS v) SELECT v FROM x")
    assert rows(s, "SELECT * FROM t7") == [(5,)]


def test_create_table_select_errors_leave_nothing(node: Node) -> None:
    _with_source(node)
    s = node.session
    before = entries(node.db())
    assert error(s, "CREATE TABLE d (UNIQUE KEY (k)) SELECT 1 AS k UNION ALL SELECT 1")[0] == 1062
    assert error(s, "CREATE TABLE d SELECT name, name FROM src") == (1060, "Duplicate column name 'name'")
    assert error(s, "CREATE TABLE d SELECT * FROM nope") == (1146, "Table 'app.nope' doesn't exist")
    assert error(s, "CREATE TABLE src SELECT 1") == (1050, "Table 'src' already exists")
    assert entries(node.db()) == before
    assert rows(s, "SHOW TABLES") == [("src",)]
    ok = run(s, "CREATE TABLE IF NOT EXISTS src SELECT 1 AS x")
    assert isinstance(ok, OkResult) and ok.warnings == 1 and entries(node.db()) == before


def test_create_table_like_copies_columns_keys_and_indexes(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE base (id INT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(5) NOT NULL, n INT DEFAULT 3,"
        " UNIQUE KEY uq_code (code), KEY ix_n (n)) COMMENT='p2pdb:counter(n)'")  # fmt: skip
    run(s, "CREATE TABLE twin LIKE base")
    run(s, "CREATE TABLE twin2 (LIKE base)")
    (base,) = rows(s, "SHOW CREATE TABLE base")
    for name in ("twin", "twin2"):
        (copy,) = rows(s, f"SHOW CREATE TABLE {name}")
        assert copy[1] == base[1].replace("`base`", f"`{name}`")
        assert node.db().catalog.tables[name].rule == {"rule": "counter", "columns": ["n"]}
    assert error(s, "CREATE TABLE twin LIKE base") == (1050, "Table 'twin' already exists")
    assert error(s, "CREATE TABLE t3 LIKE nope") == (1146, "Table 'app.nope' doesn't exist")


# -- AUTO_INCREMENT ids of INSERT ... SELECT -----------------------------------------------------------


AUTO_TABLE = {
    "t": TableSpec("t", (Column("id", "INTEGER", extra={"ai": True}), Column("v", "TEXT")), ("id",))
}


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t (v) SELECT name FROM s",
        "INSERT INTO t SELECT * FROM s",
        "INSERT IGNORE INTO t (id, v) (SELECT a, b FROM s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
        "REPLACE INTO t (v) SELECT 'x' UNION SELECT 'y'",
        "INSERT INTO t (v) WITH c AS (SELECT 1 AS n) SELECT n FROM c",
    ],
)
def test_insert_select_plans_draw_ids_per_row(sql: str) -> None:
    plan = build_plan(lex(sql), AUTO_TABLE)
    assert plan.auto is not None and plan.auto.per_row
    assert plan.sql.lower().count("p2pdb_auto_id(") == 1


@pytest.mark.parametrize("sql", ["INSERT INTO t SET v = 'x'", "REPLACE INTO t (v) VALUES ('x')"])
def test_set_and_replace_forms_get_id_slots(sql: str) -> None:
    plan = build_plan(lex(sql), AUTO_TABLE)
    assert plan.auto is not None and plan.auto.new == ["a0"]


def test_insert_select_ids_never_collide_across_nodes(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE src (name VARCHAR(10))")
    run(s, "INSERT INTO src VALUES ('a'), ('b'), ('c')")
    run(s, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))")
    run(s, "INSERT INTO t (v) VALUES ('first')")  # takes the root id class
    other = replica_of(node)
    assert node.db().grant_ids(other.db().identity.public_key)
    sync(node.db(), other.db())
    cls = other.db().id_class()
    assert cls is not None and cls.modulus > 1
    # Both nodes copy the same rows at once, without seeing each other's.
    first = run(s, "INSERT INTO t (v) SELECT name FROM src ORDER BY name")
    second = run(other.session, "INSERT INTO t (v) SELECT name FROM src ORDER BY name")
    assert first.affected_rows == second.affected_rows == 3
    theirs = [r[0] for r in rows(other.session, "SELECT id FROM t WHERE v <> 'first' ORDER BY id")]
    assert theirs[0] == second.last_insert_id and all(
        i % cls.modulus == cls.offset % cls.modulus for i in theirs
    )
    sync(node.db(), other.db())
    merged = rows(s, "SELECT id, v FROM t ORDER BY id")
    assert len(merged) == 7 and len({i for i, _ in merged}) == 7
    assert Counter(v for _, v in merged) == Counter({"a": 2, "b": 2, "c": 2, "first": 1})
    assert rows(other.session, "SELECT id, v FROM t ORDER BY id") == merged
    assert not [r for r in node.db().conflict_records() if r.kind == "duplicate_key"]


def test_insert_select_ids_and_last_insert_id(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE src (n INT, name VARCHAR(10))")
    run(s, "INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    run(s, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))")
    result = run(s, "INSERT INTO t (v) SELECT name FROM src ORDER BY name DESC")
    assert (result.affected_rows, result.last_insert_id) == (3, 1)
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(1,)]
    assert rows(s, "SELECT id, v FROM t ORDER BY id") == [(1, "c"), (2, "b"), (3, "a")]
    # Explicit ids stay; NULL and 0 are generated (above what the table holds).
    run(s, "INSERT INTO t SELECT n * 100, name FROM src WHERE n = 1")
    result = run(s, "INSERT INTO t SELECT CASE WHEN n = 2 THEN 0 ELSE NULL END, name FROM src WHERE n > 1")
    assert result.last_insert_id == 101
    assert rows(s, "SELECT id FROM t WHERE id > 3 ORDER BY id") == [(100,), (101,), (102,)]
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(101,)]
    explicit = run(s, "INSERT INTO t SELECT 500, 'x'")
    assert explicit.last_insert_id == 0 and rows(s, "SELECT LAST_INSERT_ID()") == [(101,)]
    assert error(s, "INSERT INTO t (v) SELECT name, n FROM src") == (
        1136,
        "Column count doesn't match value count at row 1",
    )
    assert error(s, "INSERT INTO t (id, v) SELECT 1, 'dup'")[0] == 1062
    assert run(s, "INSERT INTO t SET v = 'set'").last_insert_id == 501
    assert run(s, "REPLACE INTO t (v) VALUES ('rep')").last_insert_id == 502
    assert error(s, "SELECT p2pdb_auto_id(NULL)")[0] == 1305


def test_insert_select_in_a_transaction_commits_the_ids_it_showed(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE src (name VARCHAR(10))")
    run(s, "INSERT INTO src VALUES ('a'), ('b')")
    run(s, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))")
    run(s, "BEGIN")
    inserted = run(s, "INSERT INTO t (v) SELECT name FROM src ORDER BY name")
    seen = rows(s, "SELECT id, v FROM t ORDER BY id")
    assert seen == [(inserted.last_insert_id, "a"), (inserted.last_insert_id + 1, "b")]
    other = node.session_()
    run(other, "USE app")
    concurrent = run(other, "INSERT INTO t (v) SELECT 'other'")  # commits meanwhile
    assert concurrent.last_insert_id not in (i for i, _ in seen)
    run(s, "INSERT INTO t (v) VALUES ('c')")  # replays the INSERT ... SELECT under it
    assert rows(s, "SELECT id, v FROM t WHERE v <> 'other' ORDER BY id")[:2] == seen
    run(s, "COMMIT")
    committed = rows(s, "SELECT id, v FROM t ORDER BY v")
    assert committed[:2] == seen
    assert {v for _, v in committed} == {"a", "b", "c", "other"}
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(committed[2][0],)]


def test_upsert_counts_an_insert_after_the_store_wrote_its_own_rows(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE kv (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(5) NOT NULL UNIQUE, v INT)")
    upsert = "INSERT INTO kv (k, v) VALUES ('a', {}) ON DUPLICATE KEY UPDATE v = VALUES(v)"
    assert run(s, upsert.format(1)).affected_rows == 1  # the first id claims an id range first
    assert run(s, upsert.format(2)).affected_rows == 2
    assert run(s, upsert.format(2)).affected_rows == 0


# -- information_schema.P2PDB_CONFLICTS ----------------------------------------------------------------


def _conflicting_pair() -> tuple[Node, Node]:
    first = Node()
    run(first.session, "CREATE DATABASE app")
    run(first.session, "USE app")
    run(first.session, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    second = replica_of(first)
    run(first.session, "INSERT INTO t VALUES (1, 'one')")
    run(second.session, "INSERT INTO t VALUES (1, 'uno')")
    sync(first.db(), second.db())
    return first, second


def test_conflicts_table_shows_the_merges_records_on_every_replica() -> None:
    first, second = _conflicting_pair()
    query = (
        "SELECT TABLE_SCHEMA, TABLE_NAME, KIND, ROW_KEY, SUBJECT, LOST_VALUES, ENTRY_CID, AUTHOR, CLOCK"
        " FROM information_schema.P2PDB_CONFLICTS WHERE KIND = 'duplicate_key'"
    )
    mine, theirs = rows(first.session, query), rows(second.session, query)
    assert mine == theirs and len(mine) == 1
    schema, table, kind, key, subject, lost, cid, author, clock = mine[0]
    assert (schema, table, kind, json.loads(key)) == ("app", "t", "duplicate_key", [1])
    (shown,) = rows(first.session, "SELECT v FROM t")
    loser = {"one": "uno", "uno": "one"}[shown[0]]
    assert json.loads(lost) == {"id": 1, "v": loser}
    record = next(r for r in first.db().conflict_records() if r.kind == "duplicate_key")
    assert (cid, author, clock, subject) == (record.cid, record.author, record.time, record.subject)
    # From no database at all, and from information_schema itself; filters work.
    run(first.session, "USE information_schema")
    assert rows(
        first.session, "SELECT ID, TABLE_SCHEMA FROM P2PDB_CONFLICTS WHERE KIND = 'duplicate_key'"
    ) == [(1, "app")]
    fresh = first.session_()
    assert rows(
        fresh, "SELECT count(*) FROM information_schema.P2PDB_CONFLICTS WHERE TABLE_SCHEMA = 'app'"
    ) == [(1,)]
    assert rows(
        fresh, "SELECT count(*) FROM information_schema.P2PDB_CONFLICTS WHERE TABLE_SCHEMA = 'x'"
    ) == [(0,)]


def test_conflicts_table_follows_new_conflicts_without_schema_changes() -> None:
    first, second = _conflicting_pair()
    count = "SELECT count(*) FROM information_schema.P2PDB_CONFLICTS WHERE KIND = 'duplicate_key'"
    assert rows(first.session, count) == [(1,)]
    version = first.db().catalog.schema_version
    run(first.session, "INSERT INTO t VALUES (2, 'two')")
    run(second.session, "INSERT INTO t VALUES (2, 'dos')")
    sync(first.db(), second.db())
    assert first.db().catalog.schema_version == version
    assert rows(first.session, count) == [(2,)]
    keys = rows(first.session, "SELECT ROW_KEY FROM information_schema.P2PDB_CONFLICTS ORDER BY ROW_KEY")
    assert [json.loads(k) for (k,) in keys if k != "[]"] == [[1], [2]]


def test_create_table_select_from_information_schema_keeps_its_types() -> None:
    first, _ = _conflicting_pair()
    run(first.session, "CREATE TABLE snap AS SELECT * FROM information_schema.P2PDB_CONFLICTS")
    assert rows(first.session, "SELECT KIND, ROW_KEY FROM snap WHERE KIND = 'duplicate_key'") == [
        ("duplicate_key", "[1]")
    ]
    types = {name: mt for name, mt, _ in _columns(first.db(), "snap")}
    assert (types["ID"], types["KIND"], types["ROW_KEY"]) == ("bigint unsigned", "varchar(16)", "json")


def test_conflicts_table_is_described_and_listed(node: Node) -> None:
    described = rows(node.session, "DESCRIBE information_schema.P2PDB_CONFLICTS")
    assert [r[0] for r in described] == [
        "ID", "TABLE_SCHEMA", "TABLE_NAME", "KIND", "ROW_KEY", "SUBJECT", "DETAIL", "LOST_VALUES",
        "ENTRY_CID", "AUTHOR", "CLOCK",
    ]  # fmt: skip
    assert ("P2PDB_CONFLICTS",) in rows(node.session, "SHOW TABLES FROM information_schema")
    assert rows(node.session, "SELECT * FROM information_schema.P2PDB_CONFLICTS") == []


def test_found_rows_counts_past_the_limit_with_sql_calc_found_rows() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE fr")
    run(s, "USE fr")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, k INT)")
    run(s, "INSERT INTO t VALUES (1, 1), (2, 1), (3, 2), (4, 1), (5, 1)")
    assert rows(s, "SELECT SQL_CALC_FOUND_ROWS id FROM t WHERE k = 1 ORDER BY id LIMIT 1, 2") == [(2,), (4,)]
    assert rows(s, "SELECT FOUND_ROWS()") == [(4,)]
    assert rows(s, "SELECT id FROM t WHERE k = 1 LIMIT 1") == [(1,)]
    assert rows(s, "SELECT FOUND_ROWS()") == [(1,)]  # without SQL_CALC_FOUND_ROWS: the rows returned
    assert rows(s, "SELECT SQL_CALC_FOUND_ROWS k, COUNT(*) FROM t GROUP BY k LIMIT 1") == [(1, 4)]
    assert rows(s, "SELECT FOUND_ROWS()") == [(2,)]


def test_a_computed_column_is_typed_by_its_values_not_a_leading_null() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE nt")
    run(s, "USE nt")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, n INT)")
    run(s, "INSERT INTO t VALUES (1, 94), (2, 38)")
    result = run(s, "SELECT NULLIF(n, 94) FROM t ORDER BY id")
    assert [tuple(r) for r in result.rows] == [(None,), (38,)]
    assert result.columns[0].type == 8  # LONGLONG, as the values are integers


def test_a_computed_column_of_mixed_values_is_typed_to_hold_them_all() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE mx")
    run(s, "USE mx")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, n INT, f DOUBLE, s VARCHAR(5))")
    run(s, "INSERT INTO t VALUES (1, 2, 0.5, 'x'), (2, 3, 7.25, 'y')")
    result = run(
        s, "SELECT CASE WHEN id = 1 THEN n ELSE f END, CASE WHEN id = 1 THEN n ELSE s END FROM t ORDER BY id"
    )
    assert [c.type for c in result.columns] == [5, 253]  # DOUBLE, VAR_STRING: every value fits


def test_any_and_all_subqueries(node: Node) -> None:
    """x op ANY/SOME/ALL (subquery), which SQLite lacks (error 1064 before), as MySQL answers them in
    a WHERE (as MariaDB answered them): an empty subquery makes ALL true, even for a NULL; a NULL among
    its rows makes ALL exclude the row."""
    s = node.session
    run(s, "CREATE DATABASE q")
    run(s, "USE q")
    run(s, "CREATE TABLE a (id INT PRIMARY KEY, g INT, n INT)")
    run(s, "INSERT INTO a VALUES (1, 1, NULL), (2, 1, 5), (3, 2, 3), (4, NULL, 1), (5, 2, 2)")
    ids = lambda sql: [r[0] for r in rows(s, sql + " ORDER BY id")]  # noqa: E731
    assert ids("SELECT id FROM a WHERE n > ALL (SELECT n FROM a WHERE g = 2)") == [2]
    assert ids("SELECT id FROM a WHERE n = ANY (SELECT n FROM a WHERE g = 1)") == [2]
    assert ids("SELECT id FROM a WHERE n < SOME (SELECT n FROM a WHERE g = 2)") == [4, 5]
    assert ids("SELECT id FROM a WHERE n > ALL (SELECT n FROM a WHERE g = 99)") == [1, 2, 3, 4, 5]
    assert ids("SELECT id FROM a WHERE n >= ALL (SELECT n FROM a)") == []
    assert ids("SELECT id FROM a x WHERE n > ANY (SELECT n FROM a y WHERE y.g = x.g)") == [3]
    run(s, "UPDATE a SET g = 9 WHERE n = ANY (SELECT 3)")
    assert ids("SELECT id FROM a WHERE g = 9") == [3]


def test_union_of_parenthesised_queries_with_their_own_limits(node: Node) -> None:
    """(SELECT ... ORDER BY ... LIMIT 1) UNION (SELECT ...): SQLite takes no parenthesised member
    (error 1064 before); each member keeps its ORDER BY and LIMIT."""
    s = node.session
    run(s, "CREATE TABLE u (id INT PRIMARY KEY)")
    run(s, "INSERT INTO u VALUES (1), (2), (3)")
    first_last = (
        "(SELECT id FROM u ORDER BY id DESC LIMIT 1) UNION ALL (SELECT id FROM u ORDER BY id LIMIT 1)"
    )
    assert sorted(rows(s, first_last)) == [(1,), (3,)]
    assert rows(s, "(SELECT id FROM u) UNION (SELECT id + 10 FROM u) ORDER BY id DESC LIMIT 2") == [
        (13,),
        (12,),
    ]


def test_a_named_window_is_no_alias_in_column_names(node: Node) -> None:
    """``LEAD(v, 2, 'none') OVER w`` is named as the client wrote it (it was SQLite's text with the
    statement's internal parameter names)."""
    s = node.session
    run(s, "CREATE TABLE w (id INT PRIMARY KEY, v VARCHAR(5))")
    run(s, "INSERT INTO w VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    result = run(
        s,
        "SELECT v, LEAD(v, 2, 'none') OVER w AS nxt, LEAD(v, 1, 'x') OVER w FROM w WINDOW w AS (ORDER BY id)",
    )
    assert [c.name for c in result.columns] == ["v", "nxt", "LEAD(v, 1, 'x') OVER w"]
    assert [tuple(r) for r in result.rows] == [("a", "c", "b"), ("b", "none", "c"), ("c", "none", "x")]
