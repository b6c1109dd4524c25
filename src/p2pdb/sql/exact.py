"""Exact numbers in plans: which expressions are DECIMAL, and the rewrite that computes them exactly.

MySQL computes an expression of DECIMAL operands (DECIMAL columns, decimal literals such as ``0.1``,
integers) exactly, and anything mixed with a DOUBLE/FLOAT in floating point. SQLite only has doubles, so
a plan (once per statement shape) infers the MySQL type of each projected expression and rewrites:

- ``a + b``, ``a - b``, ``a * b``, ``a / b``, ``-a`` of DECIMAL type into ``p2pdb_dadd(a, b, scale)``...
  (``/`` of two integers too: MySQL's ``1/3`` is the DECIMAL 0.3333);
- ``SUM(d)`` of a DECIMAL column into ``p2pdb_dsum(d, scale)``, ``AVG`` of a DECIMAL or integer into
  ``p2pdb_davg(x, scale, result scale)``, ``CAST(x AS DECIMAL(p,s))`` and ``ROUND(d, n)`` into
  ``p2pdb_dround(x, s)`` (half up, as MySQL rounds exact values);
- a value written to a DECIMAL or integer column by ``INSERT/REPLACE ... VALUES``, ``UPDATE ... SET`` or
  ``ON DUPLICATE KEY UPDATE`` into ``p2pdb_fit(value, 'type', 'column', row)`` (rounding, error 1264).

Only projections are rewritten (along paths of DECIMAL-typed nodes from the select list); conditions,
ORDER BY and window functions keep SQLite's arithmetic, which compares stored DECIMAL values correctly.
The projected columns get their MySQL type (NEWDECIMAL, precision, scale) in :attr:`Exact.types`.
Decimal literals that only feed the functions are bound as their exact text (:attr:`Exact.text_params`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from p2pdb.sql import mysqltypes, value_fit
from p2pdb.sql.choices import is_choice_type, read_as_number
from p2pdb.sql.decimals import DIV_INCREMENT, INT_RANGES, MAX_PRECISION, MAX_SCALE, ROWID_MARK
from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.sql.temporal import str_to_date_type
from p2pdb.store.schema import TableSpec

#: A MySQL expression type: ("dec", precision, scale), ("int", digits, 0), ("real", 0, 0), a temporal
#: type ("date", 0, 0), ("datetime", fsp, 0), ("timestamp", fsp, 0), ("time", fsp, 0), or None.
Kind = tuple[str, int, int] | None
_NUMERIC = frozenset(("dec", "int", "real"))
_TEMPORAL = frozenset(("date", "datetime", "timestamp", "time"))
#: Statement-time values bound by the session (p2pdb.sql.plan._SESSION_FUNCTIONS).
_CLOCK_PARAMS: dict[str, Kind] = {
    "f_now": ("datetime", 0, 0),
    "f_now6": ("datetime", 6, 0),
    "f_curdate": ("date", 0, 0),
    "f_curtime": ("time", 0, 0),
}

_DECIMAL_LITERAL = re.compile(r"^(\d*)\.(\d*)$")
_INTEGER_LITERAL = re.compile(r"^\d+$")
_FLOAT_LITERAL = re.compile(r"^(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
_INT_DIGITS = {"tinyint": 3, "smallint": 5, "mediumint": 8, "int": 10, "bigint": 20}
_NUMERIC_START = frozenset("0123456789.")


@dataclass(slots=True)
class Exact:
    """The outcome of :func:`rewrite`: the new shape, projection types, params to bind as text."""

    shape: str
    types: list[mysqltypes.TypeInfo | None] | None = None
    text_params: list[int] = field(default_factory=list)
    #: hexadecimal and bit literals (``0xFF``, ``b'101'``) used as numbers: bound as their integer
    number_params: list[int] = field(default_factory=list)
    #: literals written to character columns: a binary string among them is bound as its text
    string_params: list[int] = field(default_factory=list)


def literal_kind(raw: str) -> Kind:
    """The MySQL type of a literal as written: ``0.10`` DECIMAL(2,2), ``12`` an integer, ``1e3`` DOUBLE."""
    if match := _DECIMAL_LITERAL.match(raw):
        whole, frac = match.group(1).lstrip("0"), match.group(2)
        scale = len(frac)
        return ("dec", min(max(len(whole) + scale, 1), MAX_PRECISION), min(scale, MAX_SCALE))
    if _INTEGER_LITERAL.match(raw):
        digits = len(raw.lstrip("0")) or 1
        if digits < 19 or (digits == 19 and int(raw) < 2**63):  # a BIGINT, as MySQL reads it
            return ("int", digits, 0)
        return ("dec", min(digits, MAX_PRECISION), 0)
    if _FLOAT_LITERAL.match(raw):
        return ("real", 0, 0)
    return None


_BITS_START = frozenset(("0x", "0X", "x'", "X'", "0b", "b'", "B'"))
#: The second character of a hexadecimal or bit literal (also of some strings: a cheap first test).
_BITS_SECOND = frozenset("xXb'")


def is_bits_literal(raw: str) -> bool:
    """``0xFF``, ``X'FF'``, ``0b101``, ``b'101'``: a binary string that is a number where one is
    expected (MySQL reads its bytes as a big-endian unsigned integer)."""
    return raw[:2] in _BITS_START


def bits_number(value: bytes) -> int | str:
    """The number a hexadecimal or bit literal stands for where one is expected (text above
    SQLite's int64, as other BIGINT UNSIGNED literals are bound)."""
    number = int.from_bytes(value, "big")
    return number if number < 2**63 else str(number)


def character_text(value: bytes) -> str | bytes:
    """A binary string written to a character column: the text its bytes spell in UTF-8 (MySQL
    stores ``0x41`` in a VARCHAR as ``'A'``); bytes that are not UTF-8 stay bytes."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def signature(shape: str, raw: Sequence[str]) -> str:
    """What of a statement's literals its plan depends on (part of the plan cache key): the kinds of
    its literals, when one is a decimal literal or the statement divides (``SELECT :p1 + :p2`` for
    ``0.1 + 0.2``, ``1 + 2`` and ``'1' + '2'`` are different plans); the text of decimal literals
    (their precision and scale type the result); with ROUND or TRUNCATE, every number's text (the
    places argument sets the result's scale: ``ROUND(x, 1)`` and ``ROUND(x, 2)`` are different plans);
    with STR_TO_DATE, the text of its formats (they make it a DATE, DATETIME or TIME)."""
    places, divides, compares, formats = _shape_facts(shape)
    if formats:  # STR_TO_DATE's format sets its type: the formats' text
        return "\x00".join([_literals(raw, places, divides, compares), *(r for r in raw if "%" in r)])
    return _literals(raw, places, divides, compares)


def _literals(raw: Sequence[str], places: bool, divides: bool, compares: bool) -> str:
    # a number literal whose text sets its type: a decimal (0.10), an integer too long for a BIGINT
    # (a DECIMAL), a float (1e3)
    typed = any(
        (("." in r or len(r) > 18 or "e" in r or "E" in r) and r[:1] in _NUMERIC_START)
        or r[1:2] in _BITS_SECOND
        for r in raw
    )  # (a hexadecimal or bit literal is a number or a string by where it stands: its own plans)
    if not places and not divides and not typed:
        if not compares:
            return ""
        return "".join("s" if r[:1] in ("'", '"') else "n" for r in raw)  # p2pdb.sql.exact._coerce
    return ",".join(r if places and r[:1] in _NUMERIC_START else _tag(r) for r in raw)


@functools.lru_cache(maxsize=4096)
def _shape_facts(shape: str) -> tuple[bool, bool, bool, bool]:
    """(ROUND/TRUNCATE, division, comparison, STR_TO_DATE) in a shape: read once per shape, not per
    statement."""
    reads = shape.lstrip("( ")[:6].upper() in ("SELECT", "UPDATE", "DELETE") or shape[:4].upper() == "WITH"
    compares = reads and _COMPARES.search(shape) is not None
    return _PLACES.search(shape) is not None, "/" in shape, compares, _FORMATS.search(shape) is not None


_PLACES = re.compile(r"\b(?:ROUND|TRUNCATE)\s*\(", re.IGNORECASE)
_FORMATS = re.compile(r"\bSTR_TO_DATE\s*\(", re.IGNORECASE)


def _tag(raw: str) -> str:
    if raw[:2] in _BITS_START:
        return "h"
    if raw[:1] not in _NUMERIC_START:
        return "s"
    if "." in raw:
        return raw
    if "e" in raw or "E" in raw:
        return "r"
    return "d" if len(raw) > 18 and not (raw.isdigit() and int(raw) < 2**63) else "i"


def column_kind(mysql_type: str) -> Kind:
    info = mysqltypes.type_from_mysql_text(mysql_type)
    if info.data_type == "decimal":
        return ("dec", info.numeric_precision or 10, info.numeric_scale or 0)
    if info.data_type in _INT_DIGITS and info.data_type in INT_RANGES:
        return ("int", _INT_DIGITS[info.data_type], 0)
    if info.data_type in ("float", "double"):
        return ("real", 0, 0)
    return None


def _column_type(mysql_type: str) -> Kind:
    """A column's kind for typing expressions: numbers as :func:`column_kind`, and temporal types."""
    kind = column_kind(mysql_type)
    if kind is not None:
        return kind
    info = mysqltypes.type_from_mysql_text(mysql_type)
    if info.data_type in _TEMPORAL:
        return (info.data_type, info.decimals if info.data_type != "date" else 0, 0)
    return None


def _dec(kind: Kind) -> tuple[int, int]:
    """(precision, scale) of a DECIMAL or integer kind."""
    assert kind is not None
    return kind[1], kind[2]


def _capped(precision: int, scale: int) -> Kind:
    scale = min(scale, MAX_SCALE)
    return ("dec", max(min(precision, MAX_PRECISION), scale, 1), scale)


class _Typer:
    def __init__(self, raw: Sequence[str], tables: Mapping[str, TableSpec], tree: Any):
        self.raw = raw
        self.columns: dict[str, dict[str, Kind]] = {}  # table name or alias (lower) -> column -> kind
        self.anywhere: dict[str, set[Kind]] = {}
        #: BIGINT UNSIGNED columns (lower names): values above 2^63-1 are blobs (p2pdb.sql.decimals).
        self.u64: set[str] = set()
        #: character columns (lower names) by table or alias, and by name over all tables
        self.texts: dict[str, set[str]] = {}
        self.text_anywhere: set[str] = set()
        self.other_anywhere: set[str] = set()
        #: CTEs and derived tables whose columns are all known, in order (``SELECT *`` over them)
        self.derived: set[str] = set()
        #: ENUM and SET columns (lower names): their MySQL types, over all tables of the statement
        self.choices: dict[str, set[str]] = {}
        #: Columns that compare byte for byte (a ``_bin`` collation, BINARY/VARBINARY) and the others
        self.exact_text: set[str] = set()
        self.folded_text: set[str] = set()
        folded = {name.lower(): spec for name, spec in tables.items()}
        for table in tree.find_all(exp.Table):
            spec = folded.get(table.name.lower())
            if spec is None:
                continue
            kinds = {}
            for col in spec.columns:
                mt = col.extra.get("mt") if col.extra else None
                kind = _column_type(mt) if isinstance(mt, str) else None
                kinds[col.name.lower()] = kind
                self.anywhere.setdefault(col.name.lower(), set()).add(kind)
                if isinstance(mt, str) and kind is not None and kind[0] == "int" and _is_u64(mt):
                    self.u64.add(col.name.lower())
                if isinstance(mt, str) and read_as_number(mt):  # ENUM, SET, BIT
                    self.choices.setdefault(col.name.lower(), set()).add(mt)
                (self.exact_text if _compares_exactly(col) else self.folded_text).add(col.name.lower())
            self.columns[table.name.lower()] = kinds
            texts = {
                c.name.lower() for c in spec.columns if _is_text_type(c.extra.get("mt") if c.extra else None)
            }
            self.texts[table.name.lower()] = texts
            self.text_anywhere |= texts
            self.other_anywhere |= {c.name.lower() for c in spec.columns} - texts
            if table.alias:
                self.columns[table.alias.lower()] = kinds
                self.texts[table.alias.lower()] = texts
        self._derived(tree)

    def _derived(self, tree: Any) -> None:
        """The columns of CTEs and derived tables, typed by their projections (``WITH c AS (SELECT
        SUM(price) s ...) SELECT s FROM c``: ``s`` is a DECIMAL); in order, so a CTE may read an
        earlier one."""
        if not isinstance(tree, exp.Expression):
            return
        for node in list(tree.find_all(exp.CTE, exp.Subquery)):
            select = node.this
            name = node.alias_or_name.lower() if node.alias else ""
            if not name or not isinstance(select, exp.Select):
                continue
            kinds: dict[str, Kind] = {}
            complete = True  # every column known, in order
            for item in select.expressions:
                column = item.alias_or_name.lower()
                if not column or column == "*" or column in kinds:
                    complete = False
                    continue
                kinds[column] = self.kind(item)
            if complete:
                self.derived.add(name)
            self.columns[name] = kinds
            for column, kind in kinds.items():
                self.anywhere.setdefault(column, set()).add(kind)

    def param(self, node: exp.Placeholder) -> int | None:
        name = str(node.name)
        if name.startswith("p") and name[1:].isdigit():
            index = int(name[1:]) - 1
            return index if index < len(self.raw) else None
        return None

    def number(self, node: exp.Expression) -> int | None:
        """The value of an integer literal (``DECIMAL(10,2)``'s 10 and 2 arrive as parameters)."""
        text = str(node.this) if isinstance(node, exp.Literal) else None
        if isinstance(node, exp.Placeholder) and (index := self.param(node)) is not None:
            text = self.raw[index]
        if isinstance(node, exp.Neg) and (positive := self.number(node.this)) is not None:
            return -positive  # ROUND(x, -2)
        return int(text) if text is not None and text.isdigit() else None

    def is_text(self, node: exp.Expression) -> bool:
        """A string literal, a character column or a string function: compared with a number, MySQL
        compares both as DOUBLE (:func:`_coerce`)."""
        if isinstance(node, exp.Paren):
            return self.is_text(node.this)
        if isinstance(node, exp.Placeholder):
            index = self.param(node)
            return index is not None and self.raw[index][:1] in ("'", '"')
        if isinstance(node, exp.Literal):
            return bool(node.is_string)
        if isinstance(node, exp.Column):
            name = node.name.lower()
            owner = self.texts.get(node.table.lower()) if node.table else None
            if owner is not None:
                return name in owner
            return name in self.text_anywhere and name not in self.other_anywhere
        return isinstance(node, (exp.Concat, exp.ConcatWs, exp.Upper, exp.Lower, exp.Substring, exp.Trim))

    def is_number(self, node: exp.Expression) -> bool:
        kind = self.kind(node)
        return kind is not None and kind[0] in _NUMERIC

    def kind(self, node: exp.Expression) -> Kind:
        if isinstance(node, exp.Placeholder):
            if str(node.name) in _CLOCK_PARAMS:
                return _CLOCK_PARAMS[str(node.name)]
            index = self.param(node)
            return literal_kind(self.raw[index]) if index is not None else None
        if isinstance(node, exp.Literal):
            return None if node.is_string else literal_kind(str(node.this))
        if isinstance(node, exp.Column):
            name = node.name.lower()
            if name in self.u64:
                return ("dec", 20, 0)  # computed exactly, past SQLite's int64
            if node.table:
                return self.columns.get(node.table.lower(), {}).get(name)
            found = self.anywhere.get(name, set())
            return next(iter(found)) if len(found) == 1 else None
        if isinstance(node, (exp.Paren, exp.Alias)):
            return self.kind(node.this)
        if isinstance(node, exp.Distinct) and len(node.expressions) == 1:  # SUM(DISTINCT x)...
            return self.kind(node.expressions[0])
        if isinstance(node, exp.Window) and isinstance(node.this, (exp.Sum, exp.Avg, exp.Min, exp.Max)):
            return self.kind(node.this)  # SUM(x) OVER (...): typed as the aggregate, computed by SQLite
        if isinstance(node, exp.Count):
            return ("int", 19, 0)  # a BIGINT: COUNT(*) / 2 is the DECIMAL 1.5000, as in MySQL
        if isinstance(node, exp.Window) and isinstance(node.this, _VALUE_WINDOWS):
            return self.kind(node.this.this)  # LAG(price) OVER (...): the value of another row
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
            items = node.this.expressions  # a scalar subquery: the type of its one value
            return self.kind(items[0]) if len(items) == 1 else None
        if isinstance(node, (exp.Greatest, exp.Least)):
            return _unify([self.kind(a) for a in (node.this, *node.expressions)])
        if isinstance(node, exp.Abs):
            inner = self.kind(node.this)
            return inner if inner is not None and inner[0] in ("dec", "int") else None
        if isinstance(node, exp.Neg):
            return self.kind(node.this)
        if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
            return _plus_interval(self.kind(node.this), node.expression)
        if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
            return _plus_interval(self.kind(node.expression), node.this)
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
            left, right = self.kind(node.this), self.kind(node.expression)
            if left is None or right is None or left[0] not in _NUMERIC or right[0] not in _NUMERIC:
                return None
            if "real" in (left[0], right[0]):
                return ("real", 0, 0)
            if left[0] == "int" and right[0] == "int" and not isinstance(node, exp.Div):
                return ("int", max(left[1], right[1]) + 1, 0)
            (p1, s1), (p2, s2) = _dec(left), _dec(right)
            if isinstance(node, (exp.Add, exp.Sub)):
                scale = max(s1, s2)
                return _capped(max(p1 - s1, p2 - s2) + scale + 1, scale)
            if isinstance(node, exp.Mul):
                return _capped(p1 + p2, s1 + s2)
            scale = s1 + DIV_INCREMENT
            return _capped(p1 - s1 + s2 + scale, scale)
        temporal = self._temporal(node)
        if temporal is not None:
            return temporal
        branches = _branches(node)
        if branches is not None:
            return _unify([self.kind(b) for b in branches if not isinstance(b, exp.Null)])
        if isinstance(node, (exp.IntDiv, exp.Mod)):  # DIV is an integer; % of integers too
            left, right = self.kind(node.this), self.kind(node.expression)
            if left is None or right is None or left[0] not in _NUMERIC or right[0] not in _NUMERIC:
                return None
            if isinstance(node, exp.IntDiv) or (left[0] == "int" and right[0] == "int"):
                return ("int", min(max(left[1], right[1]), 20), 0)
            if "real" in (left[0], right[0]):
                return ("real", 0, 0)
            (p1, s1), (p2, s2) = _dec(left), _dec(right)  # % of exact values: DECIMAL, exactly
            scale = max(s1, s2)
            return _capped(max(p1 - s1, p2 - s2) + scale, scale)
        if isinstance(node, exp.Sum):  # of an exact value: DECIMAL (SUM of an INT is DECIMAL(32,0))
            inner = self.kind(node.this)
            if inner is not None and inner[0] in ("dec", "int"):
                return _capped(inner[1] + 22, inner[2])
            return None
        if isinstance(node, exp.Avg):
            inner = self.kind(node.this)
            if inner is not None and inner[0] in ("dec", "int"):
                return _capped(inner[1] + DIV_INCREMENT, inner[2] + DIV_INCREMENT)
            return None
        if isinstance(node, (exp.Min, exp.Max)):
            inner = self.kind(node.this)
            return inner if inner is not None and inner[0] in ("dec", "int", *_TEMPORAL) else None
        if isinstance(node, (exp.Round, exp.Trunc)):
            inner = self.kind(node.this)
            places = self.number(node.args["decimals"]) if node.args.get("decimals") is not None else 0
            if places is not None and places < 0 and isinstance(node, exp.Trunc):
                return None  # TRUNCATE(x, -2): p2pdb.sql.math_functions' own
            if places is not None and places < 0 and inner is not None and inner[0] == "int":
                inner = ("dec", inner[1], 0)  # ROUND(1234, -2): 1200 (SQLite's round ignores it)
            if inner is None or inner[0] != "dec" or places is None:
                return None
            if places < 0:  # to tens, hundreds...: whole numbers
                return _capped(inner[1] - inner[2] + 1, 0)
            return _capped(inner[1] - inner[2] + min(places, MAX_SCALE) + 1, min(places, inner[2]))
        if isinstance(node, exp.Cast):
            to = node.to
            if to.this in _CAST_INTEGER:  # CAST(x AS SIGNED / UNSIGNED): a BIGINT
                return ("int", 20, 0)
            if to.this in _CAST_TEMPORAL:
                return (_CAST_TEMPORAL[to.this], self._fsp(to), 0)
            if to.this == exp.DataType.Type.DECIMAL:
                given = [self.number(p.this) for p in to.expressions]
                params = [p for p in given if p is not None]
                if len(params) != len(given):
                    return None
                precision = params[0] if params else 10
                scale = params[1] if len(params) > 1 else 0
                return _capped(precision, scale)
            return None
        return None

    def _fsp(self, to: exp.DataType) -> int:
        if to.this == exp.DataType.Type.DATE or not to.expressions:
            return 0
        given = self.number(to.expressions[0].this)
        return min(given, 6) if given is not None else 0

    def _temporal(self, node: exp.Expression) -> Kind:
        """MySQL's result type of date and time functions: DATE(x) a DATE, FROM_UNIXTIME a DATETIME,
        DATE_ADD of a DATE by days or more a DATE, of a DATETIME a DATETIME (of a string: a string)."""
        if isinstance(node, (exp.TsOrDsToDate, exp.LastDay, exp.CurrentDate)):
            return ("date", 0, 0)
        if isinstance(node, exp.UnixToTime) and node.args.get("format") is not None:
            return None  # FROM_UNIXTIME(ts, format): a string
        if isinstance(node, (exp.UnixToTime, exp.Timestamp, exp.CurrentTimestamp, exp.UtcTimestamp)):
            return ("datetime", 0, 0)
        if isinstance(node, (exp.Time, exp.CurrentTime, exp.TimeFromParts)):  # MAKETIME too
            return ("time", 0, 0)
        if isinstance(node, exp.ConvertTimezone):
            return ("datetime", 0, 0)
        if isinstance(node, exp.StrToDate):  # its type is the format's: DATE, DATETIME or TIME
            fmt = node.args.get("format")
            index = self.param(fmt) if isinstance(fmt, exp.Placeholder) else None
            raw = self.raw[index] if index is not None else ""
            typed = str_to_date_type(raw[1:-1]) if raw[:1] in ("'", '"') else None
            return (typed[0], typed[1], 0) if typed is not None else None
        if isinstance(node, (exp.DateAdd, exp.DateSub)):
            unit = node.args.get("unit")
            interval = exp.Interval(this=node.expression, unit=unit)
            return _plus_interval(self.kind(node.this), interval)
        if isinstance(node, exp.Anonymous):
            name = str(node.this).upper()
            if name in _DATE_FUNCTIONS:
                return ("date", 0, 0)
            if name in _TIME_FUNCTIONS:
                return ("time", 0, 0)
            if name == "P2PDB_FSP" and len(node.expressions) == 2:  # NOW(n), CURTIME(n)
                inner = self.kind(node.expressions[0])
                digits = self.number(node.expressions[1])
                if inner is not None and digits is not None:
                    return ("time" if inner[0] == "time" else "datetime", min(digits, 6), 0)
            if name in ("ADDTIME", "SUBTIME") and node.expressions:
                inner = self.kind(node.expressions[0])
                return inner if inner is not None and inner[0] in _TEMPORAL else None
        return None


def _branches(node: exp.Expression) -> list[exp.Expression] | None:
    """The expressions whose value ``node`` takes: COALESCE's arguments, IF's and CASE's results,
    NULLIF's first argument; None for other nodes."""
    if isinstance(node, exp.Coalesce):
        return [node.this, *node.expressions]
    if isinstance(node, exp.If):
        return [b for b in (node.args.get("true"), node.args.get("false")) if b is not None]
    if isinstance(node, exp.Case):
        found = [i.args["true"] for i in node.args.get("ifs") or [] if i.args.get("true") is not None]
        default = node.args.get("default")
        return found + ([default] if default is not None else [])
    if isinstance(node, exp.Nullif):
        return [node.this]
    return None


def _unify(kinds: list[Kind]) -> Kind:
    """MySQL's type of an expression taking one of several values: DOUBLE when one is, else DECIMAL
    when one is (enough integer digits and scale for all), else an integer; a temporal type when all
    are that type; None (unknown) otherwise."""
    if not kinds or any(k is None for k in kinds):
        return None
    names = {k[0] for k in kinds if k is not None}
    if len(names) == 1 and next(iter(names)) in _TEMPORAL:
        return max(kinds, key=lambda k: k[1] if k is not None else 0)
    if not names <= _NUMERIC:
        return None
    if "real" in names:
        return ("real", 0, 0)
    if names == {"int"}:
        return ("int", max(k[1] for k in kinds if k is not None), 0)
    digits = max(_dec(k)[0] - _dec(k)[1] for k in kinds)
    scale = max(_dec(k)[1] for k in kinds)
    return _capped(digits + scale, scale)


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ)
#: Window functions whose value is one of another row's: typed as their argument.
_VALUE_WINDOWS = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)
_TEXT_TYPE = re.compile(r"^\s*(?:var)?char\b|^\s*(?:tiny|medium|long)?text\b|^\s*(?:enum|set)\s*\(", re.I)


