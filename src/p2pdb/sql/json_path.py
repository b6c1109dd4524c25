"""MySQL JSON values and path expressions, in Python.

A JSON value is a Python value (``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``dict``).
:func:`dump` prints it as MySQL does: ``", "`` and ``": "`` separators and object keys sorted by length,
then bytes (MySQL normalises objects that way). :func:`parse_path` reads a MySQL path (``$``, ``.key``,
``."quoted key"``, ``[n]``, ``[last]``, ``[last-n]``, ``[*]``, ``.*``, ``**``) into legs that
:func:`find` evaluates.
"""

from __future__ import annotations

import json
import re
from typing import Any

from p2pdb.sql.protocol.errors import MySQLError

INVALID_JSON_TEXT = 3141
INVALID_JSON_PATH = 3143
INVALID_JSON_DATA_TYPE = 3146
INVALID_JSON_PATH_WILDCARD = 3149
INVALID_JSON_PATH_ARRAY_CELL = 3150

#: One leg of a path: ("key", name), ("index", n, from_last), ("keys",), ("cells",) or ("any",).
Leg = tuple[Any, ...]


def key_order(key: str) -> tuple[int, bytes]:
    data = key.encode()
    return len(data), data


def normalise(value: Any) -> Any:
    """The value with every object's keys in MySQL's order."""
    if isinstance(value, dict):
        return {k: normalise(value[k]) for k in sorted(value, key=key_order)}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def dump(value: Any) -> str:
    """MySQL's text of a JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    keys = sorted(value, key=key_order)
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {dump(value[k])}" for k in keys) + "}"


def pretty(value: Any, indent: int = 0) -> str:
    """JSON_PRETTY: two spaces a level, one member or element a line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + pretty(v, indent + 1) for v in value) + "\n" + pad + "]"
    if isinstance(value, dict) and value:
        keys = sorted(value, key=key_order)
        items = (f"{inner}{json.dumps(k, ensure_ascii=False)}: {pretty(value[k], indent + 1)}" for k in keys)
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return dump(value)


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def loads(text: str, position: int, function: str) -> Any:
    """Parse JSON text (argument ``position`` of ``function``), or MySQL's error 3141."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        at = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        raise MySQLError(
            INVALID_JSON_TEXT,
            f'Invalid JSON text in argument {position} to function {function}: "Invalid value." at position {at}.',
            "22032",
        ) from None


_SIMPLE_KEY = re.compile(r"[A-Za-z_$][\w$]*")
_INDEX = re.compile(r"\[\s*(?:(\*)|(last)(?:\s*-\s*(\d+))?|(\d+))\s*\]")


def _bad_path(text: str, at: int) -> MySQLError:
    return MySQLError(
        INVALID_JSON_PATH,
        f"Invalid JSON path expression. The error is around character position {at}.",
        "42000",
    )


def parse_path(text: Any) -> list[Leg]:
    """The legs of a MySQL JSON path, or error 3143."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    path = str(text).strip()
    if not path.startswith("$"):
        raise _bad_path(path, 0)
    legs: list[Leg] = []
    i = 1
    while i < len(path):
        ch = path[i]
        if ch.isspace():
            i += 1
        elif path.startswith("**", i):
            legs.append(("any",))
            i += 2
        elif ch == ".":
            i += 1
            while i < len(path) and path[i].isspace():
                i += 1
            if path.startswith("*", i):
                legs.append(("keys",))
                i += 1
            elif path.startswith('"', i):
                try:
                    key, end = json.JSONDecoder().raw_decode(path, i)
                except ValueError:
                    raise _bad_path(path, i) from None
                legs.append(("key", key))
                i = end
            else:
                match = _SIMPLE_KEY.match(path, i)
                if match is None:
                    raise _bad_path(path, i)
                legs.append(("key", match.group(0)))
                i = match.end()
        elif ch == "[":
            match = _INDEX.match(path, i)
            if match is None:
                raise _bad_path(path, i)
            if match.group(1):
                legs.append(("cells",))
            elif match.group(2):
                legs.append(("index", int(match.group(3) or 0), True))
            else:
                legs.append(("index", int(match.group(4)), False))
            i = match.end()
        else:
            raise _bad_path(path, i)
    if legs and legs[-1] == ("any",):
        raise _bad_path(path, len(path))
    return legs


def has_wildcard(legs: list[Leg]) -> bool:
    return any(leg[0] in ("keys", "cells", "any") for leg in legs)


def cell(items: list[Any], leg: Leg) -> int:
    """The array position a ``("index", n, from_last)`` leg names (may be out of range)."""
    return len(items) - 1 - leg[1] if leg[2] else int(leg[1])


def find(value: Any, legs: list[Leg], where: str = "$") -> list[tuple[str, Any]]:
    """Every (path, value) the legs reach from ``value``, in document order."""
    if not legs:
        return [(where, value)]
    leg, rest = legs[0], legs[1:]
    kind = leg[0]
    out: list[tuple[str, Any]] = []
    if kind == "key":
        if isinstance(value, dict) and leg[1] in value:
            out.extend(find(value[leg[1]], rest, where + key_text(leg[1])))
    elif kind == "index":
        items = value if isinstance(value, list) else [value]  # a scalar is an array of one (MySQL)
        index = cell(items, leg)
        if 0 <= index < len(items):
            out.extend(find(items[index], rest, f"{where}[{index}]" if isinstance(value, list) else where))
    elif kind == "keys":
        if isinstance(value, dict):
            for key in sorted(value, key=key_order):
                out.extend(find(value[key], rest, where + key_text(key)))
    elif kind == "cells":
        if isinstance(value, list):
            for index, item in enumerate(value):
                out.extend(find(item, rest, f"{where}[{index}]"))
    else:  # "**": this value and every descendant
        out.extend(find(value, rest, where))
        children: list[tuple[str, Any]] = []
        if isinstance(value, dict):
            children = [(where + key_text(k), value[k]) for k in sorted(value, key=key_order)]
        elif isinstance(value, list):
            children = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        for child_path, child in children:
            out.extend(find(child, legs, child_path))
    return out


def key_text(key: str) -> str:
    return "." + key if _SIMPLE_KEY.fullmatch(key) else "." + json.dumps(key, ensure_ascii=False)
