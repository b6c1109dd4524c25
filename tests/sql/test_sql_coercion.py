"""A string compared with a number compares as two numbers, as in MySQL (issue 11, item 5): in
projections and conditions, against literals, columns and subqueries; plans keep the kinds of their
literals apart (``name = 5`` and ``name = '5'`` are different plans)."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, rows, run


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
