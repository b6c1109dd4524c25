"""MySQL aggregate functions SQLite lacks: BIT_AND/BIT_OR/BIT_XOR, the standard deviations and variances,
and ``COUNT(DISTINCT a, b)``.

- ``BIT_AND``, ``BIT_OR``, ``BIT_XOR`` work on unsigned 64-bit values (a negative input is its two's
  complement); with no rows BIT_AND is 18446744073709551615 and the others 0. A result past 2^63 - 1
  (SQLite's largest integer) is returned as its decimal text.
- ``STD``, ``STDDEV``, ``STDDEV_POP``, ``VARIANCE``, ``VAR_POP`` are population statistics;
  ``STDDEV_SAMP`` and ``VAR_SAMP`` sample ones (NULL for fewer than two values); NULL with no values.
- ``COUNT(DISTINCT a, b, ...)`` (SQLite's COUNT takes one argument) is rewritten in the statement shape to
  ``COUNT(DISTINCT p2pdb_tuple(a, b, ...))``: one key per combination, NULL (not counted) when any
  value is NULL, as MySQL skips such rows.

sqlglot, when the plan falls back to it, writes some of these under other names (``BITWISE_AND_AGG``,
``VARIANCE_POP``, and ``VARIANCE`` for VAR_SAMP); :func:`fix_node` keeps MySQL's meaning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import apsw
from sqlglot import exp

U64 = 2**64


_LEADING_NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _unsigned(value: Any) -> int | None:
    """A value as MySQL's bit functions read it: an unsigned 64-bit integer (strings by their number)."""
    if value is None:
        return None
    if isinstance(value, (bytes, str)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        match = _LEADING_NUMBER.match(text)
        value = float(match.group(0)) if match else 0
        if match and match.group(0).strip().lstrip("+-").isdigit():
            value = int(match.group(0))
    if isinstance(value, float):
        value = round(value) if math.isfinite(value) else 0
    return int(value) % U64


def _out(value: int) -> int | str:
    return value if value < 2**63 else str(value)


class _Bits:
    def __init__(self, start: int, op: Callable[[int, int], int]) -> None:
        self.value = start
        self.op = op

    def step(self, item: Any) -> None:
        bits = _unsigned(item)
        if bits is not None:
            self.value = self.op(self.value, bits)

    def final(self) -> int | str:
        return _out(self.value)


class _Moments:
    """The values seen, for the standard deviations and variances (two passes, exactly summed)."""

    def __init__(self, sample: bool, root: bool) -> None:
        self.sample, self.root = sample, root
        self.values: list[float] = []

    def step(self, item: Any) -> None:
        if item is None:
            return
        try:
            self.values.append(float(item.decode() if isinstance(item, bytes) else item))
        except ValueError:
            self.values.append(0.0)

    def final(self) -> float | None:
        size = len(self.values) - 1 if self.sample else len(self.values)
        if size <= 0:
            return None
        mean = math.fsum(self.values) / len(self.values)
        variance = math.fsum((x - mean) ** 2 for x in self.values) / size
        return math.sqrt(variance) if self.root else variance


def _factory(make: Callable[[], Any]) -> Callable[[], tuple[Any, Any, Any]]:
    def factory() -> tuple[Any, Any, Any]:
        state = make()
        return state, lambda _ctx, item: state.step(item), lambda _ctx: state.final()

    return factory


AGGREGATES: dict[str, Callable[[], Any]] = {
    "bit_and": lambda: _Bits(U64 - 1, lambda a, b: a & b),
    "bit_or": lambda: _Bits(0, lambda a, b: a | b),
    "bit_xor": lambda: _Bits(0, lambda a, b: a ^ b),
    "std": lambda: _Moments(False, True),
    "stddev": lambda: _Moments(False, True),
    "stddev_pop": lambda: _Moments(False, True),
    "stddev_samp": lambda: _Moments(True, True),
    "variance": lambda: _Moments(False, False),
    "var_pop": lambda: _Moments(False, False),
    "var_samp": lambda: _Moments(True, False),
}
_SQLGLOT_NAMES = {"bitwise_and_agg": "bit_and", "bitwise_or_agg": "bit_or", "bitwise_xor_agg": "bit_xor"}


class _DistinctConcat:
    """``GROUP_CONCAT(DISTINCT x SEPARATOR s)``: SQLite's DISTINCT aggregates take one argument, so
    the values are made distinct here (in the order given, an ORDER BY's), then joined by ``s``."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.parts: list[str] = []
        self.separator = ","

    def step(self, value: Any, separator: Any) -> None:
        if value is None:
            return
        key = _key(value)
        if key in self.seen:
            return
        self.seen.add(key)
        self.separator = "" if separator is None else str(separator)
        self.parts.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))

    def final(self) -> str | None:
        return self.separator.join(self.parts) if self.parts else None


def _distinct_concat() -> tuple[Any, Any, Any]:
    state = _DistinctConcat()
    return state, lambda _ctx, value, separator: state.step(value, separator), lambda _ctx: state.final()


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bytes):
        return "b" + value.hex()
    return ("s" if isinstance(value, str) else "n") + str(value)


def distinct_key(*values: Any) -> str | None:
    """One text per combination of values (``COUNT(DISTINCT a, b)``); NULL when any value is NULL."""
    if any(v is None for v in values):
        return None
    return "\x1f".join(_key(v).replace("\x1f", "\x1f\x1f") for v in values)


def register(conn: apsw.Connection) -> None:
    for name, make in AGGREGATES.items():
        conn.create_aggregate_function(name, _factory(make), 1)
    for name, mysql in _SQLGLOT_NAMES.items():
        conn.create_aggregate_function(name, _factory(AGGREGATES[mysql]), 1)
    conn.create_scalar_function("p2pdb_tuple", distinct_key, -1, deterministic=True)
    conn.create_aggregate_function("p2pdb_group_concat_distinct", _distinct_concat, 2)


# -- statement rewrites -------------------------------------------------------------------------------

_COUNT_DISTINCT = re.compile(r"\bCOUNT\s*\(\s*DISTINCT\b", re.IGNORECASE)


def rewrite_count_distinct(shape: str) -> str:
    """``COUNT(DISTINCT a, b)`` → ``COUNT(DISTINCT p2pdb_tuple(a, b))`` (one argument: unchanged)."""
    if "distinct" not in shape.lower():
        return shape
    out: list[str] = []
    last = 0
    for match in _COUNT_DISTINCT.finditer(shape):
        start = match.end()
        end, commas = _arguments(shape, start)
        if not commas:
            continue
        out.append(shape[last:start] + " p2pdb_tuple(" + shape[start:end].strip() + ")")
        last = end
    out.append(shape[last:])
    return "".join(out)


_GROUP_CONCAT_DISTINCT = re.compile(r"\bGROUP_CONCAT\s*\(\s*DISTINCT\b", re.IGNORECASE)
_ORDERED = re.compile(r"\bORDER\s+BY\b|\bSEPARATOR\b", re.IGNORECASE)


def sort_distinct_group_concat(shape: str) -> str:
    """``GROUP_CONCAT(DISTINCT x)`` → ``GROUP_CONCAT(DISTINCT x ORDER BY x)``: MySQL gives the distinct
    values in sorted order (SQLite in order of appearance); an explicit ORDER BY or SEPARATOR stays."""
    if "distinct" not in shape.lower():
        return shape
    out: list[str] = []
    last = 0
    for match in _GROUP_CONCAT_DISTINCT.finditer(shape):
        start = match.end()
        end, commas = _arguments(shape, start)
        inner = shape[start:end].strip()
        if commas or not inner or _ORDERED.search(inner):
            continue
        out.append(f"{shape[last:start]} {inner} ORDER BY {inner}")
        last = end
    out.append(shape[last:])
    return "".join(out)


def _arguments(shape: str, start: int) -> tuple[int, int]:
    """Where the call opened before ``start`` closes, and how many top-level commas it holds."""
    depth, commas, i = 0, 0, start
    while i < len(shape):
        ch = shape[i]
        if ch == "`":
            i = (shape.find("`", i + 1) + 1) or len(shape)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return i, commas
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
        i += 1
    return i, commas


def fix_node(node: exp.Expression) -> exp.Expression:
    """sqlglot's variance nodes as the functions registered here (its SQLite VARIANCE is VAR_SAMP), and
    ``GROUP_CONCAT(DISTINCT x [ORDER BY ...] SEPARATOR s)`` as :class:`_DistinctConcat`."""
    if isinstance(node, exp.GroupConcat):
        return _group_concat(node)
    names: dict[type[exp.Expression], str] = {
        exp.Variance: "var_samp",
        exp.VariancePop: "var_pop",
        exp.StddevSamp: "stddev_samp",
    }
    name = names.get(type(node))
    if name is None and isinstance(node, (exp.StddevPop, exp.Stddev)):
        name = "stddev_pop"
    if name is None:
        return node
    return exp.Anonymous(this=name, expressions=[node.this])


def _group_concat(node: exp.GroupConcat) -> exp.Expression:
    order = node.this if isinstance(node.this, exp.Order) else None
    values = order.this if order is not None else node.this
    separator = node.args.get("separator")
    if not isinstance(values, exp.Distinct) or len(values.expressions) != 1 or separator is None:
        return node
    if isinstance(separator, exp.Literal) and separator.this == ",":
        node.set("separator", None)  # SQLite's default: DISTINCT stays SQLite's
        return node
    # MySQL gives the distinct values sorted unless told an order (as sort_distinct_group_concat)
    ordered = order.expressions if order is not None else [exp.Ordered(this=values.expressions[0].copy())]
    last = exp.Order(this=separator, expressions=ordered)
    return exp.Anonymous(this="p2pdb_group_concat_distinct", expressions=[values.expressions[0], last])
