"""Text compares as under MySQL's default collation, utf8mb4_general_ci (docs/mysql-compatibility.md
"Collation"): case-insensitive, trailing spaces ignored; binary strings and ``_bin`` columns exact."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_sql_keyless_and_select import Node, error, rows, run

from p2pdb.log import Identity
from p2pdb.sql.accounts import Accounts
from p2pdb.sql.backend import SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.store.registry import Registry

TABLE = (
    "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20), code VARCHAR(10) COLLATE utf8mb4_bin,"
    " tag CHAR(4) BINARY, note TEXT, kind ENUM('cat', 'dog'), raw VARBINARY(10), UNIQUE KEY u_name (name))"
)
ROWS = (
    "INSERT INTO people VALUES (1, 'Alice', 'Ab', 'x', 'Hello', 'cat', 'a'), (2, 'bob', 'ab', 'X', 'hello', 'dog', 'A'),"
    " (3, 'Carl  ', 'AB', 'y', 'HELLO ', 'cat', 'b'), (4, 'alicé', 'b', 'Y', NULL, NULL, NULL)"
)


@pytest.fixture(scope="module")
def node() -> Node:
    node = Node()
    for sql in ("CREATE DATABASE app", "USE app", TABLE, ROWS):
        run(node.session, sql)
    return node


CASES: list[tuple[str, list[tuple[Any, ...]]]] = [
    ("SELECT id FROM people WHERE name = 'alice'", [(1,)]),
    ("SELECT id FROM people WHERE name = 'ALICE   '", [(1,)]),  # PAD SPACE
    ("SELECT id FROM people WHERE name = 'carl'", [(3,)]),
    ("SELECT id FROM people WHERE name IN ('BOB', 'x')", [(2,)]),
    ("SELECT id FROM people WHERE name > 'B' ORDER BY id", [(2,), (3,)]),
    ("SELECT name FROM people ORDER BY name, id", [("Alice",), ("alicé",), ("bob",), ("Carl  ",)]),
    ("SELECT count(DISTINCT note) FROM people", [(1,)]),
    ("SELECT lower(note), count(*) FROM people WHERE note IS NOT NULL GROUP BY note", [("hello", 3)]),
    ("SELECT id FROM people WHERE kind = 'CAT' ORDER BY id", [(1,), (3,)]),
    ("SELECT max(name) FROM people", [("Carl  ",)]),
    # _bin columns and binary strings compare exactly
    ("SELECT id FROM people WHERE code = 'ab'", [(2,)]),
    ("SELECT id FROM people WHERE tag = 'x'", [(1,)]),
    ("SELECT id FROM people WHERE raw = 'a'", [(1,)]),
    ("SELECT id FROM people WHERE name COLLATE utf8mb4_bin = 'alice'", []),
    ("SELECT id FROM people WHERE code COLLATE utf8mb4_general_ci = 'ab' ORDER BY id", [(1,), (2,), (3,)]),
    # ... and LIKE over them too (it folded case before: SQLite gives LIKE no collation)
    ("SELECT id FROM people WHERE code LIKE 'a%' ORDER BY id", [(2,)]),
    ("SELECT id FROM people WHERE tag LIKE 'X%'", [(2,)]),
    ("SELECT id FROM people WHERE raw LIKE 'A'", [(2,)]),
    ("SELECT id FROM people WHERE code NOT LIKE 'A%' ORDER BY id", [(2,), (4,)]),
    ("SELECT id FROM people WHERE name LIKE 'a%' ORDER BY id", [(1,), (4,)]),
    # literals
    ("SELECT 'a' = 'A', 'a ' = 'A', 'a' < 'B', 'x' <> 'X', 'abc' LIKE 'ABC'", [(1, 1, 1, 0, 1)]),
    ("SELECT 'a' COLLATE utf8mb4_bin = 'A', 'a' = 'A' COLLATE utf8mb4_bin, BINARY 'a' = 'A'", [(0, 0, 0)]),
    ("SELECT 'é' = 'E'", [(0,)]),  # accents are not folded (utf8mb4_general_ci folds them)
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_comparisons(node: Node, sql: str, expected: list[tuple[Any, ...]]) -> None:
    assert rows(node.session, sql) == expected


def test_unique_refuses_a_case_variant(node: Node) -> None:
    code, message = error(node.session, "INSERT INTO people (id, name) VALUES (9, 'ALICE ')")
    assert code == 1062, message
    assert rows(node.session, "SELECT count(*) FROM people") == [(4,)]
    code, _ = error(node.session, "UPDATE people SET name = 'BOB' WHERE id = 1")
    assert code == 1062


def test_catalog_reports_mysql_collations(node: Node) -> None:
    ((_, create),) = rows(node.session, "SHOW CREATE TABLE people")
    assert "`name` varchar(20) DEFAULT NULL" in create
    assert "`code` varchar(10) COLLATE utf8mb4_bin DEFAULT NULL" in create
    assert "`tag` char(4) COLLATE utf8mb4_bin DEFAULT NULL" in create
    assert "COLLATE=utf8mb4_general_ci" in create
    got = rows(
        node.session,
        "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'people' ORDER BY ORDINAL_POSITION",
    )
    assert got == [
        ("id", None), ("name", "utf8mb4_general_ci"), ("code", "utf8mb4_bin"), ("tag", "utf8mb4_bin"),
        ("note", "utf8mb4_general_ci"), ("kind", "utf8mb4_general_ci"), ("raw", None),
    ]  # fmt: skip
    full = {r[0]: r[2] for r in rows(node.session, "SHOW FULL COLUMNS FROM people")}
    assert full["name"] == "utf8mb4_general_ci" and full["code"] == "utf8mb4_bin"


def test_copies_keep_the_collation(node: Node) -> None:
    run(node.session, "CREATE TABLE people2 LIKE people")
    run(node.session, "CREATE TABLE people3 AS SELECT code, name FROM people")
    for table in ("people2", "people3"):
        ((_, create),) = rows(node.session, f"SHOW CREATE TABLE {table}")
        assert "`code` varchar(10) COLLATE utf8mb4_bin" in create, create
    run(node.session, "INSERT INTO people2 (id, name, code) VALUES (1, 'Q', 'q')")
    assert rows(node.session, "SELECT id FROM people2 WHERE name = 'q' AND code = 'q'") == [(1,)]


def test_alter_add_and_modify_column(node: Node) -> None:
    run(node.session, "CREATE TABLE alt (id INT PRIMARY KEY, a INT)")
    run(node.session, "INSERT INTO alt VALUES (1, 1)")
    run(node.session, "ALTER TABLE alt ADD COLUMN s VARCHAR(5)")
    run(node.session, "ALTER TABLE alt ADD COLUMN b VARCHAR(5) COLLATE utf8mb4_bin")
    run(node.session, "UPDATE alt SET s = 'Up', b = 'Up'")
    assert rows(node.session, "SELECT id FROM alt WHERE s = 'UP'") == [(1,)]
    assert rows(node.session, "SELECT id FROM alt WHERE b = 'UP'") == []
    run(node.session, "ALTER TABLE alt MODIFY COLUMN b VARCHAR(5)")  # back to the default collation
    assert rows(node.session, "SELECT id FROM alt WHERE b = 'UP'") == [(1,)]


def test_unknown_collation(node: Node) -> None:
    code, message = error(node.session, "CREATE TABLE bad (a VARCHAR(3) COLLATE nope_ci)")
    assert (code, message) == (1273, "Unknown collation: 'nope_ci'")


def test_reader_connections_compare_the_same(tmp_path: Path) -> None:
    """A file database's long reads run on reader connections: they need the collation too."""
    backend = SQLBackend(Registry(Identity.generate(), tmp_path), Accounts(None))
    info = ConnectInfo(1, "root", None, "127.0.0.1", False, False, 45)
    session = asyncio.run(backend.open_session(info))
    for sql in ("CREATE DATABASE app", "USE app", TABLE, ROWS):
        run(session, sql)
    db = backend.registry.get("app")
    assert db is not None

    def read(conn: Any) -> list[tuple[Any, ...]]:
        assert conn is not db.conn
        return [tuple(r) for r in conn.execute("SELECT id FROM people WHERE name = 'ALICE' ORDER BY name")]

    try:
        assert asyncio.run(backend.pool.run(db, read)) == [(1,)]
        assert rows(session, "SELECT id FROM people WHERE name = 'BOB'") == [(2,)]
    finally:
        backend.registry.close()