def _is_text_type(mysql_type: Any) -> bool:
    return isinstance(mysql_type, str) and _TEXT_TYPE.match(mysql_type) is not None


def _as_number(node: exp.Expression, rw: _Rewriter) -> exp.Expression:
    return rw.call("p2pdb_num", node.copy())


def _coerce(tree: exp.Expression, rw: _Rewriter) -> None:
    """MySQL compares a string with a number as two DOUBLEs (``'A' = 0`` is 1, ``'1abc' = 1`` is 1,
    ``'10' > 9``): the string side of such a comparison, in any clause, becomes ``p2pdb_num(...)``
    (MySQL's string-to-number reading). SQLite would compare by storage class (text > number)."""
    typer = rw.typer
    for node in list(tree.find_all(*_COMPARISONS, exp.Between, exp.In)):
        if isinstance(node, _COMPARISONS):
            if isinstance(node.parent, (exp.Update, exp.OnConflict)) and node.arg_key == "expressions":
                continue  # SET c = v: an assignment, not a comparison
            left, right = node.this, node.expression
            if typer.is_text(left) and typer.is_number(right):
                node.set("this", _as_number(left, rw))
            elif typer.is_number(left) and typer.is_text(right):
                node.set("expression", _as_number(right, rw))
        elif isinstance(node, exp.Between):
            bounds = [node.args.get("low"), node.args.get("high")]
            if typer.is_text(node.this) and any(b is not None and typer.is_number(b) for b in bounds):
                node.set("this", _as_number(node.this, rw))
            elif typer.is_number(node.this):
                for key in ("low", "high"):
                    bound = node.args.get(key)
                    if bound is not None and typer.is_text(bound):
                        node.set(key, _as_number(bound, rw))
        else:
            query = node.args.get("query")
            select = query.this if isinstance(query, exp.Subquery) else query
            if isinstance(select, exp.Select) and len(select.expressions) == 1 and typer.is_number(node.this):
                item = select.expressions[0]
                inner = item.this if isinstance(item, exp.Alias) else item
                if typer.is_text(inner):  # 1 IN (SELECT '1')
                    numeric = _as_number(inner, rw)
                    select.set(
                        "expressions",
                        [exp.alias_(numeric, item.alias) if isinstance(item, exp.Alias) else numeric],
                    )
                continue
            values = list(node.expressions)
            if typer.is_number(node.this) and any(typer.is_text(v) for v in values):
                node.set("expressions", [_as_number(v, rw) if typer.is_text(v) else v for v in values])
            elif typer.is_text(node.this) and values and all(typer.is_number(v) for v in values):
                node.set("this", _as_number(node.this, rw))


