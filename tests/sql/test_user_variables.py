"""User variables assigned inside a statement (``@n := @n + 1``), read and written row by row as
MySQL does, in SELECT and UPDATE (error 1064 before); ``SET @v = NULL`` sets NULL."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, rows, run

from p2pdb.sql.protocol.results import ResultSet


@pytest.fixture
def node() -> Node:
    node = Node()
    run(node.session, "CREATE DATABASE v")
    run(node.session, "USE v")
    run(node.session, "CREATE TABLE k (id INT PRIMARY KEY, name VARCHAR(5), cnt INT)")
    run(node.session, "INSERT INTO k VALUES (1, 'b', 5), (2, 'a', 3), (3, 'c', 8)")
    return node


def test_row_numbers_and_running_totals(node: Node) -> None:
    s = node.session
    run(s, "SET @r := 0")
    result = run(s, "SELECT name, @r := @r + 1 AS rn, @r := @r FROM k ORDER BY id")
    assert isinstance(result, ResultSet)
    assert [c.name for c in result.columns] == ["name", "rn", "@r := @r"]
    assert [tuple(r) for r in result.rows] == [("b", 1, 1), ("a", 2, 2), ("c", 3, 3)]
    assert rows(s, "SELECT @r") == [(3,)]
    run(s, "SET @t = 0, @prev = NULL")
    assert rows(
        s, "SELECT id, @t := @t + cnt, IF(@prev IS NULL, 0, cnt - @prev), @prev := cnt FROM k ORDER BY id"
    ) == [
        (1, 5, 0, 5),
        (2, 8, -2, 3),
        (3, 16, 5, 8),
    ]
    # The same shape with other variables: one cached plan, each statement its own variables.
    run(s, "SET @x = 100")
    assert rows(s, "SELECT @x := @x + 1 FROM k ORDER BY id") == [(101,), (102,), (103,)]
    assert rows(s, "SELECT @r, @x") == [(3, 103)]


def test_numbering_update_and_nested_assignments(node: Node) -> None:
    s = node.session
    run(s, "SET @n = 0")
    assert run(s, "UPDATE k SET cnt = (@n := @n + 1) ORDER BY id").affected_rows == 3
    assert rows(s, "SELECT id, cnt FROM k ORDER BY id") == [(1, 1), (2, 2), (3, 3)]
    assert rows(s, "SELECT @n, @a := @b := 7, @a, @b") == [(3, 7, 7, 7)]
    assert rows(s, "SELECT @m := (SELECT MAX(cnt) FROM k), @m + 1") == [(3, 4)]


def test_a_transaction_commits_what_its_assignments_showed(node: Node) -> None:
    """A transaction's writes are replayed (at COMMIT, and to rebuild its view): a statement that
    assigns variables must write again what it wrote the first time, from the variables it started
    with, and leave the session's variables as the client saw them (it wrote 29, 30 and 62 here)."""
    s = node.session
    run(s, "BEGIN")
    run(s, "UPDATE k SET cnt = cnt + 1 WHERE id = 1")
    run(s, "SET @n = 10")
    run(s, "UPDATE k SET cnt = (@n := @n + 1) ORDER BY id")
    assert run(s, "UPDATE k SET cnt = LAST_INSERT_ID(cnt * 2) WHERE id = 3").last_insert_id == 26
    run(s, "INSERT INTO k VALUES (4, 'd', 0)")
    seen = rows(s, "SELECT id, cnt FROM k ORDER BY id")
    assert seen == [(1, 11), (2, 12), (3, 26), (4, 0)]
    run(s, "COMMIT")
    assert rows(s, "SELECT id, cnt FROM k ORDER BY id") == seen
    assert rows(s, "SELECT @n, LAST_INSERT_ID()") == [(13, 26)]