def test_collations_real_schemas_name() -> None:
    """WordPress' utf8mb4_unicode_520_ci, the old utf8_* names and a case-sensitive 0900 collation."""
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE wpdb")
    run(s, "USE wpdb")
    run(
        s,
        "CREATE TABLE wp (id INT PRIMARY KEY, a VARCHAR(10) COLLATE utf8mb4_unicode_520_ci,"
        " b VARCHAR(10) CHARACTER SET utf8 COLLATE utf8_general_ci, c VARCHAR(5) COLLATE utf8mb4_0900_as_cs)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci",
    )
    run(s, "INSERT INTO wp VALUES (1, 'Abc', 'Abc', 'Abc')")
    assert rows(s, "SELECT COUNT(*) FROM wp WHERE a = 'abc' AND b = 'abc'") == [(1,)]
    assert rows(s, "SELECT COUNT(*) FROM wp WHERE c = 'abc'") == [(0,)]  # _cs: case-sensitive


def test_show_create_table_names_another_character_set_and_round_trips() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE cs")
    run(s, "USE cs")
    run(s, "CREATE TABLE w (id INT PRIMARY KEY, b VARCHAR(10) CHARACTER SET utf8 COLLATE utf8_general_ci)")
    ((_, text),) = rows(s, "SHOW CREATE TABLE w")
    assert "`b` varchar(10) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci DEFAULT NULL" in text
    run(s, "DROP TABLE w")
    run(s, text)
    assert rows(s, "SHOW CREATE TABLE w") == [("w", text)]
