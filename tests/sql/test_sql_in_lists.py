"""IN lists are padded to a power of two (p2pdb.sql.in_lists) so that lists of different lengths share
plans; a Hypothesis property checks that padding never changes an answer."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sql_keyless_and_select import app_node, rows, run

from p2pdb.sql import in_lists
from p2pdb.sql.lexer import lex


def test_lists_are_padded_with_their_last_value() -> None:
    padded = in_lists.padded(
        lex("SELECT * FROM t WHERE a IN (1,2,3,4,5) AND b NOT IN (?, ?, ?, ?, ?, ?) LIMIT 2")
    )
    assert padded.shape == (
        "SELECT * FROM t WHERE a IN (:p1, :p2, :p3, :p4, :p5, :p6, :p7, :p8)"
        " AND b NOT IN (:p9, :p10, :p11, :p12, :p13, :p14, :p15, :p16) LIMIT :p17"
    )
    assert padded.params == [1, 2, 3, 4, 5, 5, 5, 5, *[None] * 8, 2]
    assert padded.placeholders == list(range(8, 16))
    for same in (
        "SELECT 1 IN (1, 2, 3)",
        "SELECT * FROM t WHERE id = 1",
        "SELECT * FROM t WHERE (a, b) IN ((1, 2))",
    ):
        assert in_lists.padded(lex(same)).shape == lex(same).shape


def test_lists_of_different_lengths_share_plans() -> None:
    node = app_node(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))", "INSERT INTO t VALUES (1, 'a'), (2, 'b')"
    )
    s = node.session
    plans = node.backend._plans._plans
    before = len(plans)
    for length in range(5, 65):
        ids = ", ".join(str(i) for i in range(length))
        assert rows(s, f"SELECT id FROM t WHERE id IN ({ids}) ORDER BY id") == [(1,), (2,)]
    assert len(plans) - before == 4  # 8, 16, 32 and 64


_VALUES = st.one_of(st.integers(-1, 7), st.none(), st.sampled_from(["'a'", "'B'", "'3'", "'x y'"]))


def _literal(value: Any) -> str:
    return "NULL" if value is None else str(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shown=st.lists(st.sampled_from(["a", "b", "A", "3", "x y", None]), min_size=8, max_size=8),
    distinct=st.lists(_VALUES, min_size=1, max_size=16, unique=True),
    data=st.data(),
    negate=st.booleans(),
    column=st.sampled_from(["id", "v"]),
)
def test_padding_never_changes_an_answer(
    monkeypatch: pytest.MonkeyPatch,
    shown: list[str | None],
    distinct: list[Any],
    data: st.DataObject,
    negate: bool,
    column: str,
) -> None:
    # Any value of the list may matter: the table holds every id the list can name, and the list is
    # distinct values with some of them repeated before them.
    repeated = data.draw(st.lists(st.sampled_from(distinct), max_size=24))
    listed = ", ".join(_literal(v) for v in [*repeated, *distinct])
    test = f"{column} {'NOT IN' if negate else 'IN'} ({listed})"
    answers = []
    for pad in (True, False):
        with monkeypatch.context() as patch:
            if not pad:
                patch.setattr(in_lists, "padded", lambda lexed: lexed)
            node = app_node("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))")
            s = node.session
            for key, value in enumerate(shown):
                run(s, f"INSERT INTO t VALUES ({key}, {_literal(repr(value) if value else None)})")
            seen = [
                rows(s, f"SELECT id, v, {test} FROM t WHERE {test} ORDER BY id"),
                rows(s, f"SELECT COUNT(*) FROM t WHERE {test} IS NULL"),
                run(s, f"UPDATE t SET v = 'u' WHERE {test}").affected_rows,
                run(s, f"DELETE FROM t WHERE {test}").affected_rows,
                rows(s, "SELECT id, v FROM t ORDER BY id"),
            ]
            answers.append(seen)
    assert answers[0] == answers[1], test
