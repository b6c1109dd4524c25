"""INSERT IGNORE stores what strict mode refuses, adjusted, with MySQL's warnings (issue 11):
text cut to its column (1265), numbers clamped to the type (1264), text that is no number read as its
prefix (1366), an ENUM value that is no member stored as '' (1265); duplicates are skipped."""

from __future__ import annotations

from test_sql_keyless_and_select import Node, app_node, error, rows, run


def test_insert_ignore_adjusts_values_with_warnings() -> None:
    node = Node()
    s = node.session
    run(s, "CREATE DATABASE ig")
    run(s, "USE ig")
    run(s, "CREATE TABLE t (id INT PRIMARY KEY, u VARCHAR(4), n TINYINT, d DECIMAL(4,2), e ENUM('a','b'))")
    result = run(
        s, "INSERT IGNORE INTO t VALUES (1, 'abcdefgh', 300, 123.456, 'z'), (2, 'ok', 'x12', -1000, 'a')"
    )
    assert (result.affected_rows, result.warnings) == (2, 6)
    assert [w[1] for w in rows(s, "SHOW WARNINGS")] == [1265, 1264, 1264, 1265, 1366, 1264]
    assert rows(s, "SELECT * FROM t ORDER BY id") == [
        (1, "abcd", 127, "99.99", ""),
        (2, "ok", 0, "-99.99", "a"),
    ]
    assert run(s, "INSERT IGNORE INTO t VALUES (1, 'dup', 1, 1, 'a')").affected_rows == 0
    assert rows(s, "SELECT u FROM t WHERE id = 1") == [("abcd",)]
    # Without IGNORE, strict mode still refuses.
    assert error(s, "INSERT INTO t VALUES (3, 'abcdefgh', 1, 1, 'a')")[0] == 1406
    assert error(s, "INSERT INTO t VALUES (3, 'ok', 300, 1, 'a')")[0] == 1264


def test_insert_ignore_warns_of_each_duplicate_it_skips() -> None:
    node = app_node(
        "CREATE TABLE d (id INT PRIMARY KEY, u VARCHAR(5) UNIQUE)", "INSERT INTO d VALUES (1, 'a')"
    )
    s = node.session
    skipped = run(s, "INSERT IGNORE INTO d VALUES (1, 'b')")
    assert (skipped.affected_rows, skipped.warnings) == (0, 1)
    assert rows(s, "SHOW WARNINGS") == [("Warning", 1062, "Duplicate entry '1' for key 'd.PRIMARY'")]
    some = run(s, "INSERT IGNORE INTO d VALUES (2, 'c'), (3, 'a'), (1, 'e'), (4, 'f')")
    assert (some.affected_rows, some.warnings) == (2, 2)
    assert rows(s, "SHOW WARNINGS") == [
        ("Warning", 1062, "Duplicate entry 'a' for key 'd.u'"),
        ("Warning", 1062, "Duplicate entry '1' for key 'd.PRIMARY'"),
    ]
    assert rows(s, "SELECT id, u FROM d ORDER BY id") == [(1, "a"), (2, "c"), (4, "f")]
    run(s, "BEGIN")  # the probe is undone inside a transaction too
    assert run(s, "INSERT IGNORE INTO d VALUES (2, 'x')").warnings == 1
    run(s, "COMMIT")
    assert rows(s, "SELECT id, u FROM d ORDER BY id") == [(1, "a"), (2, "c"), (4, "f")]
