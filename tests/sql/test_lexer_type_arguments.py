"""The lexer decides whether an integer is a type's argument (``DECIMAL(10,2)``: kept in the shape)
by reading the text before it from its end. Its definition is the regular expression below; the
check must agree with it on any text, because a disagreement turns a type into a bound value (or a
value into part of the statement)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.sql.lexer import _in_type_arguments, lex

DEFINITION = re.compile(
    r"\b(?:DECIMAL|DEC|NUMERIC|FIXED|CHAR|NCHAR|VARCHAR|BINARY|VARBINARY|DATETIME|TIME|TIMESTAMP|FLOAT"
    r"|DOUBLE)\s*\(\s*(?:\d+\s*,\s*)?$",
    re.IGNORECASE,
)

words = st.sampled_from(
    ["DECIMAL", "decimal", "Dec", "TIME", "timestamp", "CHAR", "NCHAR", "xCHAR", "CHARx", "_char", "INT",
     "double", "TIME\u017fTAMP", "DECIMAł", "", "x"]
)  # fmt: skip
spaces = st.sampled_from(["", " ", "\t\n", "  "])
digits = st.sampled_from(["", "1", "10", "\u0661", "1\u0661", "x1", ":p1", "1 2"])
noise = st.sampled_from(["", "CAST(a AS ", "f(", ",", ")", "é", "1", "(", "\n"])


@st.composite
def near_type_arguments(draw: st.DrawFn) -> str:
    """Texts that end like a type's argument list, or almost: every part may be left out or wrong."""
    parts = [
        draw(noise),
        draw(words),
        draw(spaces),
        draw(st.sampled_from(["(", "", ")", "(("])),
        draw(spaces),
    ]
    if draw(st.booleans()):
        parts += [draw(digits), draw(spaces), draw(st.sampled_from([",", "", ",,", ";"])), draw(spaces)]
    if draw(st.integers(0, 4)) == 0:
        parts.append(draw(noise))
    return "".join(parts)


@settings(max_examples=2000)
@given(near_type_arguments())
def test_the_check_is_the_definition(text: str) -> None:
    assert _in_type_arguments(text) == (DEFINITION.search(text) is not None), text


def test_type_arguments_stay_and_values_go() -> None:
    assert lex("SELECT CAST(x AS DECIMAL(10, 2)), 5").shape == "SELECT CAST(x AS DECIMAL(10, 2)), :p1"
    assert lex("SELECT CAST(x AS CHAR (3))").params == []
    assert lex("INSERT INTO t (a, b) VALUES (1, 2)").params == [1, 2]
    assert lex("SELECT f(10, 2)").params == [10, 2]
