"""Column positions (``ORDER BY 1``, ``GROUP BY a, 2``) in the Python lexer: the forward walk of
``lexer._Positions`` decides exactly what the rule's first statement decided, a walk back over the
whole shape for every integer (kept here as the reference), and it does so in linear time (the
walk back made an ``IN`` list of a statement with ``ORDER BY`` quadratic: 4,000 integers, 5 s).

The Python lexer lexes what the C lexer declines (adjacent strings, ``N'...'``, unterminated
quotes, a digit outside ASCII) and everything where the C lexer was not built, so its cost is a
node's cost for such statements."""

from __future__ import annotations

import gc
import os
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from p2pdb.sql import lexer
from p2pdb.sql.lexer import Lexed, lex_python

# The rule as first written: walk back over the shape read so far (``before``) to the clause that
# owns the comma-separated list an integer is in.
_ITEM_END = lexer._ITEM_END
_BY_END = lexer._BY_END
_CONTEXT = lexer._CONTEXT
_KEPT = re.compile(r"(?<![:\w])\d+(?!\w)")


def _reference_is_position(before: str, after: str) -> bool:
    if not _ITEM_END.match(after):
        return False
    if _BY_END.search(before):
        return True
    if not before.rstrip().endswith(","):
        return False
    depth = 0
    for match in reversed(list(_CONTEXT.finditer(before))):
        token = match.group()
        if token == ")":
            depth += 1
        elif token == "(":
            if depth == 0:
                return False
            depth -= 1
        elif depth == 0 and token[0] != "`":
            return token[:5].upper() in ("ORDER", "GROUP")
    return False


class _Reference:
    def check(self, out: list[str], sql: str, end: int) -> bool:
        return _reference_is_position("".join(out), sql[end:])


def _answer(lexed: Lexed) -> tuple[object, ...]:
    """What the position rule decides: the shape, and the values taken out of it."""
    return (lexed.shape, lexed.params, lexed.raw, lexed.placeholders)


def _reference_lex(sql: str) -> Lexed:
    real = lexer._Positions
    lexer._Positions = _Reference  # type: ignore[misc,assignment]
    try:
        return lex_python(sql)
    finally:
        lexer._Positions = real  # type: ignore[misc]


_WORDS = [
    "(", ")", ",", ", ", " ,", "a", "1", "2", "10", "007", "1.5", "`(`", "`)`", "`a``(`", "`,`", "ORDER BY",
    "GROUP BY", "order\tby", "Group\n by", "ORDER/**/BY", "ORDER -- c\nBY", "ORDER", "BY", "by", "PARTITION BY",
    "IN", "INTO", "VALUES", "VALUE", "SELECT", "SET", "ON", "ONLY", "USING", "f(", "x'0f'", "'s'", "'a,b'",
    "\"(\"", "?", "@v", "@@x", "LIMIT", "WHERE", "FROM", "x1", "_1", "DESC", "ASC", "COLLATE", "HAVING", " ",
    "\n", "\u00a0", "`", "`x", "é", "ünion", "ORDERé", "éORDER BY", "\u0663", ";", "#c\n", "/*!1 ", "*/", "a.b",
]  # fmt: skip
_STATEMENTS = st.one_of(
    st.lists(st.sampled_from(_WORDS), max_size=40).map(" ".join),
    st.lists(st.sampled_from(_WORDS), max_size=40).map("".join),
    st.lists(st.sampled_from(_WORDS) | st.text(max_size=2), max_size=30).map(" ".join),
    # lists of integers where the clause that owns them decides
    st.tuples(
        st.lists(st.sampled_from(_WORDS), max_size=8),
        st.lists(st.sampled_from(["1", "2", "a", "(3)", "f(4, 5)", "`b`"]), min_size=1, max_size=6),
        st.lists(st.sampled_from(_WORDS), max_size=8),
        st.lists(st.sampled_from(["1", "2", "a"]), min_size=1, max_size=4),
    ).map(lambda p: f"{' '.join(p[0])} {', '.join(p[1])} {' '.join(p[2])} {', '.join(p[3])}"),
)


