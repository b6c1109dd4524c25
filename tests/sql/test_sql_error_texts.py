"""Error texts clients and ORMs show or parse, as MySQL 8.0 words them (Sequelize reads the value
and key from ``Duplicate entry '...' for key '...'``)."""

from __future__ import annotations

import pytest
from test_sql_keyless_and_select import Node, app_node, error, rows, run


@pytest.fixture
def node() -> Node:
    return app_node(
        "CREATE TABLE er (id INT PRIMARY KEY, u VARCHAR(10) UNIQUE, a VARCHAR(5), b INT, UNIQUE KEY ab (a, b))",
        "INSERT INTO er VALUES (1, 'x', 'p', 1)",
    )


def test_duplicate_entries_name_the_value_and_the_key(node: Node) -> None:
    s = node.session
    assert error(s, "INSERT INTO er VALUES (1, 'y', 'q', 2)") == (
        1062,
        "Duplicate entry '1' for key 'er.PRIMARY'",
    )
    assert error(s, "INSERT INTO er (id, u) VALUES (2, 'x')") == (1062, "Duplicate entry 'x' for key 'er.u'")
    assert error(s, "INSERT INTO er VALUES (3, 'z', 'p', 1)") == (
        1062,
        "Duplicate entry 'p-1' for key 'er.ab'",
    )
    # the value is not a literal of a one-row INSERT: the key alone
    assert error(s, "INSERT INTO er (id) SELECT 1") == (1062, "Duplicate entry for key 'er.PRIMARY'")


def test_key_columns_and_operands(node: Node) -> None:
    s = node.session
    assert error(s, "CREATE INDEX i ON er (nope)") == (1072, "Key column 'nope' doesn't exist in table")
    assert error(s, "SELECT (SELECT 1, 2)") == (1241, "Operand should contain 1 column(s)")


def test_an_expression_nested_too_deeply_is_an_error_not_a_crash(node: Node) -> None:
    s = node.session
    code, message = error(s, "SELECT b FROM er WHERE " + " + ".join(["b"] * 3000) + " > 0")
    assert code == 1436 and "nests too deeply" in message
    assert rows(s, "SELECT u FROM er") == [("x",)]  # the session goes on


def test_new_rows_larger_than_one_entry_commit_as_several_entries(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE big (id INT PRIMARY KEY, body LONGTEXT)")
    db = node.backend.registry.get("app")
    assert db is not None
    before = len(db.log)
    run(s, "BEGIN")
    for i in range(5):
        run(s, f"INSERT INTO big VALUES ({i}, REPEAT('x', 1000000))")
    run(s, "COMMIT")  # 5 MB of new rows: more than one 4 MiB entry holds
    assert rows(s, "SELECT COUNT(*), SUM(LENGTH(body)) FROM big") == [(5, 5000000)]
    assert len(db.log) - before == 5  # each 1 MB row in an entry of its own (over half a part)


def test_changes_to_existing_rows_larger_than_one_entry_are_error_1197_and_write_nothing(node: Node) -> None:
    s = node.session
    run(s, "CREATE TABLE big (id INT PRIMARY KEY, body LONGTEXT)")
    for i in range(5):
        run(s, f"INSERT INTO big VALUES ({i}, 'small')")
    run(s, "BEGIN")
    run(s, "UPDATE big SET body = REPEAT('x', 1000000)")
    code, message = error(s, "COMMIT")
    assert code == 1197 and "commit it in smaller transactions" in message, message
    assert rows(s, "SELECT COUNT(*), SUM(LENGTH(body)) FROM big") == [(5, 25)]
    run(s, "UPDATE big SET body = REPEAT('y', 1000000) WHERE id = 1")  # what fits in an entry commits
    assert rows(s, "SELECT SUM(LENGTH(body)) FROM big") == [(4 * 5 + 1000000,)]
