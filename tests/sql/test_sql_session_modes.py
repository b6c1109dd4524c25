"""Session modes MySQL clients set: read-only transactions (Spring's ``@Transactional(readOnly =
true)`` through Connector/J, ``START TRANSACTION READ ONLY``), ``SET NAMES ... COLLATE``, and switches
shown as ON/OFF. Expected answers are MySQL 8.0's."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, app_node, error, rows, run


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES (1, 1)",
    )


def test_a_read_only_transaction_refuses_writes_and_reads(node: Node) -> None:
    s = node.session
    run(s, "START TRANSACTION READ ONLY")
    assert rows(s, "SELECT v FROM t") == [(1,)]
    assert error(s, "INSERT INTO t VALUES (2, 2)")[0] == 1792
    assert error(s, "UPDATE t SET v = 5")[0] == 1792
    run(s, "CREATE TEMPORARY TABLE tmp (x INT)")
    run(s, "INSERT INTO tmp VALUES (1)")  # temporary tables stay writable, as in MySQL
    run(s, "COMMIT")
    run(s, "INSERT INTO t VALUES (2, 2)")  # the next transaction writes again
    assert rows(s, "SELECT COUNT(*) FROM t") == [(2,)]


def test_the_session_access_mode_and_the_next_transaction_only(node: Node) -> None:
    s = node.session
    run(s, "SET SESSION TRANSACTION READ ONLY")  # Connector/J's setReadOnly(true)
    assert error(s, "DELETE FROM t")[0] == 1792
    run(s, "START TRANSACTION READ WRITE")
    run(s, "UPDATE t SET v = 3")
    run(s, "COMMIT")
    run(s, "SET SESSION TRANSACTION READ WRITE")
    run(s, "SET TRANSACTION READ ONLY")  # no scope: the next transaction only
    run(s, "START TRANSACTION")
    assert error(s, "UPDATE t SET v = 4")[0] == 1792
    run(s, "COMMIT")
    run(s, "UPDATE t SET v = 5")
    assert rows(s, "SELECT v FROM t") == [(5,)]


def test_set_names_collate_and_switches_shown_as_on_off(node: Node) -> None:
    s = node.session
    run(s, "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci")
    assert rows(s, "SELECT @@character_set_client, @@collation_connection") == [
        ("utf8mb4", "utf8mb4_unicode_ci")
    ]
    run(s, "SET NAMES 'utf8'")
    assert rows(s, "SELECT @@character_set_results, @@collation_connection") == [
        ("utf8mb3", "utf8mb3_general_ci")
    ]
    assert rows(s, "SHOW SESSION VARIABLES LIKE 'autocommit'") == [("autocommit", "ON")]
    run(s, "SET foreign_key_checks = 0")
    assert rows(s, "SHOW VARIABLES LIKE 'foreign_key_checks'") == [("foreign_key_checks", "OFF")]
    assert rows(s, "SELECT @@autocommit, @@foreign_key_checks") == [(1, 0)]


def test_double_pipe_is_or_unless_pipes_as_concat(node: Node) -> None:
    """MySQL's ``||`` is a logical OR (SQLite's, which P2PDB ran, concatenates): ``WHERE a = 1 ||
    b = 1`` matched nothing. ``sql_mode`` with PIPES_AS_CONCAT (or ANSI) makes it concatenate."""
    s = node.session
    run(s, "CREATE TABLE pp (id INT PRIMARY KEY, a INT, b INT)")
    run(s, "INSERT INTO pp VALUES (1, 1, 0), (2, 0, 0), (3, 0, 1)")
    assert rows(s, "SELECT id FROM pp WHERE a = 1 || b = 1 ORDER BY id") == [(1,), (3,)]
    assert rows(s, "SELECT 'a' || 'b', 1 || 0, NULL || 0") == [(0, 1, None)]
    run(s, "DELETE FROM pp WHERE a = 1 || id = 2")
    assert rows(s, "SELECT id FROM pp") == [(3,)]
    run(s, "SET SESSION sql_mode = 'PIPES_AS_CONCAT'")
    assert rows(s, "SELECT 'a' || 'b', 1 || 0") == [("ab", "10")]
    run(s, "SET SESSION sql_mode = 'ANSI'")
    assert rows(s, "SELECT 'a' || 'b'") == [("ab",)]
    run(s, "SET SESSION sql_mode = DEFAULT")
    assert rows(s, "SELECT 'a' || 'b'") == [(0,)]
