"""``information_schema.P2PDB_HISTORY``: every row version a database's change feed keeps; and
``information_schema.P2PDB_DIFF``: the rows that differ between two versions of a database.

A row's history is read with plain SQL::

    SELECT OP, ROW_DATA, AUTHOR, CLOCK, ENTRY_CID, WALL_TIME
      FROM information_schema.P2PDB_HISTORY
     WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'items' AND ROW_KEY = '[42]' ORDER BY ID;

The table is filled from the change feeds each time a query names it. An equality on
``TABLE_SCHEMA`` or ``TABLE_NAME`` in the query narrows what is filled (the query's own WHERE
still decides what it returns), so the cost of a query is the retained feed of the tables it names.
The versions are those this node applied, in the order it applied them (ids increase); the
feed's retention (``change_feed_retention``) and a light node's pruning bound how far back it goes.
"""

from __future__ import annotations

import re
from typing import Any

_EQUALS = re.compile(r"\b(TABLE_SCHEMA|TABLE_NAME|FROM_POINT|TO_POINT)\s*=\s*:(p\d+)\b", re.IGNORECASE)


def equalities(shape: str, bound: dict[str, Any]) -> dict[str, str]:
    """The string literals a statement compares ``TABLE_SCHEMA``, ``TABLE_NAME``, ``FROM_POINT`` and
    ``TO_POINT`` with (``col = '…'``), by column; a column compared with two values is left out."""
    found: dict[str, set[str]] = {}
    for column, param in _EQUALS.findall(shape):
        value = bound.get(param)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            found.setdefault(column.upper(), set()).add(value)
    return {column: next(iter(values)) for column, values in found.items() if len(values) == 1}


def history_filter(shape: str, bound: dict[str, Any]) -> tuple[str | None, str | None]:
    """The schema and table a statement's ``TABLE_SCHEMA = '…'`` / ``TABLE_NAME = '…'`` name (None:
    not named, or named more than once with different values)."""
    found = equalities(shape, bound)
    return found.get("TABLE_SCHEMA"), found.get("TABLE_NAME")


DIFF_USAGE = (
    "information_schema.P2PDB_DIFF needs FROM_POINT = '<time or entry CID>' in its WHERE clause"
    " (and TO_POINT, default 'now'; TABLE_SCHEMA, default the current database)"
)
