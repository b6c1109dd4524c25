"""MySQL 8.0.19's row alias of an upsert: ``INSERT ... VALUES (...) AS new [(a, b)] ON DUPLICATE KEY
UPDATE c = new.c`` (Laravel 11's ``upsert()`` writes it to servers of 8.0.19 and later; ``VALUES(c)`` is
deprecated there). The alias names the row the INSERT would have written, which is what ``VALUES(c)``
names: the alias goes, ``new.c`` becomes ``VALUES(c)``, and a column alias (``a`` of ``new(a, b)``,
qualified or not) becomes ``VALUES`` of the column at its position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from p2pdb.store.schema import TableSpec

_I = re.IGNORECASE | re.S
_NAME = r"`(?:[^`]|``)+`|[A-Za-z_$][\w$]*"
_ALIAS = re.compile(rf"\s+AS\s+({_NAME})\s*(?:\(([^()]*)\))?\s+(?=ON\s+DUPLICATE\s+KEY\s+UPDATE\b)", _I)
_HEAD = re.compile(
    rf"^\s*INSERT\s+(?:IGNORE\s+)?(?:INTO\s+)?(?:(?:{_NAME})\s*\.\s*)?({_NAME})\s*(\(([^()]*)\))?", _I
)


def _bare(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def rewrite(shape: str, tables: Mapping[str, TableSpec]) -> str:
    """``shape`` without its row alias (see the module docstring); other shapes as they are."""
    found = _ALIAS.search(shape)
    head = _HEAD.match(shape)
    if found is None or head is None or _depth(shape, found.start()) != 0:
        return shape
    alias = _bare(found.group(1))
    names: list[str] | None = None
    if found.group(2) is not None:
        if head.group(3) is not None:
            names = [_bare(n) for n in head.group(3).split(",")]
        else:
            spec = {k.lower(): v for k, v in tables.items()}.get(_bare(head.group(1)).lower())
            names = [c.name for c in spec.columns] if spec is not None else None
        aliases = [_bare(n) for n in found.group(2).split(",")]
        if names is None or len(aliases) != len(names):
            return shape
        columns = dict(zip((a.lower() for a in aliases), names, strict=True))
    else:
        columns = {}
    tail = shape[found.end() :]

    def qualified(match: re.Match[str]) -> str:
        if _bare(match.group(1)).lower() != alias.lower():
            return match.group(0)
        column = _bare(match.group(2))
        return f"VALUES(`{columns.get(column.lower(), column)}`)"

    tail = re.sub(rf"({_NAME})\s*\.\s*({_NAME})", qualified, tail)
    if columns:
        known = {n.lower() for n in (names or [])}

        def bare(match: re.Match[str]) -> str:
            name = _bare(match.group(1)).lower()
            if name in columns and name not in known:
                return f"VALUES(`{columns[name]}`)"
            return match.group(0)

        tail = re.sub(rf"(?<![\w$.`])({_NAME})(?![\w$`]|\s*\.|\s*\()", bare, tail)
    return shape[: found.start()] + " " + tail


def _depth(shape: str, end: int) -> int:
    depth = 0
    quoted = False
    for char in shape[:end]:
        if char == "`":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
    return depth