@settings(max_examples=int(os.environ.get("P2PDB_LEXER_EXAMPLES", "3000")))
@given(_STATEMENTS)
def test_positions_are_those_of_the_walk_back(sql: str) -> None:
    sql = "SELECT a FROM t ORDER BY b " + sql  # every statement has a BY clause: positions looked for
    unpaired = len(re.findall(r"`", re.sub(r"`(?:[^`]|``)*`", "", sql))) > 0
    got = lex_python(sql)
    want = _reference_lex(sql)
    # The walk reads clause words only when it needs them or past _READ_AT unread characters:
    # reading at every integer must give the same answers.
    default = lexer._READ_AT
    lexer._READ_AT = 0
    try:
        eager = lex_python(sql)
    finally:
        lexer._READ_AT = default
    assert eager == got, sql
    same = _answer(got) == _answer(want)
    if unpaired:
        # An unterminated backquote (a syntax error) may pair with another one differently.
        event(f"unterminated backquote, same answer: {same}")
        return
    event(f"{len(_KEPT.findall(got.shape))} integers kept in the shape")
    assert same, sql


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT a FROM t ORDER BY 1", "SELECT a FROM t ORDER BY 1"),
        ("SELECT a FROM t ORDER BY a, 2 DESC", "SELECT a FROM t ORDER BY a, 2 DESC"),
        ("SELECT a FROM t GROUP BY f(1, 2), 3", "SELECT a FROM t GROUP BY f(:p1, :p2), 3"),
        ("SELECT a FROM t WHERE b IN (1, 2) ORDER BY 1", "SELECT a FROM t WHERE b IN (:p1, :p2) ORDER BY 1"),
        ("SELECT a FROM t ORDER BY a LIMIT 1, 2", "SELECT a FROM t ORDER BY a LIMIT :p1, :p2"),
        ("SELECT a FROM t ORDER BY a) , 1", "SELECT a FROM t ORDER BY a) , :p1"),
        ("SELECT é FROM t ORDER BY é, 2", "SELECT é FROM t ORDER BY é, 2"),
        ("SELECT a FROM t ORDER BY `(`, 2", "SELECT a FROM t ORDER BY `(`, 2"),
        ("SELECT a, 1 FROM t ORDER BY 2", "SELECT a, :p1 FROM t ORDER BY 2"),
        ("SELECT a FROM t ORDER /* c */ BY 1, 2", "SELECT a FROM t ORDER   BY 1, 2"),
        ("SELECT a FROM t GROUP -- c\nBY 2", "SELECT a FROM t GROUP  \nBY 2"),
        ("SELECT a FROM t ORDER /*!BY*/ 2", "SELECT a FROM t ORDER  BY  2"),
        ("SELECT 'order by' FROM t WHERE a = 1", "SELECT :p1 FROM t WHERE a = :p2"),
    ],
)
def test_positions(sql: str, shape: str) -> None:
    assert lex_python(sql).shape == shape
    assert _reference_lex(sql).shape == shape


def _best(fn: Callable[[], object], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


_LINEAR = {
    "non-ASCII name": "SELECT * FROM café WHERE id IN ({}) ORDER BY 1, 2",
    "all positions": "SELECT * FROM t GROUP BY a, {}",
    "unterminated backquote": "SELECT `x FROM t WHERE id IN ({}) ORDER BY 1",
    "in a function": "SELECT * FROM t ORDER BY a, f({})",
    "BY after BY": "SELECT * FROM t {}",  # ORDER BY 0 ORDER BY 1 ...: no comma, no break between
}


@pytest.mark.parametrize("case", sorted(_LINEAR))
def test_cost_is_linear_in_the_integers(case: str) -> None:
    """16 times the integers takes about 16 times as long, not 256 times (the walk back took
    1.3 s for 2,000 integers and 5.2 s for 4,000); the factor of 6 on top allows for a loaded
    machine."""

    def sql(n: int) -> str:
        if case == "BY after BY":
            return _LINEAR[case].format(" ".join(f"ORDER BY {i}" for i in range(n)))
        return _LINEAR[case].format(", ".join(str(i) for i in range(n)))

    small, large = sql(500), sql(8_000)
    assert lex_python(small) == _reference_lex(small)
    gc.collect()
    gc.disable()
    try:
        t_small = _best(lambda: lex_python(small))
        t_large = _best(lambda: lex_python(large), runs=5)
    finally:
        gc.enable()
    assert t_large < 16 * 6 * t_small, (t_small, t_large)
