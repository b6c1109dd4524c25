"""FULLTEXT indexes and MATCH ... AGAINST (p2pdb.sql.fulltext): the MySQL manual's articles example,
with the rows MySQL (and MariaDB, checked side by side) returns."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, app_node, rows, run


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE art (id INT PRIMARY KEY, title VARCHAR(100), body TEXT, FULLTEXT KEY ft (title, body))",
        "INSERT INTO art VALUES (1, 'MySQL Tutorial', 'DBMS stands for DataBase ...'),"
        " (2, 'How To Use MySQL Well', 'After you went through a ...'),"
        " (3, 'Optimizing MySQL', 'In this tutorial, we show ...'),"
        " (4, '1001 MySQL Tricks', '1. Never run mysqld as root. 2. ...'),"
        " (5, 'MySQL vs. YourSQL', 'In the following database comparison ...'),"
        " (6, 'MySQL Security', 'When configured properly, MySQL ...')",
    )


@pytest.mark.parametrize(
    ("against", "ids"),
    [
        ("'database' IN NATURAL LANGUAGE MODE", [1, 5]),
        ("'database'", [1, 5]),
        ("'+MySQL -YourSQL' IN BOOLEAN MODE", [1, 2, 3, 4, 6]),
        ("'tutorial secur*' IN BOOLEAN MODE", [1, 3, 6]),
        ("'\"database comparison\"' IN BOOLEAN MODE", [5]),
        ("'nothing here'", []),
    ],
)
def test_match_against_finds_what_mysql_finds(node: Node, against: str, ids: list[int]) -> None:
    found = rows(
        node.session, f"SELECT id FROM art WHERE MATCH (title, body) AGAINST ({against}) ORDER BY id"
    )
    assert [r[0] for r in found] == ids


def test_relevance_orders_and_fulltext_indexes_are_accepted(node: Node) -> None:
    s = node.session
    ranked = rows(
        s,
        "SELECT id, MATCH (title, body) AGAINST ('mysql tutorial') AS score FROM art"
        " ORDER BY score DESC, id LIMIT 2",
    )
    assert [r[0] for r in ranked] == [1, 3]  # both words before one
    run(s, "CREATE TABLE doc (id INT PRIMARY KEY, body TEXT)")
    run(s, "ALTER TABLE doc ADD FULLTEXT INDEX fb (body)")
    run(s, "CREATE FULLTEXT INDEX fb2 ON doc (body)")
    run(s, "INSERT INTO doc VALUES (1, 'hello world'), (2, 'goodbye')")
    assert rows(s, "SELECT id FROM doc WHERE MATCH (body) AGAINST ('HELLO')") == [(1,)]
