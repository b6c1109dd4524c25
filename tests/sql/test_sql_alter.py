"""ALTER TABLE ... DROP COLUMN / MODIFY / CHANGE / ALTER COLUMN SET DEFAULT (issue 11, item 7),
replicated and merged by the schema rules (docs/crdt.md: observed-remove drops, latest MODIFY wins)."""

from __future__ import annotations

from typing import Any

import pytest
from test_sql_keyless_and_select import Node, error, replica_of, rows, run, sync


@pytest.fixture
def node() -> Node:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE app")
    run(s, "USE app")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10), c INT DEFAULT 3)")
    run(s, "CREATE INDEX ib ON t (b)")
    run(s, "INSERT INTO t VALUES (1, 10, 'x', 1), (2, 20, 'y', 2)")
    return node


def same(*nodes: Node, table: str = "t") -> list[Any]:
    for a in nodes:
        for b in nodes:
            if a is not b:
                sync(a.db(), b.db())
    states = {n.db().state_hash() for n in nodes}
    assert len(states) == 1
    shown = {repr(rows(n.session, f"SELECT * FROM {table} ORDER BY id")) for n in nodes}
    assert len(shown) == 1
    return rows(nodes[0].session, f"SELECT * FROM {table} ORDER BY id")


def test_drop_column_with_its_index(node: Node) -> None:
    s = node.session
    run(s, "ALTER TABLE t DROP COLUMN b")
    assert rows(s, "SELECT * FROM t ORDER BY id") == [(1, 10, 1), (2, 20, 2)]
    assert [r[2] for r in rows(s, "SHOW INDEX FROM t")] == ["PRIMARY"]
    run(s, "INSERT INTO t VALUES (3, 30, 3)")
    run(s, "ALTER TABLE t DROP a, ADD COLUMN d INT DEFAULT 4")
    assert rows(s, "SELECT * FROM t ORDER BY id") == [(1, 1, 4), (2, 2, 4), (3, 3, 4)]
    replica = replica_of(node)
    assert same(node, replica) == [(1, 1, 4), (2, 2, 4), (3, 3, 4)]


def test_modify_change_and_defaults(node: Node) -> None:
    s = node.session
    run(s, "ALTER TABLE t MODIFY a VARCHAR(20) NOT NULL")
    assert rows(s, "SELECT a FROM t ORDER BY id") == [("10",), ("20",)]
    assert error(s, "INSERT INTO t (id) VALUES (3)")[0] in (1048, 1364)
    run(s, "ALTER TABLE t ALTER COLUMN c SET DEFAULT 7")
    run(s, "INSERT INTO t (id, a) VALUES (3, 'z')")
    assert rows(s, "SELECT c FROM t WHERE id = 3") == [(7,)]
    run(s, "ALTER TABLE t ALTER COLUMN c DROP DEFAULT")
    run(s, "INSERT INTO t (id, a) VALUES (4, 'w')")
    assert rows(s, "SELECT c FROM t WHERE id = 4") == [(None,)]
    run(s, "ALTER TABLE t CHANGE COLUMN c c BIGINT NOT NULL DEFAULT 0")
    described = {r[0]: r for r in rows(s, "DESCRIBE t")}
    assert described["c"][1] == "bigint" and described["c"][2] == "NO"
    replica = replica_of(node)
    assert same(node, replica)[0][:2] == (1, "10")


def test_renames_replicate_and_key_columns_are_refused_clearly(node: Node) -> None:
    s = node.session
    replica = replica_of(node)
    run(s, "ALTER TABLE t RENAME COLUMN a TO z")
    run(s, "ALTER TABLE t RENAME TO u")
    assert rows(s, "SELECT id, z FROM u ORDER BY id") == [(1, 10), (2, 20)]
    assert [r[0] for r in same(node, replica, table="u")] == [1, 2]
    assert [r[0] for r in rows(replica.session, "DESCRIBE u")] == ["id", "z", "b", "c"]
    assert error(s, "ALTER TABLE u DROP COLUMN id")[0] == 1235
    assert error(s, "ALTER TABLE u DROP COLUMN nosuch")[0] == 1091


def test_concurrent_drop_and_update_of_a_column_converge(node: Node) -> None:
    replica = replica_of(node)
    run(node.session, "ALTER TABLE t DROP COLUMN b")
    run(replica.session, "UPDATE t SET b = 'late' WHERE id = 1")
    assert same(node, replica) == [(1, 10, 1), (2, 20, 2)]
    # The column comes back with a later ADD COLUMN; the merge decides its cells the same everywhere.
    run(replica.session, "ALTER TABLE t ADD COLUMN b VARCHAR(10)")
    assert len(same(node, replica)[0]) == 4


