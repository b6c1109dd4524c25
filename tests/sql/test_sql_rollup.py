"""GROUP BY ... WITH ROLLUP (issue 11): super-aggregate rows after the rows they sum, NULL in the
rolled-up columns, GROUPING(), HAVING per level, exact DECIMAL sums, ORDER BY and LIMIT on the result."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, rows, run


@pytest.fixture(scope="module")
def node() -> Node:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE app")
    run(s, "USE app")
    run(s, "CREATE TABLE sales (id INT PRIMARY KEY, region VARCHAR(5), year INT, amount DECIMAL(8,2))")
    run(
        s,
        "INSERT INTO sales VALUES (1, 'eu', 2023, 10.10), (2, 'eu', 2024, 20.20), (3, 'us', 2023, 5.05),"
        " (4, 'us', 2023, 1.01), (5, 'eu', 2024, 0.01)",
    )
    return node


def test_one_column_with_exact_sums(node: Node) -> None:
    result = run(node.session, "SELECT region, SUM(amount) FROM sales GROUP BY region WITH ROLLUP")
    assert [tuple(r) for r in result.rows] == [("eu", "30.31"), ("us", "6.06"), (None, "36.37")]
    assert result.columns[1].type == 246  # NEWDECIMAL, computed exactly


def test_two_columns_and_grouping(node: Node) -> None:
    got = rows(
        node.session,
        "SELECT region, year, COUNT(*) AS n, GROUPING(region, year) AS g FROM sales"
        " GROUP BY region, year WITH ROLLUP",
    )
    assert got == [
        ("eu", 2023, 1, 0),
        ("eu", 2024, 2, 0),
        ("eu", None, 3, 1),
        ("us", 2023, 2, 0),
        ("us", None, 2, 1),
        (None, None, 5, 3),
    ]


def test_having_limit_and_order(node: Node) -> None:
    s = node.session
    got = rows(s, "SELECT region, COUNT(*) AS n FROM sales GROUP BY region WITH ROLLUP HAVING n > 2")
    assert got == [("eu", 3), (None, 5)]
    got = rows(
        s, "SELECT region, COUNT(*) AS n FROM sales GROUP BY region WITH ROLLUP ORDER BY n DESC LIMIT 2"
    )
    assert got == [(None, 5), ("eu", 3)]
    result = run(s, "SELECT region, COUNT(*) FROM sales WHERE year = 2023 GROUP BY region WITH ROLLUP")
    assert [c.name for c in result.columns] == ["region", "COUNT(*)"]
    assert [tuple(r) for r in result.rows] == [("eu", 1), ("us", 2), (None, 3)]


def test_group_concat_distinct_is_sorted_as_in_mysql(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT GROUP_CONCAT(DISTINCT region) FROM sales") == [("eu,us",)]
    run(s, "CREATE TABLE gc (id INT PRIMARY KEY, v VARCHAR(5))")
    run(s, "INSERT INTO gc VALUES (1, 'ops'), (2, 'eng'), (3, 'hr'), (4, 'eng')")
    assert rows(s, "SELECT GROUP_CONCAT(DISTINCT v) FROM gc") == [("eng,hr,ops",)]
    assert rows(s, "SELECT GROUP_CONCAT(DISTINCT v ORDER BY v DESC) FROM gc") == [("ops,hr,eng",)]


def test_a_qualified_column_is_named_as_mysql_names_it(node: Node) -> None:
    result = run(node.session, "SELECT s.region, SUM(s.amount) FROM sales s GROUP BY s.region WITH ROLLUP")
    assert result.columns[0].name == "region"
