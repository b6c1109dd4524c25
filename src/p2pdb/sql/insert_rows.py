"""A multi-row ``INSERT ... VALUES`` taken apart into one statement per row.

``INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') ON DUPLICATE KEY UPDATE b = 'z'`` becomes
``INSERT INTO t (a, b) VALUES (:p1, :p2) ON DUPLICATE KEY UPDATE b = :p3`` twice, each with its own
row's literals (and the tail's). The session plans each row's shape (rows written alike share one
plan, and a one-row INSERT of the same shape shares it too) and runs the rows in order, inside the
statement's own savepoint, so the statement stays atomic (docs/mysql-compatibility.md, "Multi-row
INSERT").

Why not one SQLite statement: every literal is a bound parameter, and SQLite takes at most 32,766
of them in a statement, so a bulk INSERT of 11,000 rows of three columns (PyMySQL's
``executemany``, pandas ``to_sql``, a dump) failed with "too many SQL variables". And each row
count was a new shape: a dump's INSERTs, whose row counts all differ, each built a new plan (a few
hundred microseconds per row, once per statement).

A statement is taken apart only when each row is a parenthesised list (``ROW(...)`` too) of
anything but user or system variables (``@v``, ``@@v``: their parameter names are per statement).
"""

from __future__ import annotations

import re

from p2pdb.sql.lexer import PARAMS, Lexed, renumber

_TOP = re.compile(r"`(?:[^`]|``)*`|[()]|\bVALUES?\b", re.IGNORECASE)
_PAREN = re.compile(r"`(?:[^`]|``)*`|[()]")
_FIRST = re.compile(r"\s*(?:ROW\s*)?\(", re.IGNORECASE)
_NEXT = re.compile(r"\s*,\s*(?:ROW\s*)?\(", re.IGNORECASE)
_ROW_GAP = re.compile(r"\)\s*,\s*(?:ROW\s*)?\(", re.IGNORECASE)  # between two rows
_NUMBER = re.compile(r"(?<=:p)\d+")
_VARIABLE = re.compile(r":[gu]\d")
_ROW_ONE = re.compile(r" at row 1$")


def _values_end(shape: str) -> int | None:
    """Where the top-level ``VALUES`` keyword of an INSERT shape ends (None: no such keyword)."""
    depth = 0
    for match in _TOP.finditer(shape):
        token = match.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token[0] != "`" and depth == 0:
            return match.end()
    return None


def _closing(shape: str, start: int) -> int | None:
    """The position after the parenthesis that closes the one opened at or after ``start``."""
    depth = 0
    for match in _PAREN.finditer(shape, start):
        token = match.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth == 0:
                return match.end()
    return None


def _rows(shape: str) -> tuple[int, list[tuple[int, int]]] | None:
    """Where an INSERT/REPLACE shape's ``VALUES`` keyword ends, and each row's span (from its
    parenthesis: ``ROW`` left out); None when the shape has no ``VALUES`` rows."""
    head_end = _values_end(shape)
    if head_end is None:
        return None
    rows: list[tuple[int, int]] = []
    found = _FIRST.match(shape, head_end)
    while found is not None:
        end = _closing(shape, found.start())
        if end is None:
            return None
        rows.append((found.end() - 1, end))
        found = _NEXT.match(shape, end)
    return head_end, rows


def row_count(shape: str) -> int:
    """The rows of an INSERT/REPLACE ``VALUES`` shape (0 for ``INSERT ... SELECT``/``SET``)."""
    parts = _rows(shape)
    return len(parts[1]) if parts is not None else 0


def split(lexed: Lexed) -> list[Lexed] | None:
    """One statement per row of a multi-row INSERT/REPLACE ``VALUES`` shape; None for any other
    statement (one row, ``INSERT ... SELECT``/``SET``, a row naming a variable)."""
    shape = lexed.shape
    if _ROW_GAP.search(shape) is None:  # (the hot path: a one-row INSERT has no ") , (")
        return None
    parts = _rows(shape)
    if parts is None or len(parts[1]) < 2:
        return None
    head_end, rows = parts
    head, tail = shape[:head_end], shape[rows[-1][1] :]
    before, after = _count(head), _count(tail)
    total = len(lexed.params)
    placeholders = set(lexed.placeholders)
    shapes: dict[str, str] = {}  # a row's text without parameter numbers -> its statement's shape
    statements = []
    first = before  # the row's first parameter (0-based): literals are numbered in textual order
    for start, end in rows:
        row = shape[start:end]
        if _VARIABLE.search(row) is not None:
            return None
        blank = _NUMBER.sub("", row)
        count = blank.count(":p") if "`" not in row else _count(row)
        own = shapes.get(blank)
        if own is None:
            own = shapes[blank] = renumber(f"{head} {row}{tail}")[0]
        taken = [*range(before), *range(first, first + count), *range(total - after, total)]
        first += count
        statements.append(lexed.taking(own, taken, placeholders))
    return statements


def _count(text: str) -> int:
    """The parameters in a part of a shape."""
    return sum(1 for match in PARAMS.finditer(text) if match.group(1) is not None)


def text_of(lexed: Lexed) -> str:
    """A row's statement with its literals as the client wrote them (for error messages)."""
    return PARAMS.sub(
        lambda m: m.group() if m.group(1) is None else lexed.raw[int(m.group(1)) - 1], lexed.shape
    )


def at_row(message: str, number: int) -> str:
    """A message about the row a one-row statement wrote (``... at row 1``) for row ``number``."""
    return _ROW_ONE.sub(f" at row {number}", message) if number != 1 else message