def test_concurrent_drop_and_modify_end_without_the_column(node: Node) -> None:
    replica = replica_of(node)
    run(node.session, "ALTER TABLE t DROP COLUMN a")
    run(replica.session, "ALTER TABLE t MODIFY a VARCHAR(5)")
    # A MODIFY concurrent with a DROP COLUMN does not bring the column back (docs/crdt.md §10).
    assert same(node, replica) == [(1, "x", 1), (2, "y", 2)]
    assert [r[0] for r in rows(node.session, "DESCRIBE t")] == ["id", "b", "c"]


def test_concurrent_modifies_latest_wins_everywhere(node: Node) -> None:
    replica = replica_of(node)
    run(node.session, "ALTER TABLE t MODIFY c VARCHAR(5)")
    run(replica.session, "ALTER TABLE t MODIFY c BIGINT")
    same(node, replica)
    types = {n.db().catalog.table("t").column("c").extra["mt"] for n in (node, replica)}  # type: ignore[union-attr]
    assert len(types) == 1


def test_auto_increment_start_truncate_and_reset_as_mysql(node: Node) -> None:
    """``AUTO_INCREMENT = n`` (CREATE and ALTER) sets where generated ids start, replicated with the
    schema; TRUNCATE and ``ALTER TABLE ... AUTO_INCREMENT = 1`` on an emptied table (Django's
    sequence reset) number from 1 again. MariaDB gives the same ids."""
    s = node.session
    run(s, "CREATE TABLE ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT = 100")
    run(s, "INSERT INTO ai (v) VALUES (1)")
    assert rows(s, "SELECT id FROM ai") == [(100,)]
    run(s, "TRUNCATE TABLE ai")
    run(s, "INSERT INTO ai (v) VALUES (1)")
    assert rows(s, "SELECT id FROM ai") == [(1,)]
    run(s, "ALTER TABLE ai AUTO_INCREMENT = 50")
    run(s, "INSERT INTO ai (v) VALUES (2)")
    assert rows(s, "SELECT id FROM ai ORDER BY id") == [(1,), (50,)]
    run(s, "DELETE FROM ai")
    run(s, "ALTER TABLE ai AUTO_INCREMENT = 1")
    run(s, "INSERT INTO ai (v) VALUES (3)")
    assert rows(s, "SELECT id FROM ai") == [(1,)]
    run(s, "ALTER TABLE ai AUTO_INCREMENT = 1")  # below the ids held: the next is above them
    run(s, "INSERT INTO ai (v) VALUES (4)")
    assert rows(s, "SELECT id FROM ai ORDER BY id") == [(1,), (2,)]
    run(s, "ALTER TABLE ai AUTO_INCREMENT = 7")
    assert "AUTO_INCREMENT=7" in rows(s, "SHOW CREATE TABLE ai")[0][1]
    replica = replica_of(node)
    assert "AUTO_INCREMENT=7" in rows(replica.session, "SHOW CREATE TABLE ai")[0][1]
    assert same(node, replica, table="ai") == [(1, 3), (2, 4)]


def test_prefix_indexes_in_alter_and_create_index(node: Node) -> None:
    """``ADD INDEX (col(191))`` and ``CREATE INDEX ... ON t (col(30))`` (WordPress's schema, most
    utf8mb4 migrations) were 1072 naming ``col(:p1)``: the prefix length reaches the shape as a
    parameter. The index covers the whole column here (SQLite has no prefix indexes)."""
    s = node.session
    run(s, "ALTER TABLE t ADD INDEX pb (b(5), id)")
    run(s, "CREATE INDEX pb2 ON t (b(3))")
    run(s, "CREATE UNIQUE INDEX pb3 ON t (b(8) DESC, a)")
    names = {r[2] for r in rows(s, "SHOW INDEX FROM t")}
    assert {"pb", "pb2", "pb3"} <= names
    assert error(s, "CREATE INDEX bad ON t (nope(3))")[0] == 1072


def test_generated_columns_are_refused_not_stored_empty(node: Node) -> None:
    """``g INT AS (b * 2)`` was accepted as a plain column that held NULL in every row; until a
    generated column is computed from the merged row on every replica, it is refused clearly."""
    s = node.session
    for sql in (
        "ALTER TABLE t ADD COLUMN g INT GENERATED ALWAYS AS (a * 2) VIRTUAL",
        "ALTER TABLE t ADD COLUMN g INT AS (a + 1) STORED",
        "CREATE TABLE gc (id INT PRIMARY KEY, b INT, g INT AS (b * 3))",
    ):
        code, message = error(s, sql)
        assert code == 1235 and "generated columns" in message
    assert "g" not in {r[0] for r in rows(s, "SHOW COLUMNS FROM t")}
