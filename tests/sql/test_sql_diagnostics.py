"""The diagnostics area after a statement fails: MySQL lists the error in ``SHOW WARNINGS`` and
``SHOW ERRORS`` and counts it in ``@@error_count``/``@@warning_count`` until the next statement
that is not a diagnostics read. They were empty, and ``SHOW ERRORS`` was always empty. Also
``LAST_INSERT_ID()`` after an ``INSERT IGNORE`` that wrote nothing (MySQL: unchanged)."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, app_node, error, rows, run

DUPLICATE = (1062, "Duplicate entry 'a' for key 'k.uq'")


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE k (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20), UNIQUE KEY uq (name))",
        "INSERT INTO k (name) VALUES ('a')",
    )


def test_a_failed_statement_leaves_its_error_in_the_diagnostics_area(node: Node) -> None:
    s = node.session
    assert error(s, "INSERT INTO k (name) VALUES ('a')") == DUPLICATE
    assert rows(s, "SHOW WARNINGS") == [("Error", *DUPLICATE)]
    assert rows(s, "SHOW ERRORS") == [("Error", *DUPLICATE)]
    assert rows(s, "SELECT @@error_count, @@warning_count") == [(1, 1)]
    assert rows(s, "SHOW COUNT(*) ERRORS") == [(1,)]
    assert rows(s, "SELECT 1") == [(1,)]  # the next statement starts a new diagnostics area
    assert rows(s, "SHOW WARNINGS") == []
    assert rows(s, "SELECT 1 / 0") == [(None,)]
    assert rows(s, "SHOW WARNINGS") == [("Warning", 1365, "Division by 0")]
    assert rows(s, "SHOW ERRORS") == []


def test_insert_ignore_that_writes_nothing_keeps_last_insert_id(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(1,)]
    result = run(s, "INSERT IGNORE INTO k (name) VALUES ('a')")
    assert result.affected_rows == 0
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(1,)]
    run(s, "INSERT IGNORE INTO k (name) VALUES ('b')")
    (new_id,) = rows(s, "SELECT id FROM k WHERE name = 'b'")[0]
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(new_id,)]
