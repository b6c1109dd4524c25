"""The lexer in C (``_lex.c``) against the lexer in Python (``lexer.lex_python``), the rules'
reference: for any text, the C lexer gives exactly what the Python one gives (shape, values and
their types, raw texts, placeholders, variables) or declines (None). Statements full of the hard
cases are generated: every kind of literal, comments, version comments, backquoted names,
introducers, national strings, adjacent strings, type arguments, ORDER BY positions, exponents,
unterminated quotes, non-ASCII text inside and outside literals, lone surrogates, control
characters. And the common statements are taken by the C lexer, not declined."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from p2pdb.sql import lexer
from p2pdb.sql.lexer import lex, lex_python

_native = lexer._native

pytestmark = pytest.mark.skipif(
    _native is None and not os.environ.get("CI"), reason="the C lexer was not built here"
)


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI only: other machines may lack a C compiler")
def test_the_c_lexer_is_used_in_ci() -> None:
    assert lexer.native()


FRAGMENTS = [
    "SELECT ", "INSERT INTO t VALUES ", "UPDATE t SET a=", " WHERE ", "ORDER BY ", "GROUP BY ", " by ",
    "DECIMAL(", "decimal ( ", "DECIMAL(10,", "(10, 2)", "CHAR(3)", " 12,", " 2)", "CHAR(", "VARCHAR(", "CAST(x AS ", "DATETIME(", "ORDER", " LIMIT ",
    " ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", ",", ", ", "(", ")", ";", " ;",
    "t", "a1", "x", "X", "b", "B", "N", "n", "_", "a_", "$", ".", ":", ":p1", "e", "E", "+", "-", "*",
    "/", "_binary", "_binary ", "_utf8mb4", "_UTF8", "_latin1 ", "_ascii", "x_binary",
    "#", "# c\n", "--", "-- c\n", "--\n", "---", "/*", "/* c */", "*/", "/*!", "/*!40101 ", "/**/", "/*!*/",
    "`", "``", "`a`", "`a``b`", "`é`", "'", "''", '"', '""', "\\", "\\'", "\\n", "\\%", "\\_", "\\Z", "\\0",
    "?", "@", "@@", "@@global.", "@@SESSION.", "@@local.x", "global", "@v", "@`v`", "@'w'", "@v.x", "@$",
    "0", "1", "9", "10", "0x", "0X", "0b", "0x1F", "0b101", "1.", ".5", "1.5", "1e5", "1e", "1e+3", "2E-2",
    "1.5e", "12345678901234567", "123456789012345678", "1234567890123456789", "18446744073709551616",
    "x'", "x'0f'", "X'abc'", "b'", "b'101'", "B''", "'abc'", "'a b'", '"q"', "'a\\'b'", "'é'", "N'x'",
    "'a''b'", "'\\\\'", "'a\\n\"\"b'", "\"a\\n''b\"", "é", "\u017f", "\u0663", "\u00a0", "\u2028", "😀", "\udcff", "'\udcff'", "_binary'\udcff'",
]  # fmt: skip

_FRAGMENT = st.sampled_from(FRAGMENTS) | st.text(max_size=3)
# ASCII alone, so that the C lexer takes more of them
_ASCII_FRAGMENT = st.sampled_from([f for f in FRAGMENTS if f.isascii()]) | st.text(
    st.characters(max_codepoint=127), max_size=3
)
_SOUP = st.lists(_FRAGMENT, max_size=30).map("".join) | st.lists(_ASCII_FRAGMENT, max_size=30).map("".join)

# Statements the C lexer takes: literals of every kind in statements clients send.
_WORD = st.sampled_from(
    [
        "a",
        "b_c",
        "`x y`",
        "t.id",
        "COUNT(*)",
        "NOW()",
        "x + 1",
        "`商品`.`名前`",
        "`größe`",
        "`\u017f`",
        "`\u00a0`",
        "größe",
        "商品.名前",
        "café1",
        "x\u00a0+\u20021",
        "ñ_$",
        "t.é",
    ]
)
_STRING_BODY = st.lists(
    st.characters(codec="utf-8") | st.sampled_from(["\\", "'", '"', "''", '""', "%", "_"]),
    max_size=12,
).map("".join)
_LITERAL = st.one_of(
    st.integers(0, 10**18 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(abs(f))),
    _STRING_BODY.map(lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"),
    _STRING_BODY.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '""') + '"'),
    st.binary(max_size=8).map(lambda b: f"x'{b.hex()}'"),
    st.binary(min_size=1, max_size=8).map(lambda b: f"0x{b.hex()}"),
    st.text("01", max_size=12).map(lambda s: f"b'{s}'"),
    st.binary(max_size=8).map(lambda b: f"_binary'{b.hex()}'"),
    st.just("?"),
    st.just("NULL"),
    st.sampled_from(["@@sql_mode", "@v", "@`w`"]),
)
_SPACE = st.sampled_from(["", " ", "  ", "\n", "/**/"])
_TYPE = st.tuples(
    st.sampled_from(["DECIMAL", "dec", "Numeric", "CHAR", "varchar", "DATETIME", "float", "SIGNED", "x"]),
    _SPACE,
    _SPACE,
    st.integers(0, 99),
    _SPACE,
    st.sampled_from(["", ","]),
    _SPACE,
    st.integers(0, 99),
).map(lambda p: f"{p[0]}{p[1]}({p[2]}{p[3]}{p[4]}{p[5]}{p[6]}{p[7] if p[5] else ''})")
# ORDER BY / GROUP BY with one item, a position or not, then LIMIT: taken by the C lexer.
_ORDERED = st.tuples(
    st.sampled_from(["SELECT a, b FROM t", "SELECT b, COUNT(*) FROM t GROUP BY 1", "SELECT * FROM t"]),
    _LITERAL,
    st.sampled_from(["ORDER BY", "order  by", "GROUP BY", "ORDER\nBY", "ORDER/**/BY", "GROUP -- c\nBY"]),
    st.sampled_from(["1", "2", "a", "`b`", "1 DESC", "2 ASC", "a DESC", "1, a", "2,`b` DESC", "a, 1"]),
    st.integers(0, 1000),
).map(lambda p: f"{p[0]} WHERE a = {p[1]} {p[2]} {p[3]} LIMIT {p[4]}")
# Commas, parentheses and clause keywords in statements with ORDER BY / GROUP BY: whether an
# integer after a comma is a position takes the clause that owns its list.
_CLAUSE_WORDS = [
    "(", ")", ",", ", ", "a", "1", "2", "10", "`(`", "`)`", "`a``(`", "ORDER BY", "GROUP BY", "order\tby",
    "PARTITION BY", "IN", "INTO", "VALUES", "VALUE", "SELECT", "SET", "ON", "ONLY", "USING", "f(", "x'0f'",
    "LIMIT", "WHERE", "FROM", "x1", "DESC", "ASC", " ", "`é(`", "`ORDER BY é`", "`\u2028`",
    "é", "é1", "\u00a0", "ñ(", "ORDER\u2003BY", "ø,",
]  # fmt: skip
_CLAUSES = st.one_of(
    st.lists(st.sampled_from(_CLAUSE_WORDS), max_size=30).map(" ".join),
    st.lists(st.sampled_from(["(", ")", ",", "1", "a", "ORDER BY ", "IN", " "]), max_size=30).map("".join),
    # a few words, then an integer after a comma: the walk decides every time
    st.lists(st.sampled_from(_CLAUSE_WORDS), max_size=6).map(lambda w: " ".join(w) + " a, 1"),
    # several: each walk goes on from where the one before stopped
    st.tuples(
        st.lists(st.sampled_from(_CLAUSE_WORDS), max_size=6),
        st.lists(st.sampled_from(_CLAUSE_WORDS), max_size=4),
    ).map(lambda w: " ".join(w[0]) + " a, 1, " + " ".join(w[1]) + ", 2, 3"),
)
_STATEMENT = st.one_of(
    st.tuples(_LITERAL, _TYPE, _LITERAL).map(lambda p: f"SELECT CAST({p[0]} AS {p[1]}), {p[2]}"),
    st.lists(_LITERAL, min_size=1, max_size=12).map(lambda v: f"INSERT INTO t VALUES ({', '.join(v)})"),
    st.tuples(_WORD, _LITERAL, _LITERAL).map(lambda p: f"SELECT {p[0]} FROM t WHERE a = {p[1]} LIMIT {p[2]}"),
    st.tuples(_WORD, _LITERAL, _LITERAL).map(lambda p: f"UPDATE t SET {p[0]} = {p[1]} WHERE id = {p[2]};"),
    st.lists(_LITERAL, min_size=1, max_size=5).map(lambda v: f"DELETE FROM t WHERE id IN ({','.join(v)})"),
)


# Characters outside ASCII that Python's rules may read as ASCII letters: those that match an ASCII
# letter case-insensitively, and those whose upper, lower or folded case holds ASCII letters.
_ALL = [chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
_ASCII_LETTER = re.compile("[a-z]", re.IGNORECASE)
_MATCH_ASCII = {c for c in _ALL if _ASCII_LETTER.fullmatch(c)}
_FOLD_TO_ASCII = {
    c for c in _ALL if any(x.isascii() and x.isalpha() for x in c.upper() + c.lower() + c.casefold())
}


def _takeable(sql: str) -> bool:
    """Outside its backquoted names (the generated strings may hold backquotes: then all of it),
    no digit outside ASCII and no letter that may read as ASCII ones: what the C lexer must take."""
    if sql.isascii():
        return True
    outside = sql if "'" in sql or '"' in sql else re.sub(r"`(?:[^`]|``)*`", "", sql)
    return not any(not c.isascii() and (c.isdigit() or c in _FOLD_TO_ASCII) for c in outside)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _check(sql: str) -> bool:
    """The C lexer agrees with the Python one on ``sql``; whether it took it."""
    assert _native is not None
    got = _native.lex(sql)
    try:
        want = lex_python(sql)
    except Exception as exc:  # the Python lexer refuses: the C one must decline
        assert got is None, f"{sql!r}: Python raised {exc!r}, C answered {got!r}"
        return False
    if got is None:
        return False
    fields = (want.shape, want.params, want.raw, want.placeholders, want.sysvars, want.uservars)
    assert len(got) == len(fields)
    for name, mine, theirs in zip(
        ("shape", "params", "raw", "placeholders", "sysvars", "uservars"), got, fields, strict=True
    ):
        assert _same(mine, theirs), f"{sql!r}: {name} {mine!r} != {theirs!r}"
    return True


@settings(max_examples=int(os.environ.get("P2PDB_LEXER_EXAMPLES", "3000")))
@given(_SOUP)
def test_c_lexer_agrees_on_any_text(sql: str) -> None:
    event("taken" if _check(sql) else "declined")


@settings(max_examples=int(os.environ.get("P2PDB_LEXER_EXAMPLES", "1500")))
@given(_STATEMENT)
def test_c_lexer_takes_and_agrees_on_statements(sql: str) -> None:
    taken = _check(sql)
    event("taken" if taken else "declined")
    if _takeable(sql) and "by" not in sql.lower():
        assert taken, f"declined {sql!r}"


@settings(max_examples=int(os.environ.get("P2PDB_LEXER_EXAMPLES", "1000")))
@given(_ORDERED)
def test_c_lexer_takes_and_agrees_on_order_by(sql: str) -> None:
    assert _check(sql) or not _takeable(sql), f"declined {sql!r}"


@settings(max_examples=int(os.environ.get("P2PDB_LEXER_EXAMPLES", "2000")))
@given(_CLAUSES)
def test_c_lexer_agrees_on_positions_after_commas(sql: str) -> None:
    sql = "SELECT a FROM t ORDER BY b " + sql
    assert _check(sql) or not _takeable(sql), f"declined {sql!r}"


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 5012, '83868641912-28773972837', '67847967377')",
        "SELECT `t`.`id`, `t`.`name` FROM `t` WHERE `t`.`id` = 42 ORDER BY `t`.`id` DESC LIMIT 21",
        "SELECT g, COUNT(*) FROM t WHERE n > 0 GROUP BY 1 ORDER BY 2 DESC LIMIT 10 OFFSET 20",
        "SELECT a FROM t WHERE id IN (1, 2, 3) ORDER BY a, 2 LIMIT 10, 20",
        "UPDATE t SET a = 'x', b = 1.5, c = NULL WHERE id = ?",
        "INSERT INTO t (b) VALUES (_binary'\\0\\n'), (x'00ff'), (0b101)",
        "SELECT @@session.autocommit, @@version_comment LIMIT 1",
        "SELECT CAST(x AS DECIMAL(10, 2)), CAST(y AS CHAR(3)) FROM t -- done",
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;",
        "INSERT INTO t VALUES ('é ü 中文 😀')",
        "SELECT `商品`.`id`, `商品`.`名前` FROM `商品` WHERE `商品`.`id` = 42 ORDER BY `商品`.`id` DESC LIMIT 21",
        "INSERT INTO `größen` (`länge`, `breite`, `bezeichnung`) VALUES (10, 20, 'Straße')",
        "SELECT `é`, 1 FROM t GROUP BY `é`, 2 ORDER BY `ü` DESC, 1",
    ],
)
def test_common_statements_are_taken(sql: str) -> None:
    assert _check(sql)
    assert lex(sql) == lex_python(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'a' 'b'",  # adjacent strings: joined in Python
        "SELECT N'x'",
        "SELECT \u017f FROM t WHERE a = 1",  # the long s: S to case-insensitive matching
        "SELECT a\u0663 FROM t WHERE a = 1",  # a digit outside ASCII
        "SELECT 'unterminated",
        "SELECT 1234567890123456789",
    ],
)
def test_declined_statements_lex_in_python(sql: str) -> None:
    assert _native is not None
    assert _native.lex(sql) is None
    assert lex(sql) == lex_python(sql)


def test_letters_read_as_ascii_are_declined() -> None:
    """The C lexer's two lists are Python's: it declines the letters that match ASCII ones
    case-insensitively wherever they are outside literals, and the ones whose case holds ASCII
    letters in a type's name (``CAST(x AS \ufb01xed(10,2))``: FIXED in upper case); it takes
    the others there."""
    assert _native is not None
    assert {hex(ord(c)) for c in _MATCH_ASCII} == {"0x130", "0x131", "0x17f", "0x212a"}
    assert _MATCH_ASCII <= _FOLD_TO_ASCII and len(_FOLD_TO_ASCII) == 20
    for c in sorted(_MATCH_ASCII):
        assert _native.lex(f"SELECT a{c} FROM t") is None, hex(ord(c))
    for c in sorted(_FOLD_TO_ASCII):
        sql = f"SELECT CAST(x AS {c}ixed(10, 2))"
        assert _native.lex(sql) is None, hex(ord(c))
        assert lex(sql) == lex_python(sql)
    for word in ("é", "ñ", "ø", "名", "xé"):
        assert _check(f"SELECT CAST(x AS {word}(10, 2)), 3"), word


def test_native_lexer_is_off_with_p2pdb_native_0() -> None:
    code = "from p2pdb.sql import lexer; print(lexer.native())"
    env = {**os.environ, "P2PDB_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