_CAST_INTEGER = frozenset(
    (exp.DataType.Type.BIGINT, exp.DataType.Type.UBIGINT, exp.DataType.Type.INT, exp.DataType.Type.UINT)
)
_CAST_TEMPORAL = {
    exp.DataType.Type.DATE: "date",
    exp.DataType.Type.DATETIME: "datetime",
    exp.DataType.Type.TIMESTAMP: "datetime",
    exp.DataType.Type.TIME: "time",
}
_DATE_FUNCTIONS = frozenset(("MAKEDATE", "FROM_DAYS", "UTC_DATE", "CURDATE"))
_TIME_FUNCTIONS = frozenset(("SEC_TO_TIME", "MAKETIME", "TIMEDIFF", "UTC_TIME", "CURTIME"))
_DAY_UNITS = frozenset(("DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "YEAR_MONTH"))


def _plus_interval(base: Kind, interval: exp.Interval) -> Kind:
    """``base + INTERVAL n unit``: a DATE stays a DATE for units of days or more, else a DATETIME;
    DATETIME and TIMESTAMP give a DATETIME; anything else (a string) is a string in MySQL."""
    if base is None or base[0] not in _TEMPORAL or base[0] == "time":
        return None
    unit = interval.args.get("unit")
    name = (unit.name if isinstance(unit, exp.Var) else str(unit or "DAY")).upper().rstrip("S")
    if base[0] == "date":
        return ("date", 0, 0) if name in _DAY_UNITS else ("datetime", 6 if "MICRO" in name else 0, 0)
    return ("datetime", max(base[1], 6 if "MICRO" in name else 0), 0)


_OPERATORS: dict[type[exp.Expression], str] = {
    exp.Add: "p2pdb_dadd",
    exp.Sub: "p2pdb_dsub",
    exp.Mul: "p2pdb_dmul",
    exp.Div: "p2pdb_ddiv",
}


class _Rewriter:
    def __init__(self, typer: _Typer) -> None:
        self.typer = typer
        self.text_params: list[int] = []
        self.number_params: list[int] = []
        self.string_params: list[int] = []
        self.changed = False
        #: rewriting a value an INSERT/UPDATE writes (see :meth:`zero`)
        self.writing = False
        #: INSERT IGNORE: values strict mode refuses are adjusted with a warning (p2pdb_fit_ignore)
        self.lenient = False

    def arg(self, node: exp.Expression) -> exp.Expression:
        """An operand of a decimal function: rewritten when decimal, bound as text when a literal."""
        if isinstance(node, exp.Placeholder):
            index = self.typer.param(node)
            kind = self.typer.kind(node)
            if index is not None and kind is not None and kind[0] == "dec":
                self.text_params.append(index)
            return node
        if isinstance(node, exp.Column) and node.name.lower() in self.typer.u64:
            return exp.Anonymous(this="p2pdb_uval", expressions=[node])
        return self.exact(node)

    def exact(self, node: exp.Expression) -> exp.Expression:
        """``node`` (whose parents are all DECIMAL-typed) computed exactly."""
        kind = self.typer.kind(node)
        if kind is None or kind[0] != "dec":
            return node
        if isinstance(node, exp.Paren):
            node.set("this", self.exact(node.this))
            return node
        if _branches(node) is not None:  # COALESCE, IF, CASE, NULLIF: each value computed exactly
            if isinstance(node, (exp.Coalesce, exp.Nullif)):
                node.set("this", self.exact(node.this))
            if isinstance(node, exp.Coalesce):
                node.set("expressions", [self.exact(e) for e in node.expressions])
            for key in ("true", "false", "default") if isinstance(node, (exp.If, exp.Case)) else ():
                child = node.args.get(key)
                if isinstance(child, exp.Expression):
                    node.set(key, self.exact(child))
            for branch in node.args.get("ifs") or []:
                if isinstance(branch.args.get("true"), exp.Expression):
                    branch.set("true", self.exact(branch.args["true"]))
            return node
        if isinstance(node, exp.Neg):
            return self.call("p2pdb_dneg", self.arg(node.this))
        if isinstance(node, exp.Mod):
            left, right = self.arg(node.this), self.arg(node.expression)
            return self.call(self.zero("p2pdb_dmod"), left, right, exp.Literal.number(kind[2]))
        name = _OPERATORS.get(type(node))
        if name is not None and isinstance(node, exp.Binary):
            left, right = self.arg(node.this), self.arg(node.expression)
            return self.call(self.zero(name), left, right, exp.Literal.number(kind[2]))
        if isinstance(node, (exp.Sum, exp.Avg)):
            inner = self.typer.kind(node.this)
            if isinstance(node, exp.Sum) and inner is not None and inner[0] == "int":
                return node  # SQLite's integer SUM is exact; only its type is DECIMAL
            if isinstance(node.this, exp.Distinct):  # SQLite's DISTINCT aggregates take one argument
                return self.call("p2pdb_dround", node, exp.Literal.number(kind[2]))
            native = self.native(node, inner, kind)
            if native is not None:
                return native
            scale = exp.Literal.number(inner[2] if inner is not None else 0)
            if isinstance(node, exp.Sum):
                return self.call("p2pdb_dsum", self.arg(node.this), scale)
            return self.call("p2pdb_davg", self.arg(node.this), scale, exp.Literal.number(kind[2]))
        if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
            places = self.typer.number(node.args["decimals"])
            if places is not None and places < 0:
                return self.call("p2pdb_dround", self.arg(node.this), exp.Literal.number(places))
        if isinstance(node, (exp.Cast, exp.Round)):
            return self.call("p2pdb_dround", self.arg(node.this), exp.Literal.number(kind[2]))
        if isinstance(node, (exp.Greatest, exp.Least)):  # SQLite picks the value, shown at the scale of all
            return self.call("p2pdb_dround", node, exp.Literal.number(kind[2]))
        if isinstance(node, exp.Abs):  # ABS of an exact value, exact
            node.set("this", self.arg(node.this))
            return self.call("p2pdb_dround", node, exp.Literal.number(kind[2]))
        if isinstance(node, exp.Trunc):  # TRUNCATE(d, n): p2pdb.sql.math_functions
            return self.call("p2pdb_dtrunc", self.arg(node.this), exp.Literal.number(kind[2]))
        return node

    def native(self, node: exp.Sum | exp.Avg, inner: Kind, kind: Kind) -> exp.Expression | None:
        """SUM/AVG of a DECIMAL(p <= 15) or integer column by SQLite's integer SUM of whole units of
        ``10**-scale`` (``ROUND(d * 100) | 0``: a stored value times 10^s is below 10^15, so the double
        product rounds to that integer exactly; ``| 0`` makes it an INTEGER), formatted once per group:
        exact, and no Python call per row."""
        if (
            not isinstance(node.this, exp.Column)
            or inner is None
            or kind is None
            or node.args.get("distinct")
        ):
            return None
        if inner[0] == "int":
            units: exp.Expression = node.this.copy()
            scale = 0
        elif inner[0] == "dec" and inner[1] <= 15:
            scale = inner[2]
            product = exp.Mul(this=node.this.copy(), expression=exp.Literal.number(10**scale))
            rounded = exp.Anonymous(this="ROUND", expressions=[product])
            units = exp.BitwiseOr(this=rounded, expression=exp.Literal.number(0))
        else:
            return None
        total = exp.Sum(this=units)
        if isinstance(node, exp.Sum):
            return self.call("p2pdb_dunits", total, exp.Literal.number(scale))
        count = exp.Count(this=node.this.copy())
        args = [total, count, exp.Literal.number(scale), exp.Literal.number(kind[2])]
        return self.call("p2pdb_davg_units", *args)

    def zero(self, name: str) -> str:
        """Division and modulo in a written value fail on a zero divisor (strict mode), elsewhere
        they are NULL with a warning."""
        return f"{name}_strict" if self.writing and name in ("p2pdb_ddiv", "p2pdb_dmod") else name

    def call(self, name: str, *args: exp.Expression) -> exp.Expression:
        self.changed = True
        return exp.Anonymous(this=name, expressions=list(args))


def _is_u64(mysql_type: str) -> bool:
    info = mysqltypes.type_from_mysql_text(mysql_type)
    return info.data_type == "bigint" and "unsigned" in info.column_type


def _u64_comparisons(tree: exp.Expression, rw: _Rewriter) -> None:
    """``u = 18446744073709551615`` on a BIGINT UNSIGNED column: the other operand in the column's
    stored form (``p2pdb_u64``), so comparisons and index lookups see what is stored."""
    u64 = rw.typer.u64

    def is_u64(node: exp.Expression) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() in u64

    def operand(node: exp.Expression) -> exp.Expression:
        if is_u64(node):
            return node
        if isinstance(node, exp.Placeholder) and (index := rw.typer.param(node)) is not None:
            rw.text_params.append(index)
        return rw.call("p2pdb_u64", node.copy())

    for node in list(tree.find_all(*_COMPARISONS, exp.In)):
        if isinstance(node.parent, (exp.Update, exp.OnConflict)) and node.arg_key == "expressions":
            continue  # SET v = ...: an assignment, not a comparison
        if isinstance(node, exp.In):
            if is_u64(node.this) and node.expressions:
                node.set("expressions", [operand(e) for e in node.expressions])
        elif is_u64(node.this) and not is_u64(node.expression):
            node.set("expression", operand(node.expression))
        elif is_u64(node.expression) and not is_u64(node.this):
            node.set("this", operand(node.this))


_BITWISE = (
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift,
)  # fmt: skip
_UNSIGNED_BIGINT = mysqltypes.type_from_mysql_text("bigint(21) unsigned")
_BITWISE_TEXT = re.compile(r"~|<<|>>|[&^]|(?<!\|)\|(?!\|)")


def _unsigned(node: exp.Expression, typer: _Typer) -> bool:
    if isinstance(node, _BITWISE):
        return True
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        return isinstance(to, exp.DataType) and to.this == exp.DataType.Type.UBIGINT
    if isinstance(node, exp.Placeholder) and (index := typer.param(node)) is not None:
        raw = typer.raw[index]
        return raw.isdigit() and 2**63 <= int(raw) < 2**64
    return False


def _type_info(kind: Kind) -> mysqltypes.TypeInfo | None:
    if kind is None:
        return None
    if kind[0] == "dec":
        return mysqltypes.type_from_mysql_text(f"decimal({kind[1]},{kind[2]})")
    if kind[0] in _TEMPORAL:
        return mysqltypes.type_from_mysql_text(f"{kind[0]}({kind[1]})" if kind[1] else kind[0])
    return None


def _star_of_derived(tree: exp.Select, typer: _Typer) -> list[mysqltypes.TypeInfo | None] | None:
    """``SELECT * FROM (SELECT ...) d`` or ``SELECT * FROM cte``: the derived columns' types."""
    source = tree.args.get("from_") or tree.args.get("from")
    table = source.this if isinstance(source, exp.From) else None
    if len(tree.expressions) != 1 or not isinstance(tree.expressions[0], exp.Star) or tree.args.get("joins"):
        return None
    name = table.alias_or_name.lower() if isinstance(table, (exp.Subquery, exp.Table)) else ""
    if name not in typer.derived:
        return None
    return [_type_info(kind) for kind in typer.columns[name].values()]


def _projections(tree: exp.Select, rewriter: _Rewriter) -> list[mysqltypes.TypeInfo | None]:
    star = _star_of_derived(tree, rewriter.typer)
    if star is not None:
        return star
    types: list[mysqltypes.TypeInfo | None] = []
    items: list[exp.Expression] = []
    originals: dict[str, exp.Expression] = {}
    for item in tree.expressions:
        kind = rewriter.typer.kind(item)
        bare = item.this if isinstance(item, exp.Alias) else item
        while isinstance(bare, exp.Paren):
            bare = bare.this
        # ~, &, |, ^, <<, >>, CAST(x AS UNSIGNED) and integer literals above 2^63-1 are BIGINT UNSIGNED
        # in MySQL: shown as one (``~0``: 18446744073709551615, not -1 or a string of digits)
        types.append(_UNSIGNED_BIGINT if _unsigned(bare, rewriter.typer) else _type_info(kind))
        if isinstance(item, exp.Alias) and kind is not None and kind[0] == "dec":
            originals[item.alias.lower()] = item.this.copy()
        bare = item.this if isinstance(item, exp.Alias) else item
        if isinstance(bare, exp.Placeholder) and kind is not None and kind[0] == "dec":
            rewriter.arg(bare)  # a decimal literal shown as it is: its exact text
        if isinstance(item, exp.Alias):
            item.set("this", rewriter.exact(item.this))
            items.append(item)
        else:
            items.append(rewriter.exact(item))
    tree.set("expressions", items)
    # ORDER BY/GROUP BY/HAVING name a rewritten projection by its alias: there, the expression as
    # SQLite computes it (a number, which sorts and compares as one; the exact text would not).
    for part in ("order", "group", "having"):
        clause = tree.args.get(part)
        if clause is None or not originals:
            continue
        for column in list(clause.find_all(exp.Column)):
            original = originals.get(column.name.lower()) if not column.table else None
            if original is not None:
                column.replace(original.copy())
                rewriter.changed = True
    return types


def _fit(value: exp.Expression, mysql_type: str, column: str, row: int, rw: _Rewriter) -> exp.Expression:
    if isinstance(value, exp.Null) and ROWID_MARK in mysql_type:
        raise MySQLError(1048, f"Column '{column}' cannot be null", "23000")
    if _kept_as_written(value):
        return value
    if isinstance(value, exp.Placeholder):
        index = rw.typer.param(value)
        kind = rw.typer.kind(value)
        if index is not None and kind is not None and kind[0] != "int":
            rw.text_params.append(index)  # decimal literals: their exact text
    else:
        rw.writing = True
        try:
            value = rw.exact(value)
        finally:
            rw.writing = False
    args = [exp.Literal.string(mysql_type), exp.Literal.string(column), exp.Literal.number(row)]
    return rw.call("p2pdb_fit_ignore" if rw.lenient else "p2pdb_fit", value, *args)


_TEXT_TYPES = frozenset(("char", "varchar", "tinytext", "text", "mediumtext", "longtext"))


def _text_columns(spec: TableSpec) -> set[str]:
    """Columns of a text type (lower names): a decimal literal written there is stored as written."""
    out = set()
    for col in spec.columns:
        mt = col.extra.get("mt") if col.extra else None
        if isinstance(mt, str) and mysqltypes.type_from_mysql_text(mt).data_type in _TEXT_TYPES:
            out.add(col.name.lower())
    return out


def _kept_as_written(value: exp.Expression) -> bool:
    """NULL and DEFAULT (filled in later from the schema) are written as they are, unchecked."""
    if isinstance(value, exp.Null) or (isinstance(value, exp.Var) and value.name.upper() == "DEFAULT"):
        return True
    return isinstance(value, exp.Column) and value.name.upper() == "DEFAULT" and not value.table


def _is_char(spec: TableSpec, name: str) -> bool:
    col = spec.column(name)
    mt = col.extra.get("mt") if col is not None and col.extra else None
    return isinstance(mt, str) and mysqltypes.type_from_mysql_text(mt).data_type == "char"


def _truncate(
    value: exp.Expression, length: int, column: str, row: int, rw: _Rewriter, char: bool = False
) -> exp.Expression:
    """A text value written to a CHAR(n)/VARCHAR(n) column, checked against ``n`` as the statement
    runs: INSERT IGNORE cuts it with warning 1265; otherwise (strict mode) a value longer than the
    column is error 1406, except for trailing spaces, which are cut; a CHAR keeps no trailing spaces
    (``p2pdb.sql.decimals``)."""
    if _kept_as_written(value):
        return value
    args = [exp.Literal.number(length), exp.Literal.string(column), exp.Literal.number(row)]
    if rw.lenient:
        return rw.call("p2pdb_fit_text", value, *args)
    return rw.call("p2pdb_fit_long", value, *args, exp.Literal.number(int(char)))


def _as_text(value: exp.Expression, rw: _Rewriter) -> None:
    """A decimal literal written to a text column: bound as its text (``313.20``, not ``313.2``); a
    binary string (``0x41``, ``_binary'A'``) written there: bound as the text its bytes spell."""
    if isinstance(value, exp.Placeholder):
        index = rw.typer.param(value)
        kind = rw.typer.kind(value)
        if index is not None and kind is not None and kind[0] == "dec":
            rw.text_params.append(index)
        elif index is not None:
            rw.string_params.append(index)


def _checked_columns(spec: TableSpec) -> dict[str, tuple[str, str]]:
    """Columns whose written values go through ``p2pdb_fit``: lower name -> (MySQL type, name)."""
    out = {}
    for col in spec.columns:
        mt = col.extra.get("mt") if col.extra else None
        if not isinstance(mt, str) or col.extra.get("ai"):
            continue
        if is_choice_type(mt):  # ENUM, SET, YEAR (p2pdb.sql.choices)
            out[col.name.lower()] = (mt, col.name)
            continue
        if value_fit.family(mt) is not None:  # DATE, DATETIME, TIMESTAMP, TIME, JSON
            out[col.name.lower()] = (mt, col.name)
            continue
        kind = column_kind(mt)
        if kind is not None and kind[0] in ("dec", "int"):
            rowid = spec.pk == (col.name,) and col.type.upper() == "INTEGER"
            out[col.name.lower()] = (mt + ROWID_MARK if rowid else mt, col.name)
    return out


#: Operators and functions whose operands MySQL reads as numbers.
_NUMBER_USES = (
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.BitwiseAnd, exp.BitwiseOr,
    exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift, exp.BitwiseCount,
    exp.Abs, exp.Ceil, exp.Floor, exp.Round, exp.Sqrt, exp.Pow, exp.Ln, exp.Log, exp.Exp, exp.Sum,
    exp.Avg,
)  # fmt: skip
_NUMBER_COMPARISONS = (*_COMPARISONS, exp.Between, exp.In)


def _bits_numbers(tree: Any, rw: _Rewriter) -> None:
    """Hexadecimal and bit literals where MySQL reads them as numbers: operands of arithmetic,
    bitwise operators and numeric functions, ``CAST(... AS SIGNED/UNSIGNED/DECIMAL)``, compared with
    a number, written to a numeric column. Bound as their integer (:attr:`Exact.number_params`).
    Compared with text they are the text their bytes spell (:attr:`Exact.string_params`); anywhere
    else they stay binary strings (``CONCAT(0x41, 'b')`` is the binary string ``'Ab'``)."""
    typer = rw.typer
    for node in list(tree.find_all(exp.Placeholder)):
        index = typer.param(node)
        if index is None or not is_bits_literal(typer.raw[index]):
            continue
        child: exp.Expression = node
        parent = node.parent
        while isinstance(parent, exp.Paren):
            child, parent = parent, parent.parent
        if isinstance(parent, _NUMBER_USES):
            numeric = True
        elif isinstance(parent, (exp.Cast, exp.TryCast)):
            to = parent.args.get("to")
            numeric = isinstance(to, exp.DataType) and to.is_type(*exp.DataType.NUMERIC_TYPES)
        elif isinstance(parent, _NUMBER_COMPARISONS):
            others = [
                v
                for v in (*parent.args.values(), *parent.expressions)
                if isinstance(v, exp.Expression) and v is not child
            ]
            numeric = any(typer.is_number(v) for v in others)
            if not numeric and any(typer.is_text(v) for v in others):
                rw.string_params.append(index)  # compared with text: compared as the text it spells
        elif isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values):
            numeric = _written_as_number(parent, child, typer)
        else:
            numeric = False
        if numeric:
            rw.number_params.append(index)


def _written_as_number(row: exp.Tuple, value: exp.Expression, typer: _Typer) -> bool:
    """``value`` of an ``INSERT ... VALUES`` row goes to a numeric column."""
    insert = row.parent.parent if row.parent is not None else None
    if not isinstance(insert, exp.Insert):
        return False
    target = insert.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return False
    kinds = typer.columns.get(table.name.lower())
    if not kinds:
        return False
    names = _insert_columns(target, list(kinds))
    position = next((i for i, item in enumerate(row.expressions) if item is value), None)
    if position is None or position >= len(names):
        return False
    kind = kinds.get(names[position])
    return kind is not None and kind[0] in _NUMERIC


def _insert_columns(target: exp.Expression, every: list[str]) -> list[str]:
    """The columns (lower case) an INSERT's values go to: its column list, else ``every`` column."""
    if isinstance(target, exp.Schema):
        return [str(e.name).lower() for e in target.expressions]
    return every


def _writes(tree: exp.Expression, tables: Mapping[str, TableSpec], rw: _Rewriter) -> None:
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return
    spec = {name.lower(): s for name, s in tables.items()}.get(table.name.lower())
    if spec is None:
        return
    checked = _checked_columns(spec)
    texts = _text_columns(spec)
    if not checked and not texts:
        return
    rw.lenient = isinstance(tree, exp.Insert) and bool(tree.args.get("ignore"))
    lengths = {n: c.max_length for n in texts if (c := spec.column(n)) is not None and c.max_length}
    chars = {n for n in lengths if _is_char(spec, n)}
    if isinstance(tree, exp.Insert):
        values = tree.expression
        names = _insert_columns(target, [c.name.lower() for c in spec.columns])
        if isinstance(values, exp.Select) and not any(isinstance(e, exp.Star) for e in values.expressions):
            items = list(values.expressions)  # INSERT ... SELECT: each selected value checked
            for index, name in enumerate(names[: len(items)]):
                if name in checked or name in lengths:
                    item = items[index]
                    inner = item.this if isinstance(item, exp.Alias) else item
                    if name in checked:
                        fitted = _fit(inner, *checked[name], 1, rw)
                    else:
                        fitted = _truncate(inner, lengths[name], name, 1, rw, name in chars)
                    items[index] = (
                        exp.Alias(this=fitted, alias=item.alias) if isinstance(item, exp.Alias) else fitted
                    )
            values.set("expressions", items)
        if isinstance(values, exp.Values):
            for number, row in enumerate(values.expressions, 1):
                if not isinstance(row, exp.Tuple):
                    continue
                items = list(row.expressions)
                for index, name in enumerate(names[: len(items)]):
                    if name in checked:
                        items[index] = _fit(items[index], *checked[name], number, rw)
                    elif name in texts:
                        _as_text(items[index], rw)
                        if name in lengths:
                            items[index] = _truncate(
                                items[index], lengths[name], name, number, rw, name in chars
                            )
                row.set("expressions", items)
        conflict = tree.args.get("conflict")
        assignments = conflict.expressions if isinstance(conflict, exp.OnConflict) else []
    else:
        assignments = tree.expressions
    for assignment in assignments:
        if isinstance(assignment, exp.EQ) and isinstance(assignment.this, exp.Column):
            name = assignment.this.name.lower()
            if name in checked:
                assignment.set("expression", _fit(assignment.expression, *checked[name], 1, rw))
            elif name in texts:
                _as_text(assignment.expression, rw)
                if name in lengths:
                    fitted = _truncate(assignment.expression, lengths[name], name, 1, rw, name in chars)
                    assignment.set("expression", fitted)


_REPLACE = re.compile(r"^\s*REPLACE\b", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\b", re.IGNORECASE)
_MOD = re.compile(r"%|\bMOD\b", re.IGNORECASE)
_COMPARES = re.compile(r"[=<>]|\b(?:IN|BETWEEN)\b", re.IGNORECASE)


def _mixed(raw: Sequence[str], tables: Mapping[str, TableSpec]) -> bool:
    """Could the statement compare a string with a number? String and number literals both, or a
    number literal where a table has character columns, or a string literal and numeric columns."""
    quoted = any(r[:1] in ("'", '"') for r in raw)
    numbers = any(r[:1] in _NUMERIC_START or r[:1] == "-" for r in raw)
    if quoted and numbers:
        return True
    if not quoted and not numbers:
        return bool(tables)  # columns of both kinds compared with each other
    return bool(tables)


_HINTS = re.compile(
    r"[-+*/.%]|\b(?:SUM|AVG|MIN|MAX|CAST|NULLIF|CASE|DIV|COALESCE|IFNULL|ROUND|TRUNCATE|ABS|LAG|LEAD"
    r"|FIRST_VALUE|LAST_VALUE|NTH_VALUE)\b|\bIF\s*\(",
    re.IGNORECASE,
)
#: Functions whose MySQL result is a DATE, DATETIME or TIME (typed by :meth:`_Typer._temporal`).
_TEMPORAL_HINTS = re.compile(
    r"\b(?:DATE|TIME|TIMESTAMP|FROM_UNIXTIME|LAST_DAY|DATE_ADD|DATE_SUB|ADDDATE|SUBDATE|MAKEDATE|FROM_DAYS"
    r"|SEC_TO_TIME|MAKETIME|TIMEDIFF|ADDTIME|SUBTIME|UTC_DATE|UTC_TIME|UTC_TIMESTAMP|CONVERT|IFNULL|COALESCE"
    r"|STR_TO_DATE|CONVERT_TZ)\s*\("
    r"|\bINTERVAL\b|:f_(?:now|curdate|curtime)",
    re.IGNORECASE,
)


def _worth_parsing(kind: str, shape: str, raw: Sequence[str], tables: Mapping[str, TableSpec]) -> bool:
    """Cheap test before parsing: could the statement hold a DECIMAL expression or a checked write?"""
    if any("." in r and r[:1] not in "'\"" for r in raw) or _MOD.search(shape) or "/" in shape:
        return True
    if any(r[:2] in _BITS_START for r in raw):
        return True  # a hexadecimal or bit literal that may stand for a number (_bits_numbers)
    if kind != "INSERT" and _BITWISE_TEXT.search(shape):
        return True  # bitwise operators: unsigned results, a logical >>
    if kind == "SELECT" and any(len(r) > 18 and r.isdigit() for r in raw):
        return True  # an integer literal past BIGINT: a BIGINT UNSIGNED or a DECIMAL
    if kind in ("SELECT", "UPDATE", "DELETE") and _COMPARES.search(shape) and _mixed(raw, tables):
        return True  # a string compared with a number (p2pdb.sql.exact._coerce)
    if kind == "SELECT" and _TEMPORAL_HINTS.search(shape) is not None:
        return True
    if not tables:  # CAST('2.5' AS DECIMAL(5,2)), ROUND(...), SUM over a derived table...
        return kind == "SELECT" and _HINTS.search(shape) is not None
    if _TEXT_FUNCTIONS.search(shape) and _scaled_decimals(tables):
        return True  # a DECIMAL read as text (_decimal_text)
    if kind in ("INSERT", "REPLACE", "UPDATE"):
        return True
    if any(_is_u64(c.extra["mt"]) for s in tables.values() for c in s.columns if c.extra.get("mt")):
        return kind in ("SELECT", "DELETE")
    if kind in ("SELECT", "DELETE") and _has_choices(tables):
        return True  # an ENUM or SET column read as a number (_choice_numbers)
    if kind in ("SELECT", "UPDATE", "DELETE") and _LIKE.search(shape) and _has_exact_text(tables):
        return True  # LIKE over a column that compares byte for byte (_exact_likes)
    return kind == "SELECT" and _HINTS.search(shape) is not None


#: Where MySQL reads a DECIMAL as its text ('2.50'): string functions (their string argument) and LIKE.
_TEXT_USES = (
    exp.Concat, exp.ConcatWs, exp.Pad, exp.Replace, exp.Substring, exp.Length, exp.Upper, exp.Lower,
    exp.GroupConcat, exp.Left, exp.Right, exp.Trim, exp.Reverse, exp.StrPosition, exp.SubstringIndex,
    exp.MD5, exp.Repeat, exp.Like,
)  # fmt: skip
_CHAR_TYPES = frozenset(
    (exp.DataType.Type.CHAR, exp.DataType.Type.VARCHAR, exp.DataType.Type.NCHAR, exp.DataType.Type.TEXT)
)
_TEXT_FUNCTIONS = re.compile(
    r"\b(?:CONCAT|CONCAT_WS|LPAD|RPAD|REPLACE|SUBSTR|SUBSTRING|MID|LENGTH|CHAR_LENGTH|UPPER|LOWER|UCASE"
    r"|LCASE|GROUP_CONCAT|LEFT|RIGHT|TRIM|LTRIM|RTRIM|REVERSE|INSTR|LOCATE|POSITION|SUBSTRING_INDEX|MD5"
    r"|REPEAT|CAST|CONVERT)\s*\(|\bLIKE\b",
    re.IGNORECASE,
)


_LIKE = re.compile(r"\bLIKE\b", re.IGNORECASE)


def _has_exact_text(tables: Mapping[str, TableSpec]) -> bool:
    return any(_compares_exactly(c) for spec in tables.values() for c in spec.columns)


def _has_choices(tables: Mapping[str, TableSpec]) -> bool:
    return any(
        isinstance(mt := c.extra.get("mt"), str) and mt[:4].lower() in ("enum", "set(", "bit", "bit(")
        for spec in tables.values()
        for c in spec.columns
        if c.extra
    )


def _scaled_decimals(tables: Mapping[str, TableSpec]) -> bool:
    """Some column is a DECIMAL with decimals (stored as a number that does not show them)."""
    for spec in tables.values():
        for col in spec.columns:
            mt = col.extra.get("mt") if col.extra else None
            kind = column_kind(mt) if isinstance(mt, str) else None
            if kind is not None and kind[0] == "dec" and kind[2] > 0:
                return True
    return False


def _decimal_text(tree: exp.Expression, rw: _Rewriter) -> None:
    """A DECIMAL read as text (``CONCAT(d)``, ``CONCAT(d + 1)``, ``d LIKE '2.5%'``, ``CAST(d AS CHAR)``)
    reads its exact text at its scale, as in MySQL ('2.50'; SQLite's text of the stored 2.5 is '2.5')."""
    for use in list(tree.find_all(*_TEXT_USES, exp.Cast)):
        if isinstance(use, (exp.Concat, exp.ConcatWs)):
            operands = list(use.expressions)
        elif isinstance(use, exp.Like):
            operands = [use.this, use.expression]
        elif isinstance(use, exp.Cast):
            chars = isinstance(use.to, exp.DataType) and use.to.this in _CHAR_TYPES
            operands = [use.this] if chars else []
        else:
            operands = [use.this]
        for operand in operands:
            value = operand
            while isinstance(value, exp.Order) or (  # GROUP_CONCAT(DISTINCT d ORDER BY ...)
                isinstance(value, exp.Distinct) and len(value.expressions) == 1
            ):
                value = value.this if isinstance(value, exp.Order) else value.expressions[0]
            if not isinstance(value, exp.Expression):
                continue
            kind = rw.typer.kind(value)
            if kind is None or kind[0] != "dec" or kind[2] == 0:
                continue
            if isinstance(value, exp.Placeholder):
                rw.arg(value)  # a decimal literal: bound as the text it was written as
                continue
            if isinstance(value, exp.Column) and value.name.lower() in rw.typer.u64:
                continue
            exact = rw.exact(value.copy())
            value.replace(rw.call("p2pdb_dround", exact, exp.Literal.number(kind[2])))
            rw.changed = True


_INEXACT = (exp.Add, exp.Sub, exp.Mul, exp.Sum, exp.Avg)


def _inexact(node: exp.Expression, rw: _Rewriter) -> None:
    """The DECIMAL arithmetic the projections left (WHERE, ON, HAVING, ORDER BY, a comparison, a CTE's
    or derived table's columns): computed exactly, then compared as the nearest DOUBLE, which is what
    a stored DECIMAL is. So ``price * qty = 0.3`` holds for 0.10 and 3, and ``0.1 + 0.2 = 0.3`` is 1,
    as in MySQL (SQLite's doubles give 0.30000000000000004)."""
    for child in list(node.iter_expressions()):
        if isinstance(child, exp.Anonymous) and str(child.this).lower().startswith("p2pdb_"):
            continue  # already exact
        kind = rw.typer.kind(child) if isinstance(child, _INEXACT) else None
        if kind is not None and kind[0] == "dec" and not isinstance(node, exp.Window):
            exact = rw.exact(child)
            if exact is not child:
                child.replace(exp.Cast(this=exact, to=exp.DataType.build("DOUBLE")))
                continue
        _inexact(child, rw)


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg)


_EXACT_TYPES = frozenset(("binary", "varbinary"))


def _compares_exactly(col: Any) -> bool:
    """A column whose text compares byte for byte: a ``_bin`` (or binary) collation, the BINARY
    attribute (stored as ``utf8mb4_bin``), BINARY/VARBINARY."""
    extra = col.extra or {}
    collation = extra.get("co")
    if isinstance(collation, str) and (collation.lower().endswith("_bin") or collation.lower() == "binary"):
        return True
    mt = extra.get("mt")
    return isinstance(mt, str) and mysqltypes.type_from_mysql_text(mt).data_type in _EXACT_TYPES


def _exact_likes(tree: exp.Expression, rw: _Rewriter) -> None:
    """``c LIKE 'a%'`` where ``c`` compares byte for byte: the column read as bytes, so the match is
    exact as MySQL's (SQLite hands LIKE neither the column's collation nor its type)."""
    typer = rw.typer
    if not typer.exact_text:
        return
    for node in list(tree.find_all(exp.Like)):
        column = node.this
        if not isinstance(column, exp.Column):
            continue
        name = column.name.lower()
        if name in typer.exact_text and name not in typer.folded_text:
            node.set("this", rw.call("p2pdb_bytes", column.copy()))


def _choice_numbers(tree: exp.Expression, rw: _Rewriter) -> None:
    """An ENUM or SET column where MySQL reads it as a number: its index (ENUM, 1-based) or bitmask
    (SET). ``ORDER BY priority`` sorts ENUM('low', 'medium', 'high') as declared, ``e + 0`` is the
    index, ``e = 2`` compares it; compared with a string, a member is its text (unchanged)."""
    typer = rw.typer
    if not typer.choices:
        return

    def mysql_type(node: Any) -> str | None:
        if not isinstance(node, exp.Column):
            return None
        found = typer.choices.get(node.name.lower())
        return next(iter(found)) if found is not None and len(found) == 1 else None

    def number(node: Any, mt: str) -> exp.Expression:
        rw.changed = True
        return exp.Anonymous(this="p2pdb_choice_number", expressions=[node.copy(), exp.Literal.string(mt)])

    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    for item in order.expressions if isinstance(order, exp.Order) else []:
        if isinstance(item, exp.Ordered) and (mt := mysql_type(item.this)) is not None:
            item.set("this", number(item.this, mt))
    for node in list(tree.find_all(*_ARITHMETIC, *_COMPARISONS)):
        if isinstance(node, _COMPARISONS):
            if isinstance(node.parent, (exp.Update, exp.OnConflict)) and node.arg_key == "expressions":
                continue  # SET c = v: an assignment
            pairs = [("this", "expression"), ("expression", "this")]
            for side, other in pairs:
                operand, against = node.args.get(side), node.args.get(other)
                if (
                    (mt := mysql_type(operand)) is not None
                    and against is not None
                    and typer.is_number(against)
                ):
                    node.set(side, number(operand, mt))
            continue
        for key in ("this", "expression"):
            operand = node.args.get(key)
            if (mt := mysql_type(operand)) is not None:
                node.set(key, number(operand, mt))


def _divisions(tree: exp.Expression, rw: _Rewriter) -> None:
    """The ``/`` the projections left (WHERE, ON, HAVING, ORDER BY, GROUP BY): MySQL's division, not
    SQLite's integer division (``7/2`` is 3.5000, so ``n/2 = 3.5`` holds for 7). An exact quotient is
    rounded to its MySQL scale, then compared as a number (``1/3 = 0.3333`` holds, as in MySQL); any
    other is a floating division. A zero divisor gives NULL with warning 1365."""
    rw.writing = False
    while (node := tree.find(exp.Div)) is not None:  # breadth first: the outermost division first
        kind = rw.typer.kind(node)
        if kind is not None and kind[0] == "dec":
            quotient = rw.call("p2pdb_dround", rw.exact(node), exp.Literal.number(kind[2]))
            cast = exp.Cast(this=quotient, to=exp.DataType.build("DOUBLE"))
            node.replace(cast)
            rw.changed = True
        else:
            node.replace(rw.call("p2pdb_fdiv", node.this, node.expression))


def rewrite(kind: str, shape: str, raw: Sequence[str], tables: Mapping[str, TableSpec]) -> Exact | None:
    """The exact-number rewrite of a MySQL statement shape, or None when nothing changes."""
    if kind == "WITH":  # WITH ... SELECT: its CTEs typed (_Typer._derived) and computed exactly
        kind = "SELECT"
    if kind not in ("SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE"):
        return None
    if not _worth_parsing(kind, shape, raw, tables):
        return None
    replace = kind == "REPLACE"
    try:
        tree = sqlglot.parse_one(_REPLACE.sub("INSERT", shape, 1) if replace else shape, read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    typer = _Typer(raw, tables, tree)
    rw = _Rewriter(typer)
    if any(r[:2] in _BITS_START for r in raw):
        _bits_numbers(tree, rw)
    if typer.u64 and isinstance(tree, (exp.Select, exp.Update, exp.Delete, exp.Insert)):
        _u64_comparisons(tree, rw)
    types: list[mysqltypes.TypeInfo | None] | None = None
    if isinstance(tree, exp.Select):
        types = _projections(tree, rw)
        if not any(t is not None for t in types):
            types = None
    elif isinstance(tree, (exp.Insert, exp.Update)):
        _writes(tree, tables, rw)
    elif not isinstance(tree, exp.Delete):
        return None
    _decimal_text(tree, rw)
    _exact_likes(tree, rw)
    _choice_numbers(tree, rw)
    _inexact(tree, rw)
    _coerce(tree, rw)
    for rounding in list(tree.find_all(exp.Round)):  # of a DOUBLE: to nearest even (MySQL's rint)
        operand = typer.kind(rounding.this)
        if operand is not None and operand[0] == "real":
            places = rounding.args.get("decimals")
            digits = places if isinstance(places, exp.Expression) else exp.Literal.number(0)
            rounding.replace(rw.call("p2pdb_fround", rounding.this, digits))
    for node in list(tree.find_all(exp.Mod)):  # what the projections left: MySQL's MOD, not SQLite's %
        node.replace(rw.call("mod", node.this, node.expression))
    _divisions(tree, rw)
    for shift in list(tree.find_all(exp.BitwiseRightShift)):  # MySQL's >> shifts 64 unsigned bits
        shift.replace(rw.call("p2pdb_shr", shift.this, shift.expression))
    if (
        not rw.changed
        and types is None
        and not rw.text_params
        and not rw.number_params
        and not rw.string_params
    ):
        return None
    text = tree.sql(dialect="mysql") if rw.changed else shape
    if replace and rw.changed:
        text = _INSERT.sub("REPLACE", text, 1)
    return Exact(
        text,
        types,
        sorted(set(rw.text_params)),
        sorted(set(rw.number_params)),
        sorted(set(rw.string_params)),
    )
