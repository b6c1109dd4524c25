"""Result values for MySQL clients (``p2pdb.sql.backend``): converted rows are the same as converting
every value of every column one by one, for any mix of columns and NULLs; columns without a declared
type are typed by their values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.log import Identity
from p2pdb.sql import mysqltypes
from p2pdb.sql.accounts import Accounts
from p2pdb.sql.backend import SQLBackend, converted_rows
from p2pdb.sql.lexer import Lexed
from p2pdb.sql.plan import Plan
from p2pdb.store.registry import Registry

_CONVERTERS: list[Callable[[Any], Any] | None] = [
    None,
    mysqltypes.output_converter(mysqltypes.type_from_sqlite_text("CHAR(10)")),
    mysqltypes.output_converter(mysqltypes.type_from_sqlite_text("DECIMAL(10,2)")),
    lambda v: ("seen", v),
]


def _reference(rows: list[tuple[Any, ...]], converters: list[Callable[[Any], Any] | None]) -> list[Any]:
    """Every value of every column, one by one (the definition)."""
    return [
        tuple(v if conv is None or v is None else conv(v) for v, conv in zip(row, converters, strict=True))
        for row in rows
    ]


_VALUES = st.one_of(st.none(), st.integers(-(10**6), 10**6), st.text(max_size=6).map(lambda t: t + "  "))


@settings(max_examples=300)
@given(st.data())
def test_converted_rows_match_converting_every_value(data: st.DataObject) -> None:
    width = data.draw(st.integers(1, 5))
    converters = data.draw(st.lists(st.sampled_from(_CONVERTERS), min_size=width, max_size=width))
    rows = data.draw(st.lists(st.tuples(*[_VALUES] * width), max_size=6))
    converted = tuple((i, conv) for i, conv in enumerate(converters) if conv is not None)
    got = converted_rows(rows, converted) if converted else rows
    assert got == _reference(rows, converters)
    assert all(type(row) is tuple for row in got)


def test_the_converters_used_above_are_real() -> None:
    assert _CONVERTERS[1] is not None and _CONVERTERS[1]("ab  ") == "ab"
    assert _CONVERTERS[2] is not None and _CONVERTERS[2](3) == "3.00"
    assert mysqltypes.output_converter(mysqltypes.type_from_sqlite_text("INT")) is None


def test_columns_without_a_declared_type_follow_their_values_once_the_description_is_known() -> None:
    """A plan may reach ``result_set`` before its description is read (a write in a transaction):
    what is computed then must not decide how later results of the plan are typed."""
    backend = SQLBackend(Registry(Identity.generate(), None, new_database_access="open"), Accounts(None))
    plan = Plan(sql="", write=False)
    assert backend.result_set(None, plan, Lexed(""), [(1,)]).columns == []
    plan.description = (("x", None),)  # SQLite declares no type: the values decide
    numbers = backend.result_set(None, plan, Lexed(""), [(1,)])
    texts = backend.result_set(None, plan, Lexed(""), [("a",)])
    assert numbers.columns[0].type != texts.columns[0].type
