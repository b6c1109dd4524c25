"""A string compared with a number compares as two numbers, as in MySQL (issue 11, item 5): in
projections and conditions, against literals, columns and subqueries; plans keep the kinds of their
literals apart (``name = 5`` and ``name = '5'`` are different plans)."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, error, rows, run


@pytest.fixture(scope="module")
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE co")
    run(node.session, "USE co")
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10), n INT)")
    run(node.session, "INSERT INTO t VALUES (1, 'abc', 7), (2, '05', 0), (3, '5x', 5)")
    return node


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'A' = 0, '1abc' = 1, '10' > 9, '9' > '10'", [(1, 1, 1, 1)]),
        ("SELECT 1 IN (SELECT '1'), 2 IN ('2', 3), 5 BETWEEN '1' AND '9'", [(1, 1, 1)]),
        ("SELECT id FROM t WHERE name = 0", [(1,)]),
        ("SELECT id FROM t WHERE name = 5 ORDER BY id", [(2,), (3,)]),
        ("SELECT id FROM t WHERE name = '5x'", [(3,)]),
        ("SELECT id FROM t WHERE n = '007'", [(1,)]),
        ("SELECT id FROM t WHERE n = 'abc'", [(2,)]),
        ("SELECT id FROM t WHERE n IN ('5', '0') ORDER BY id", [(2,), (3,)]),
        ("SELECT COUNT(*) FROM t WHERE name > 4", [(2,)]),
    ],
)
def test_strings_compared_with_numbers(node: Node, sql: str, expected: list[tuple[int, ...]]) -> None:
    assert rows(node.session, sql) == expected


def test_the_same_shape_with_other_literal_kinds_is_another_plan(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT id FROM t WHERE name = '05'") == [(2,)]
    assert rows(s, "SELECT id FROM t WHERE name = 5 ORDER BY id") == [(2,), (3,)]
    assert rows(s, "SELECT id FROM t WHERE name = '5'") == []


def test_assignments_are_not_comparisons(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE a (id INT PRIMARY KEY, name VARCHAR(10), n INT)")
    run(s, "INSERT INTO a VALUES (1, 'abc', 7)")
    run(s, "UPDATE a SET name = 12, n = '8' WHERE id = 1")
    run(s, "INSERT INTO a VALUES (1, 'x', 1) ON DUPLICATE KEY UPDATE name = 13")
    assert rows(s, "SELECT name, n FROM a WHERE id = 1") == [("13", 8)]


def test_division_by_zero_is_null_with_warning_in_reads_and_error_1365_in_writes(node: Node) -> None:
    s = node.session
    result = run(s, "SELECT 1/0, 5 % 0, 7.5/0, 5 % 2")
    assert [tuple(r) for r in result.rows] == [(None, None, None, 1)]
    assert rows(s, "SHOW WARNINGS") == [("Warning", 1365, "Division by 0")] * 3
    run(s, "CREATE TABLE z (id INT PRIMARY KEY, d DECIMAL(8,2))")
    assert error(s, "INSERT INTO z VALUES (1, 1/0)")[0] == 1365
    assert error(s, "INSERT INTO z VALUES (1, 5.5 % 0)")[0] == 1365
    run(s, "INSERT INTO z VALUES (1, 10/4)")
    assert error(s, "UPDATE z SET d = d / 0")[0] == 1365
    assert rows(s, "SELECT d FROM z") == [("2.50",)]


def test_division_outside_the_select_list_is_mysql_division(node: Node) -> None:
    """SQLite's ``7/2`` is 3: a WHERE, ORDER BY, UPDATE or DELETE condition must see MySQL's 3.5000,
    and a quotient compares at its own scale (``1/3 = 0.3333`` holds, as in MySQL)."""
    s = node.session
    run(s, "CREATE TABLE q (id INT PRIMARY KEY, n INT, d DECIMAL(6,2), f DOUBLE)")
    run(s, "INSERT INTO q VALUES (1, 7, 7.00, 7), (2, 1, 1.00, 1), (3, 0, 0, 0)")
    assert rows(s, "SELECT id FROM q WHERE n/2 = 3.5") == [(1,)]
    assert rows(s, "SELECT id FROM q WHERE d/2 = 3.5 AND f/2 = 3.5") == [(1,)]
    assert rows(s, "SELECT id FROM q WHERE n/3 = 2.3333") == [(1,)]
    assert rows(s, "SELECT id FROM q WHERE n/3 > 2.3333") == []
    assert rows(s, "SELECT id FROM q WHERE 1/n > 0.5") == [(2,)]
    assert rows(s, "SHOW WARNINGS") == [("Warning", 1365, "Division by 0")]
    assert rows(s, "SELECT id FROM q WHERE n > 0 ORDER BY 1/n") == [(1,), (2,)]
    run(s, "UPDATE q SET f = 8 WHERE n/2 = 3.5")
    run(s, "DELETE FROM q WHERE n/2 = 0.5")
    assert rows(s, "SELECT id, f FROM q ORDER BY id") == [(1, 8.0), (3, 0.0)]


def test_cast_as_json_and_unknown_cast_types(node: Node) -> None:
    s = node.session
    result = run(s, """SELECT CAST('{"b":1,"a": [1,2]}' AS JSON), CAST(5 AS JSON)""")
    assert [tuple(r) for r in result.rows] == [('{"a": [1, 2], "b": 1}', "5")]
    assert [c.type for c in result.columns] == [245, 245]
    assert error(s, "SELECT CAST('x' AS JSON)")[0] == 3141
    code, message = error(s, "SELECT CAST(1 AS FOO)")
    assert code == 1064 and "near 'FOO'" in message
