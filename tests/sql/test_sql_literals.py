"""Literals taken out of a statement never change its meaning (issue 11, items 3 and 4): positional
ORDER BY / GROUP BY stay positions, and a cached plan is never reused after the table it was built
for changed (locally or by a replicated schema change).
"""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, replica_of, rows, run, sync

from p2pdb.sql.lexer import lex, lex_python


@pytest.fixture
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE app")
    run(node.session, "USE app")
    run(node.session, "CREATE TABLE t (id INT PRIMARY KEY, g VARCHAR(5), n INT)")
    run(node.session, "INSERT INTO t VALUES (1, 'a', 5), (2, 'b', 7), (3, 'a', 1), (4, 'c', 3)")
    return node


def test_order_by_position(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT id, n FROM t ORDER BY 2") == [(3, 1), (4, 3), (1, 5), (2, 7)]
    assert rows(s, "SELECT id, n FROM t ORDER BY 1 DESC") == [(4, 3), (3, 1), (2, 7), (1, 5)]
    assert rows(s, "SELECT g, id FROM t ORDER BY 1 DESC, 2 ASC") == [("c", 4), ("b", 2), ("a", 1), ("a", 3)]
    # The same shape with other positions is another plan, not the cached one.
    assert rows(s, "SELECT id, n FROM t ORDER BY 1") == [(1, 5), (2, 7), (3, 1), (4, 3)]
    # A comment between the words is a blank, as in MySQL (and a version comment runs).
    assert rows(s, "SELECT id, n FROM t ORDER /* by n */ BY 2") == [(3, 1), (4, 3), (1, 5), (2, 7)]
    assert rows(s, "SELECT id, n FROM t ORDER -- by n\nBY 2 DESC") == [(2, 7), (1, 5), (4, 3), (3, 1)]
    assert rows(s, "SELECT g, id FROM t ORDER /*!BY*/ 1 DESC, 2") == [("c", 4), ("b", 2), ("a", 1), ("a", 3)]


def test_group_by_position(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT g, SUM(n) FROM t GROUP BY 1 ORDER BY 1") == [("a", "6"), ("b", "7"), ("c", "3")]
    assert rows(s, "SELECT g, COUNT(*) AS c FROM t GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2") == [
        ("a", 2),
        ("b", 1),
    ]


def test_literals_elsewhere_are_still_values(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT id FROM t WHERE n > 2 ORDER BY n + 0 DESC") == [(2,), (1,), (4,)]
    assert rows(s, "SELECT id FROM t WHERE id IN (1, 2) ORDER BY id LIMIT 1 OFFSET 1") == [(2,)]
    assert lex("INSERT INTO t VALUES (1, 2)").params == [1, 2]
    assert lex("SELECT a FROM t ORDER BY f(1, 2)").params == [1, 2]
    assert lex("SELECT a FROM t ORDER BY 1, 2").params == []


def test_no_stale_plan_after_drop_and_create(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT * FROM t WHERE id = 1") == [(1, "a", 5)]
    run(s, "DROP TABLE t")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, x VARCHAR(5))")
    run(s, "INSERT INTO t VALUES (1, 'new')")
    assert rows(s, "SELECT * FROM t WHERE id = 1") == [(1, "new")]
    result = run(s, "SELECT * FROM t WHERE id = 1")
    assert [c.name for c in result.columns] == ["id", "x"]


def test_no_stale_plan_after_add_column(node: Node) -> None:
    s = node.session
    assert rows(s, "SELECT * FROM t WHERE id = 2") == [(2, "b", 7)]
    run(s, "ALTER TABLE t ADD COLUMN extra INT DEFAULT 9")
    assert rows(s, "SELECT * FROM t WHERE id = 2") == [(2, "b", 7, 9)]
    run(s, "INSERT INTO t VALUES (5, 'd', 1, 2)")
    assert rows(s, "SELECT * FROM t WHERE id = 5") == [(5, "d", 1, 2)]


def test_no_stale_plan_after_a_replicated_schema_change(node: Node) -> None:
    replica = replica_of(node)
    r = replica.session
    assert rows(r, "SELECT * FROM t WHERE id = 3") == [(3, "a", 1)]
    run(r, "INSERT INTO t VALUES (6, 'e', 0)")  # an INSERT plan for three columns
    run(node.session, "ALTER TABLE t ADD COLUMN extra INT DEFAULT 9")
    sync(node.db(), replica.db())
    assert rows(r, "SELECT * FROM t WHERE id = 3") == [(3, "a", 1, 9)]
    run(r, "INSERT INTO t VALUES (7, 'f', 0, 1)")
    assert rows(r, "SELECT * FROM t WHERE id = 7") == [(7, "f", 0, 1)]


def test_type_arguments_stay_types_anywhere_in_a_statement(node: Node) -> None:
    s = node.session
    # CAST(... AS DECIMAL(10,2)) in WHERE, CASE and aggregates: the 10 and 2 are no parameters.
    assert rows(s, "SELECT COUNT(*) FROM t WHERE CAST(n AS DECIMAL(10,2)) > 2") == [(3,)]
    assert rows(s, "SELECT MIN(CASE WHEN n > 0 THEN CAST(n AS CHAR(1)) END) FROM t") == [("1",)]


def test_adjacent_strings_are_one_literal_and_national_strings_are_strings(node: Node) -> None:
    """MySQL joins adjacent string literals ('a' 'b' is 'ab') and reads N'x' as a string (both were
    error 1064)."""
    s = node.session
    assert rows(s, "SELECT 'a' 'b' \"c\", N'nat', n'x'") == [("abc", "nat", "x")]
    assert rows(s, "SELECT id FROM t WHERE g = 'a' '' ORDER BY id") == [(1,), (3,)]
    assert lex("SELECT 'a', 'b' AS 'c'").params == ["a", "b", "c"]  # separate literals stay apart
    assert lex("SELECT _binary'a' 'b'").params == [b"ab"]


def test_a_string_keeps_the_other_quote_doubled(node: Node) -> None:
    """Inside '...', "" is two characters (only '' is one quote), escapes or not; and the other
    way round inside "..." (the Python lexer once turned "" into ' when the string had an escape)."""
    s = node.session
    assert rows(s, "SELECT 'a\\n\"\"b', \"c\\t''d\", 'e''f\"\"g'") == [('a\n""b', "c\t''d", 'e\'f""g')]
    assert lex_python("SELECT 'a\\n\"\"b'").params == ['a\n""b']
