"""A multi-row INSERT runs one row at a time (p2pdb.sql.insert_rows): as one statement for the
client (atomic, one affected-rows count, one LAST_INSERT_ID()), with each row's errors and warnings
named by its row number, ids drawn in row order, and no limit from SQLite's 32,766 parameters.

A Hypothesis property compares it with SQLite running the statement whole (the path it replaced)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sql_keyless_and_select import app_node, error, rows, run

from p2pdb.sql import insert_rows
from p2pdb.sql.lexer import lex
from p2pdb.sql.protocol.errors import MySQLError


def test_split_keeps_head_and_tail_and_renumbers_literals() -> None:
    statement = lex("INSERT INTO t (a, b) VALUES (1, 'x'), ROW(-2, NULL) ON DUPLICATE KEY UPDATE b = 'z'")
    parts = insert_rows.split(statement)
    assert parts is not None
    assert [(p.shape, p.params) for p in parts] == [
        ("INSERT INTO t (a, b) VALUES (:p1, :p2) ON DUPLICATE KEY UPDATE b = :p3", [1, "x", "z"]),
        ("INSERT INTO t (a, b) VALUES (-:p1, NULL) ON DUPLICATE KEY UPDATE b = :p2", [2, "z"]),
    ]
    assert (
        insert_rows.text_of(parts[1])
        == "INSERT INTO t (a, b) VALUES (-2, NULL) ON DUPLICATE KEY UPDATE b = 'z'"
    )
    for whole in (
        "INSERT INTO t VALUES (1)",  # one row
        "INSERT INTO t SELECT 1 UNION SELECT 2",
        "INSERT INTO t SET a = 1",
        "INSERT INTO t VALUES (1, @a), (2, @b)",  # variables are named per statement
        "INSERT INTO `VALUES (1), (2)` SELECT * FROM (SELECT 1) x",
    ):
        assert insert_rows.split(lex(whole)) is None, whole


def test_ids_follow_the_rows_that_give_their_own() -> None:
    node = app_node("CREATE TABLE c (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    s = node.session
    first = run(s, "INSERT INTO c (v) VALUES (1), (2), (3)")
    assert (first.affected_rows, first.last_insert_id) == (3, 1)
    # MySQL: a row's own id moves the counter; the next row does not collide with it.
    mixed = run(s, "INSERT INTO c (id, v) VALUES (4, 4), (NULL, 5), (10, 10), (0, 11), (NULL, 12)")
    assert (mixed.affected_rows, mixed.last_insert_id) == (5, 5)
    assert rows(s, "SELECT id, v FROM c ORDER BY id") == [
        (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (10, 10), (11, 11), (12, 12)
    ]  # fmt: skip
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(5,)]
    explicit = run(s, "INSERT INTO c (id, v) VALUES (20, 1), (21, 2)")
    assert explicit.last_insert_id == 21  # the OK packet's insert id; LAST_INSERT_ID() stays
    assert rows(s, "SELECT LAST_INSERT_ID()") == [(5,)]


def test_a_failing_row_is_named_and_undoes_the_statement() -> None:
    node = app_node("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(3) NOT NULL, n TINYINT)")
    s = node.session
    run(s, "INSERT INTO t VALUES (1, 'a', 1)")
    cases = {
        "INSERT INTO t VALUES (2, 'ok', 1), (3, 'b', 1), (4, 'c', 300)": (
            1264,
            "Out of range value for column 'n' at row 3",
        ),
        "INSERT INTO t VALUES (2, 'ok', 1), (3, 'b')": (
            1136,
            "Column count doesn't match value count at row 2",
        ),
        "INSERT INTO t VALUES (2, 'ok', 1), (1, 'dup', 1)": (1062, "Duplicate entry '1' for key 't.PRIMARY'"),
        "INSERT INTO t VALUES (2, 'ok', 1), (3, NULL, 1)": (1048, "Column 'v' cannot be null"),
    }
    for sql, expected in cases.items():
        assert error(s, sql) == expected, sql
        assert rows(s, "SELECT id FROM t ORDER BY id") == [(1,)], sql
    assert error(s, "INSERT INTO t VALUES (2, 'ok', 1), (3, 'toolong', 1)") == (
        1406,
        "Data too long for column 'v' at row 2",
    )
    assert rows(s, "SELECT id FROM t ORDER BY id") == [(1,)]
    ignored = run(s, "INSERT IGNORE INTO t VALUES (2, 'ok', 1), (1, 'dup', 1), (3, 'toolong', 300)")
    assert (ignored.affected_rows, ignored.warnings) == (2, 3)
    assert rows(s, "SHOW WARNINGS") == [
        ("Warning", 1062, "Duplicate entry '1' for key 't.PRIMARY'"),
        ("Warning", 1265, "Data truncated for column 'v' at row 3"),
        ("Warning", 1264, "Out of range value for column 'n' at row 3"),
    ]


def test_in_a_transaction_only_the_failing_statement_is_undone() -> None:
    node = app_node("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    s = node.session
    run(s, "BEGIN")
    assert run(s, "INSERT INTO t VALUES (1, 1), (2, 2)").affected_rows == 2
    assert error(s, "INSERT INTO t VALUES (3, 3), (1, 1)")[0] == 1062
    assert run(s, "INSERT INTO t VALUES (4, 4), (5, 5)").affected_rows == 2
    run(s, "COMMIT")
    assert rows(s, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (4,), (5,)]
    run(s, "BEGIN")
    run(s, "INSERT INTO t VALUES (6, 6), (7, 7)")
    run(s, "ROLLBACK")
    assert rows(s, "SELECT COUNT(*) FROM t") == [(4,)]


def test_upsert_and_replace_count_each_row() -> None:
    node = app_node("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5), k INT UNIQUE)")
    s = node.session
    run(s, "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)")
    upsert = run(
        s, "INSERT INTO t VALUES (1, 'x', 1), (3, 'c', 3), (3, 'd', 3) ON DUPLICATE KEY UPDATE v = VALUES(v)"
    )
    assert upsert.affected_rows == 2 + 1 + 2
    assert rows(s, "SELECT id, v FROM t ORDER BY id") == [(1, "x"), (2, "b"), (3, "d")]
    # REPLACE counts a delete for every row it replaces, also one written earlier in the statement.
    replaced = run(s, "REPLACE INTO t VALUES (2, 'r', 2), (4, 'e', 4), (4, 'f', 4)")
    assert replaced.affected_rows == 2 + 1 + 2
    assert rows(s, "SELECT id, v FROM t ORDER BY id") == [(1, "x"), (2, "r"), (3, "d"), (4, "f")]


def test_every_row_has_the_statements_time() -> None:
    node = app_node(
        "CREATE TABLE t (id INT PRIMARY KEY, at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6), d DATETIME(6))"
    )
    s = node.session
    values = ", ".join(f"({i}, NOW(6))" for i in range(3000))
    assert run(s, f"INSERT INTO t (id, d) VALUES {values}").affected_rows == 3000
    assert rows(s, "SELECT COUNT(DISTINCT at), COUNT(DISTINCT d), MIN(at) = MIN(d) FROM t") == [(1, 1, 1)]


def test_more_literals_than_sqlite_binds_in_one_statement() -> None:
    node = app_node("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(8))")
    s = node.session
    values = ", ".join(f"({i}, {i}, 'v{i}')" for i in range(12_000))  # 36,000 literals
    assert run(s, f"INSERT INTO t VALUES {values}").affected_rows == 12_000
    assert rows(s, "SELECT COUNT(*), MAX(a) FROM t") == [(12_000, 11_999)]


# -- the property: one row at a time answers as SQLite's whole statement did -----------------------

_IDS = st.integers(1, 6)
_TEXTS = st.sampled_from(["'a'", "'bb'", "'toolong'", "NULL", "'A'"])
_NUMBERS = st.sampled_from(["1", "127", "300", "-5", "NULL", "'7'"])
_UNIQUE = st.sampled_from(["NULL", "1", "2"])
_ROW = st.tuples(_IDS, _TEXTS, _NUMBERS, _UNIQUE)
_VERBS = st.sampled_from(["INSERT", "INSERT IGNORE", "REPLACE", "UPSERT"])


def _statement(verb: str, rows_: list[tuple[int, str, str, str]]) -> str:
    values = ", ".join(f"({i}, {v}, {n}, {u})" for i, v, n, u in rows_)
    if verb == "UPSERT":
        return f"INSERT INTO t (id, v, n, u) VALUES {values} ON DUPLICATE KEY UPDATE v = VALUES(v), n = n + 1"
    return f"{verb} INTO t (id, v, n, u) VALUES {values}"


def _outcome(session: Any, sql: str) -> tuple[Any, ...]:
    try:
        result = run(session, sql)
    except MySQLError as exc:
        # (a duplicate's value is named only when rows run apart; the whole statement left it out)
        answer: tuple[Any, ...] = ("error", exc.code, exc.message if exc.code != 1062 else "")
    else:
        answer = ("ok", result.affected_rows, result.last_insert_id)
    return (
        answer,
        # (the whole statement neither named a duplicate's value nor warned of the rows IGNORE skipped)
        [
            (level, code, message if code != 1062 else "")
            for level, code, message in rows(session, "SHOW WARNINGS")
            if (level, code) != ("Warning", 1062)
        ],
        rows(session, "SELECT id, v, n, u FROM t ORDER BY id"),
    )


def _any_row(outcome: Any) -> Any:
    """``outcome`` with every message's row number left out."""
    if isinstance(outcome, str):
        return re.sub(r" at row \d+$", " at row N", outcome)
    if isinstance(outcome, tuple | list):
        return type(outcome)(_any_row(part) for part in outcome)
    return outcome


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    existing=st.lists(_ROW, max_size=3),
    statements=st.lists(st.tuples(_VERBS, st.lists(_ROW, min_size=2, max_size=5)), min_size=1, max_size=3),
    in_transaction=st.booleans(),
)
def test_rows_apart_answer_as_the_whole_statement(
    monkeypatch: pytest.MonkeyPatch,
    existing: list[tuple[int, str, str, str]],
    statements: list[tuple[str, list[tuple[int, str, str, str]]]],
    in_transaction: bool,
) -> None:
    answers = []
    for apart in (True, False):
        with monkeypatch.context() as patch:
            if not apart:
                patch.setattr(insert_rows, "split", lambda lexed: None)
            node = app_node("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(4), n TINYINT, u INT UNIQUE)")
            s = node.session
            for row in existing:
                run(s, "INSERT IGNORE INTO t VALUES ({}, {}, {}, {})".format(*row))
            if in_transaction:
                run(s, "BEGIN")
            seen = [_outcome(s, _statement(verb, rows_)) for verb, rows_ in statements]
            if in_transaction:
                seen.append(_outcome(s, "COMMIT")[0])
            seen.append(rows(s, "SELECT id, v, n, u FROM t ORDER BY id"))
            answers.append(seen)
    apart_answers, whole_answers = answers
    for (verb, rows_), a, w in zip(statements, apart_answers, whole_answers, strict=False):
        unique = [r[3] for r in rows_ if r[3] != "NULL"]
        if verb == "REPLACE" and (len({r[0] for r in rows_}) < len(rows_) or len(set(unique)) < len(unique)):
            # The whole statement counted only the rows that existed before it (its probe ran
            # first); MySQL, like the rows apart, counts a delete for each row replaced.
            a, w = (a[0][:1] + a[0][2:], *a[1:]), (w[0][:1] + w[0][2:], *w[1:])
        if verb == "UPSERT":
            # The whole statement numbered every error of its UPDATE part "at row 1"; MySQL, like
            # the rows apart, names the row that met the duplicate.
            a, w = _any_row(a), _any_row(w)
        assert a == w, _statement(verb, rows_)
    assert apart_answers[-1] == whole_answers[-1]
