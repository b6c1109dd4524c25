"""MySQL's LIKE (``p2pdb.sql.like``), the function SQLite calls for every ``x LIKE y``: the same
answers as a direct definition (a character-by-character matcher) for any text, pattern and escape
character, through SQLite itself, with the C function for ASCII text (``_like.c``) and with the Python
one alone; and the cases SQLite's own LIKE answers differently."""

from __future__ import annotations

import os
from functools import cache

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.sql import like
from p2pdb.sql.like import register

_ALPHABET = "aAbB_%\\|é É\n"


def _reference(text: str, pattern: str, escape: str, exact: bool) -> bool:
    """The definition: ``_`` one character, ``%`` any run, the escape character makes the next one
    literal (at the very end it is itself), letters equal ignoring case unless ``exact``."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escape and char == escape and i + 1 < len(pattern):
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        tokens.append(("any", "") if char == "%" else ("one", "") if char == "_" else ("lit", char))
        i += 1

    def same(a: str, b: str) -> bool:
        return a == b if exact else a.lower() == b.lower()

    @cache
    def match(t: int, p: int) -> bool:
        if p == len(tokens):
            return t == len(text)
        kind, char = tokens[p]
        if kind == "any":
            return any(match(k, p + 1) for k in range(t, len(text) + 1))
        if t == len(text):
            return False
        return (kind == "one" or same(text[t], char)) and match(t + 1, p + 1)

    return match(0, 0)


def _connection(*, python: bool = False) -> apsw.Connection:
    conn = apsw.Connection(":memory:")
    register(conn, python=python)
    return conn


_CONN = _connection()
_PYTHON = _connection(python=True)  # the Python function alone, where the C one is built
_TEXT = st.text(alphabet=_ALPHABET, max_size=8)
# ASCII only, so the C function answers: letters of both cases, wildcards, the escape, spaces.
_ASCII = st.text(alphabet="aAbBzZ_%\\ !~", max_size=12)


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI only: other machines may lack a C compiler")
def test_the_c_like_is_used_in_ci() -> None:
    assert like.native()


@settings(max_examples=400)
@given(_TEXT | _ASCII, _TEXT | _ASCII, st.sampled_from(["\\", "|", "%", "a"]))
def test_like_answers_as_its_definition(text: str, pattern: str, escape: str) -> None:
    ((default,),) = _CONN.execute("SELECT ? LIKE ?", (text, pattern)).fetchall()
    assert default == int(_reference(text, pattern, "\\", exact=False))
    ((python,),) = _PYTHON.execute("SELECT ? LIKE ?", (text, pattern)).fetchall()
    assert python == default
    ((named,),) = _CONN.execute("SELECT ? LIKE ? ESCAPE ?", (text, pattern, escape)).fetchall()
    assert named == int(_reference(text, pattern, escape, exact=False))
    ((binary,),) = _CONN.execute("SELECT ? LIKE CAST(? AS BLOB)", (text, pattern)).fetchall()
    ascii_only = text.isascii() and pattern.isascii()  # bytes: each byte a character
    if ascii_only:
        assert binary == int(_reference(text, pattern, "\\", exact=True))


@pytest.mark.parametrize("conn", [_CONN, _PYTHON], ids=["c", "python"])
def test_where_sqlite_answers_otherwise(conn: apsw.Connection) -> None:
    rows = conn.execute(
        "SELECT 'a_b' LIKE 'a\\_b', 'axb' LIKE 'a\\_b', 'a%' LIKE 'a\\%', 'É' LIKE 'é',"
        " 'abc' LIKE CAST('A%' AS BLOB), 'Abc' LIKE CAST('A%' AS BLOB), 'a ' LIKE 'a',"
        " 123 LIKE '12%', NULL LIKE 'a', 'a' LIKE NULL, 'a%' LIKE 'a\\%' ESCAPE '', 1.5 LIKE '1._',"
        " 'x\\' LIKE 'x\\', 'a\nb' LIKE 'a_b', '' LIKE '', 'a' LIKE '', 'ab' LIKE '%%b'"
    ).fetchall()
    assert rows == [(1, 0, 1, 1, 0, 1, 0, 1, None, None, 1, 1, 1, 1, 1, 0, 1)]


def test_many_wildcards_do_not_backtrack() -> None:
    """A pattern with many % against a long text answers at once. (A first version compiled one
    regular expression with .* per %: '%a%a%a%a%b' took 118 s against 300 characters, holding the
    interpreter, a way for one statement to stop a node; this test then outlives pytest's timeout.)"""
    text = "a" * 20_000
    ((matched, missed),) = _CONN.execute(
        "SELECT ? LIKE ?, ? LIKE ?", (text, "%a%a%a%a%a%a%a%a%", text, "%a%a%a%a%a%a%a%a%b")
    ).fetchall()
    assert (matched, missed) == (1, 0)
