"""MySQL result types of projected built-in function calls, told from the projection's text.

SQLite reports no type for an expression, so a result column gets one from its first value; MySQL
types ``JSON_OBJECT(...)``, ``JSON_EXTRACT(...)``, ``doc->'$.a'`` and the other JSON-valued functions as
JSON (245), and ``PI()`` as a DOUBLE shown with 6 decimals (``3.141593``). The plan lays these over the
exact-number types (:func:`overlay`), once per statement shape.
"""

from __future__ import annotations

import re

from p2pdb.sql import mysqltypes
from p2pdb.sql.json_functions import AGGREGATES, JSON_VALUED

_NAME = r"(?:`(?:[^`]|``)*`|[A-Za-z_][\w$]*)"
_ALIAS = re.compile(rf"\s*(?:(?:AS\s+)?{_NAME})?\s*$", re.IGNORECASE)
_CALL = re.compile(r"\s*([A-Za-z_][\w$]*)\s*\(", re.IGNORECASE)
_ARROW = re.compile(rf"^\s*{_NAME}(?:\s*\.\s*{_NAME})*\s*->\s*:p\d+", re.IGNORECASE)
_JSON_NAMES = frozenset({*JSON_VALUED, *AGGREGATES})
_AS_JSON = re.compile(r"\bAS\s+JSON\s*$", re.IGNORECASE)
_JSON = mysqltypes.type_from_mysql_text("json")
_PI = mysqltypes.type_from_mysql_text("double(8,6)")


def _closing(text: str, start: int) -> int:
    depth, i = 1, start
    while i < len(text) and depth:
        if text[i] == "`":
            i = (text.find("`", i + 1) + 1) or len(text)
            continue
        depth += text[i] == "("
        depth -= text[i] == ")"
        i += 1
    return i


def projection_type(text: str) -> mysqltypes.TypeInfo | None:
    """The MySQL type of one projection (with its alias), when it is a call this module types."""
    arrow = _ARROW.match(text)
    if arrow is not None:
        return _JSON if _ALIAS.fullmatch(text, arrow.end()) else None
    call = _CALL.match(text)
    if call is None:
        return None
    end = _closing(text, call.end())
    if not _ALIAS.fullmatch(text, end):
        return None  # the call is only part of the expression
    name = call.group(1).lower()
    if name in _JSON_NAMES or (name == "cast" and _AS_JSON.search(text[call.end() : end - 1])):
        return _JSON
    if name == "pi" and not text[call.end() : end - 1].strip():
        return _PI
    return None


def overlay(
    types: list[mysqltypes.TypeInfo | None] | None, texts: list[str] | None
) -> list[mysqltypes.TypeInfo | None] | None:
    """``types`` (the exact-number ones, or None) with the types of JSON and PI() projections added."""
    if not texts:
        return types
    found = [projection_type(t) for t in texts]
    if not any(found):
        return types
    base = list(types) if types is not None else [None] * len(texts)
    base += [None] * (len(texts) - len(base))
    return [b if b is not None else f for b, f in zip(base, found, strict=False)]
