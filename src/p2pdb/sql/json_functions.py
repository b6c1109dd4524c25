"""MySQL's JSON functions as SQLite functions (replacing SQLite's json1 functions of the same names).

Results print as MySQL prints JSON (:func:`p2pdb.sql.json_path.dump`: ``{"k": 1}``, ``[1, "x"]``).
``JSON_EXTRACT`` and ``->`` return JSON text (``'"s"'`` for a string); ``->>`` and ``JSON_UNQUOTE``
unquote it (numbers stay numbers, so ``doc->>'$.n' > 3`` compares as MySQL does).

SQLite's functions tell JSON arguments from strings by a value subtype Python functions cannot set.
Instead, the plan renames a JSON-producing call written directly as an argument of another JSON function
(``JSON_OBJECT('a', JSON_ARRAY(1, 2))``) to its ``p2pdb_jn_`` twin (:func:`mark_nested`), which returns
the JSON text as a BLOB behind :data:`MARK`; every function here reads such a value as JSON, not as a
string. A JSON *column* passed as a value is a string to these functions (MySQL embeds the document).
``JSON_EXTRACT`` compared with ``=``/``<``/... or sorted by (``ORDER BY``) is renamed to
``p2pdb_json_scalar``, which returns SQL values as SQLite's ``json_extract`` does, so comparisons with
numbers and strings keep MySQL's outcome.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import apsw

from p2pdb.sql import json_path
from p2pdb.sql.json_path import dump, find, loads, parse_path
from p2pdb.sql.like import compile_like
from p2pdb.sql.protocol.errors import MySQLError

MARK = b"\x00p2pdb-json\x00"
_MISSING = object()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def doc(value: Any, position: int, function: str) -> Any:
    """A JSON document argument: JSON text (or a marked JSON value); numbers are error 3146."""
    if isinstance(value, bytes) and value.startswith(MARK):
        return loads(value[len(MARK) :].decode(), position, function)
    if isinstance(value, (int, float)):
        raise MySQLError(
            json_path.INVALID_JSON_DATA_TYPE,
            f"Invalid data type for JSON data in argument {position} to function {function};"
            " a JSON string or JSON type is required.",
            "22032",
        )
    return loads(_text(value), position, function)


def value(arg: Any) -> Any:
    """A value argument (JSON_OBJECT, JSON_SET...): SQL values become JSON scalars, marked JSON stays."""
    if isinstance(arg, bytes):
        if arg.startswith(MARK):
            return loads(arg[len(MARK) :].decode(), 1, "json")
        return arg.decode("utf-8", "replace")
    return arg


def _legs(path: Any, *, wildcards: bool = True) -> list[json_path.Leg]:
    legs = parse_path(path)
    if not wildcards and json_path.has_wildcard(legs):
        raise MySQLError(
            json_path.INVALID_JSON_PATH_WILDCARD,
            "In this situation, path expressions may not contain the * and ** tokens or an array range.",
            "42000",
        )
    return legs


def json_extract(document: Any, *paths: Any) -> str | None:
    if document is None or not paths or any(p is None for p in paths):
        return None
    data = doc(document, 1, "json_extract")
    found: list[Any] = []
    wrap = len(paths) > 1
    for path in paths:
        legs = _legs(path)
        wrap = wrap or json_path.has_wildcard(legs)
        found.extend(v for _, v in find(data, legs))
    if not found:
        return None
    return dump(found if wrap else found[0])


def json_scalar(document: Any, *paths: Any) -> Any:
    """JSON_EXTRACT as an operand of a comparison: a scalar as an SQL value, containers as JSON text."""
    text = json_extract(document, *paths)
    return None if text is None else _sql_value(loads(text, 1, "json_extract"))


def _sql_value(data: Any) -> Any:
    if data is True or data is False:
        return int(data)
    if data is None or isinstance(data, (int, float, str)):
        return data
    return dump(data)


def json_unquote(arg: Any) -> Any:
    if arg is None:
        return None
    text = arg[len(MARK) :].decode() if isinstance(arg, bytes) and arg.startswith(MARK) else _text(arg)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        data = loads(text, 1, "json_unquote")
        return data if isinstance(data, str) else text
    return text


def arrow_unquote(document: Any, path: Any) -> Any:
    """``doc ->> path``: a string unquoted, numbers as numbers, ``true``/``false``/``null`` as text."""
    text = json_extract(document, path)
    if text is None:
        return None
    data = loads(text, 1, "json_extract")
    if isinstance(data, bool) or data is None:
        return text
    return data if isinstance(data, (int, float, str)) else text


def json_length(document: Any, path: Any = None) -> int | None:
    if document is None:
        return None
    data = doc(document, 1, "json_length")
    if path is not None:
        found = find(data, _legs(path, wildcards=False))
        if not found:
            return None
        data = found[0][1]
    return len(data) if isinstance(data, (list, dict)) else 1


def _type_name(data: Any) -> str:
    if data is None:
        return "NULL"
    if isinstance(data, bool):
        return "BOOLEAN"
    if isinstance(data, int):
        return "INTEGER" if -(2**63) <= data < 2**63 else "UNSIGNED INTEGER"
    if isinstance(data, float):
        return "DOUBLE"
    if isinstance(data, str):
        return "STRING"
    return "ARRAY" if isinstance(data, list) else "OBJECT"


def json_type(document: Any) -> str | None:
    return None if document is None else _type_name(doc(document, 1, "json_type"))


def json_valid(arg: Any) -> int | None:
    if arg is None:
        return None
    if isinstance(arg, (int, float)):
        return 0
    try:
        doc(arg, 1, "json_valid")
    except MySQLError:
        return 0
    return 1


def _contains(target: Any, candidate: Any) -> bool:
    if isinstance(target, list):
        if isinstance(candidate, list):
            return all(any(_contains(t, c) for t in target) for c in candidate)
        return any(_contains(t, candidate) for t in target)
    if isinstance(target, dict):
        return isinstance(candidate, dict) and all(
            k in target and _contains(target[k], v) for k, v in candidate.items()
        )
    if isinstance(candidate, (list, dict)):
        return False
    return _scalar_equal(target, candidate)


def _scalar_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def json_contains(target: Any, candidate: Any, path: Any = _MISSING) -> int | None:
    if target is None or candidate is None or path is None:
        return None
    data = doc(target, 1, "json_contains")
    wanted = doc(candidate, 2, "json_contains")
    if path is not _MISSING:
        found = find(data, _legs(path, wildcards=False))
        if not found:
            return None
        data = found[0][1]
    return int(_contains(data, wanted))


def json_overlaps(first: Any, second: Any) -> int | None:
    """JSON_OVERLAPS(a, b): 1 when two arrays share an element, two objects a key with equal values,
    or an array holds the scalar (or two scalars are equal); as MySQL 8.0.17."""
    if first is None or second is None:
        return None
    a, b = doc(first, 1, "json_overlaps"), doc(second, 2, "json_overlaps")
    if isinstance(a, dict) and isinstance(b, dict):
        return int(any(k in b and _equal(v, b[k]) for k, v in a.items()))
    left = a if isinstance(a, list) else [a]  # else an element (a scalar or an object) in common
    right = b if isinstance(b, list) else [b]
    return int(any(_equal(x, y) for x in left for y in right))


def json_contains_path(document: Any, one_or_all: Any, *paths: Any) -> int | None:
    if document is None or one_or_all is None or any(p is None for p in paths):
        return None
    data = doc(document, 1, "json_contains_path")
    mode = _one_or_all(one_or_all, "json_contains_path")
    hits = [bool(find(data, _legs(p))) for p in paths]
    return int(any(hits) if mode == "one" else all(hits))


def _one_or_all(arg: Any, function: str) -> str:
    mode = _text(arg).lower()
    if mode not in ("one", "all"):
        raise MySQLError(
            3154, "The oneOrAll argument to " + function + " may take these values: 'one' or 'all'."
        )
    return mode


def json_keys(document: Any, path: Any = _MISSING) -> str | None:
    if document is None or path is None:
        return None
    data = doc(document, 1, "json_keys")
    if path is not _MISSING:
        found = find(data, _legs(path, wildcards=False))
        data = found[0][1] if found else None
    if not isinstance(data, dict):
        return None
    return dump(list(json_path.normalise(data)))


def json_depth(document: Any) -> int | None:
    return None if document is None else _depth(doc(document, 1, "json_depth"))


def _depth(data: Any) -> int:
    if isinstance(data, list) and data:
        return 1 + max(_depth(v) for v in data)
    if isinstance(data, dict) and data:
        return 1 + max(_depth(v) for v in data.values())
    return 1


def json_pretty(document: Any) -> str | None:
    return None if document is None else json_path.pretty(doc(document, 1, "json_pretty"))


def json_quote(arg: Any) -> str | None:
    return None if arg is None else dump(_text(arg))


def json_object(*args: Any) -> str:
    if len(args) % 2:
        raise MySQLError(
            1582, "Incorrect parameter count in the call to native function 'json_object'", "42000"
        )
    out: dict[str, Any] = {}
    for key, item in zip(args[::2], args[1::2], strict=True):
        if key is None:
            raise MySQLError(3158, "JSON documents may not contain NULL member names.", "22032")
        out[_text(key)] = value(item)  # the last of duplicate keys wins (MySQL 8)
    return dump(out)


def json_array(*args: Any) -> str:
    return dump([value(a) for a in args])


def _modify(mode: str, function: str) -> Callable[..., str | None]:
    """JSON_SET / JSON_INSERT / JSON_REPLACE / JSON_ARRAY_APPEND."""

    def modify(document: Any, *pairs: Any) -> str | None:
        if len(pairs) % 2 or not pairs:
            raise MySQLError(
                1582, f"Incorrect parameter count in the call to native function '{function}'", "42000"
            )
        if document is None:
            return None
        data = doc(document, 1, function)
        for path, item in zip(pairs[::2], pairs[1::2], strict=True):
            if path is None:
                return None
            data = _apply(data, _legs(path, wildcards=False), value(item), mode)
        return dump(data)

    return modify


def _apply(data: Any, legs: list[json_path.Leg], item: Any, mode: str) -> Any:
    """``data`` with the value at ``legs`` set (per ``mode``); a missing parent leaves it unchanged."""
    if not legs:
        if mode == "append":
            return (data if isinstance(data, list) else [data]) + [item]
        return item if mode in ("set", "replace") else data
    leg, rest = legs[0], legs[1:]
    if leg[0] == "key":
        if not isinstance(data, dict):
            return data
        if leg[1] in data:
            data = dict(data)
            data[leg[1]] = _apply(data[leg[1]], rest, item, mode)
        elif not rest and mode in ("set", "insert"):
            data = dict(data)
            data[leg[1]] = item
        return data
    items = data if isinstance(data, list) else [data]
    index = json_path.cell(items, leg)
    if 0 <= index < len(items):
        if not isinstance(data, list):
            return _apply(data, rest, item, mode)  # $[0] of a scalar is the scalar
        items = list(items)
        items[index] = _apply(items[index], rest, item, mode)
        return items
    if not rest and mode in ("set", "insert") and index >= len(items):
        return [*items, item]
    return data


def json_remove(document: Any, *paths: Any) -> str | None:
    if document is None or any(p is None for p in paths):
        return None
    data = doc(document, 1, "json_remove")
    for path in paths:
        legs = _legs(path, wildcards=False)
        if not legs:
            raise MySQLError(3153, "The path expression '$' is not allowed in this context.", "42000")
        data = _remove(data, legs)
    return dump(data)


def _remove(data: Any, legs: list[json_path.Leg]) -> Any:
    leg, rest = legs[0], legs[1:]
    if leg[0] == "key" and isinstance(data, dict) and leg[1] in data:
        data = dict(data)
        if rest:
            data[leg[1]] = _remove(data[leg[1]], rest)
        else:
            del data[leg[1]]
    elif leg[0] == "index" and isinstance(data, list):
        index = json_path.cell(data, leg)
        if 0 <= index < len(data):
            data = list(data)
            if rest:
                data[index] = _remove(data[index], rest)
            else:
                del data[index]
    return data


def json_merge_patch(*docs: Any) -> str | None:
    result: Any = _MISSING
    for position, arg in enumerate(docs, 1):
        if arg is None:
            result = None  # a NULL patch makes the result NULL unless a later object replaces it
            continue
        patch = doc(arg, position, "json_merge_patch")
        result = patch if result is _MISSING else _patch(result, patch)
    return None if result is None or result is _MISSING else dump(result)


def _patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, item in patch.items():
        if item is None:
            out.pop(key, None)
        else:
            out[key] = _patch(out.get(key), item)
    return out


def json_merge_preserve(*docs: Any) -> str | None:
    if any(d is None for d in docs):
        return None
    result: Any = _MISSING
    for position, arg in enumerate(docs, 1):
        data = doc(arg, position, "json_merge_preserve")
        result = data if result is _MISSING else _preserve(result, data)
    return dump(result)


def _preserve(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, item in b.items():
            out[key] = _preserve(out[key], item) if key in out else item
        return out
    return (a if isinstance(a, list) else [a]) + (b if isinstance(b, list) else [b])


def json_search(document: Any, one_or_all: Any, search: Any, escape: Any = None, *paths: Any) -> str | None:
    if document is None or one_or_all is None or search is None or any(p is None for p in paths):
        return None
    data = doc(document, 1, "json_search")
    mode = _one_or_all(one_or_all, "json_search")
    # JSON strings compare as utf8mb4_bin: exactly; matched piece by piece (p2pdb.sql.like)
    matches = compile_like(_text(search), _text(escape) if escape not in (None, "") else "\\", True)
    hits: list[str] = []
    for legs in [_legs(p) for p in paths] or [[]]:
        for start, item in find(data, legs):
            for where, text in _walk(item, start):
                if isinstance(text, str) and matches(text) and where not in hits:
                    hits.append(where)
    if not hits:
        return None
    return dump(hits[0] if mode == "one" or len(hits) == 1 else hits)


def _walk(data: Any, where: str) -> list[tuple[str, Any]]:
    """Every value of ``data`` with its path, in document order."""
    out = [(where, data)]
    if isinstance(data, dict):
        for key in sorted(data, key=json_path.key_order):
            out.extend(_walk(data[key], where + json_path.key_text(key)))
    elif isinstance(data, list):
        for index, child in enumerate(data):
            out.extend(_walk(child, f"{where}[{index}]"))
    return out


def member_of(item: Any, array: Any) -> int | None:
    """``value MEMBER OF(json_array)``: an element equal to the value (a non-array is one element)."""
    if item is None or array is None:
        return None
    wanted = value(item)
    data = doc(array, 2, "member of")
    return int(any(_equal(element, wanted) for element in (data if isinstance(data, list) else [data])))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return _scalar_equal(a, b)


def json_document(arg: Any) -> bytes | None:
    """A JSON column's text handed to a JSON function as a document, not as a string."""
    if arg is None:
        return None
    if isinstance(arg, bytes) and arg.startswith(MARK):
        return arg
    return MARK + dump(doc(arg, 1, "json")).encode()


class _ArrayAgg:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def step(self, item: Any) -> None:
        self.items.append(value(item))

    def final(self) -> str | None:
        return dump(self.items) if self.items else None


class _ObjectAgg:
    def __init__(self) -> None:
        self.members: dict[str, Any] = {}
        self.seen = False

    def step(self, key: Any, item: Any) -> None:
        if key is None:
            raise MySQLError(3158, "JSON documents may not contain NULL member names.", "22032")
        self.seen = True
        self.members[_text(key)] = value(item)  # the last duplicate wins (MySQL)

    def final(self) -> str | None:
        return dump(self.members) if self.seen else None


def _aggregate(cls: type, *, marked: bool = False) -> Callable[[], tuple[Any, Any, Any]]:
    def factory() -> tuple[Any, Any, Any]:
        state = cls()

        def final(_ctx: Any) -> Any:
            text = state.final()
            return MARK + text.encode() if marked and text is not None else text

        return state, lambda _ctx, *args: state.step(*args), final

    return factory


AGGREGATES: dict[str, type] = {
    "json_arrayagg": _ArrayAgg,
    "json_objectagg": _ObjectAgg,
    "json_group_array": _ArrayAgg,  # sqlglot's SQLite name for JSON_ARRAYAGG
    "json_group_object": _ObjectAgg,
}


#: JSON-valued functions: their ``p2pdb_jn_`` twins return marked JSON (see the module docstring).
JSON_VALUED: dict[str, Callable[..., Any]] = {
    "json_extract": json_extract,
    "json_object": json_object,
    "json_array": json_array,
    "json_set": _modify("set", "json_set"),
    "json_insert": _modify("insert", "json_insert"),
    "json_replace": _modify("replace", "json_replace"),
    "json_array_append": _modify("append", "json_array_append"),
    "json_remove": json_remove,
    "json_merge_patch": json_merge_patch,
    "json_merge_preserve": json_merge_preserve,
    "json_merge": json_merge_preserve,
    "json_keys": json_keys,
}

FUNCTIONS: dict[str, Callable[..., Any]] = {
    **JSON_VALUED,
    "p2pdb_json_scalar": json_scalar,
    "->": json_extract,
    "->>": arrow_unquote,
    "json_unquote": json_unquote,
    "json_length": json_length,
    "json_type": json_type,
    "json_valid": json_valid,
    "json_contains": json_contains,
    "json_contains_path": json_contains_path,
    "json_overlaps": json_overlaps,
    "json_depth": json_depth,
    "json_pretty": json_pretty,
    "json_quote": json_quote,
    "json_search": json_search,
    "p2pdb_member_of": member_of,
    "p2pdb_json_doc": json_document,
}


def _marked(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> bytes | None:
        text = fn(*args)
        return None if text is None else MARK + text.encode()

    return call


def cast_json(arg: Any) -> str | None:
    """``CAST(x AS JSON)``: a string is parsed as a JSON document (error 3141 if it is none), a number
    is a JSON number; printed as MySQL prints JSON."""
    if arg is None:
        return None
    if isinstance(arg, (int, float)):
        return dump(arg)
    return dump(doc(arg, 1, "cast_as_json"))


def register(conn: apsw.Connection) -> None:
    conn.create_scalar_function("p2pdb_cast_json", cast_json, 1, deterministic=True)  # type: ignore[arg-type]
    for name, fn in FUNCTIONS.items():
        conn.create_scalar_function(name, fn, -1, deterministic=True)
    for name, fn in JSON_VALUED.items():
        conn.create_scalar_function("p2pdb_jn_" + name, _marked(fn), -1, deterministic=True)
    for name, cls in AGGREGATES.items():
        conn.create_aggregate_function(name, _aggregate(cls))
        conn.create_aggregate_function("p2pdb_jn_" + name, _aggregate(cls, marked=True))


# -- the plan's renames ---------------------------------------------------------------------------

_CALL = re.compile(
    r"`(?:[^`]|``)*`|\b([A-Za-z_][\w$]*)\s*\(|[()]|(?<![<>!])(?:<=|>=|<>|!=|=|<|>)|\bBY\b", re.I
)
_JSON_ARGS = frozenset({*JSON_VALUED, *FUNCTIONS, *AGGREGATES, "json_table"}) - {
    "p2pdb_json_scalar",
    "p2pdb_json_doc",
    "->",
    "->>",
}
_COMPARED_AFTER = re.compile(r"\s*(?:<=|>=|<>|!=|=|<|>|\bLIKE\b|\bBETWEEN\b|\bIN\b|\bNOT\b)", re.I)


_NAME = r"(?:`(?:[^`]|``)*`|[A-Za-z_][\w$]*)"
_MEMBER_OF = re.compile(rf"((?::[pu]\d+|{_NAME}(?:\s*\.\s*{_NAME})?))\s+MEMBER\s+OF\s*\(", re.I)
_ARGUMENT = re.compile(rf"(?<=[(,])(\s*)((?:{_NAME}\s*\.\s*)?({_NAME}))(?=\s*[,)])")
_ARROW_ARGUMENT = re.compile(rf"(?<=[(,])(\s*)((?:{_NAME}\s*\.\s*)?{_NAME}\s*->\s*:p\d+)(?=\s*[,)])")


def mark_nested(shape: str, json_columns: frozenset[str] = frozenset()) -> str:
    """Rename JSON-valued calls nested directly in JSON functions, and compared JSON_EXTRACTs; wrap
    JSON columns passed to JSON functions (:func:`json_document`); ``x MEMBER OF(...)`` as a call."""
    if "member" in shape.lower():
        shape = _MEMBER_OF.sub(r"p2pdb_member_of(\1, ", shape)
    if "json" not in shape.lower() and "p2pdb_member_of" not in shape:
        return shape
    shape = _wrap_columns(shape, json_columns)
    out: list[str] = []
    stack: list[str | None] = []
    last = 0
    previous = -1  # where the last comparison operator or BY ended
    for match in _CALL.finditer(shape):
        token, name = match.group(0), match.group(1)
        if name is not None:
            lowered = name.lower()
            parent = stack[-1] if stack else None
            new = None
            if (parent in _JSON_ARGS and lowered in JSON_VALUED) or (
                parent in _JSON_ARGS and lowered in AGGREGATES
            ):
                new = "p2pdb_jn_" + lowered
            elif lowered == "json_extract" and (
                (previous >= 0 and not shape[previous : match.start()].strip())
                or _COMPARED_AFTER.match(shape, _closing(shape, match.end()))
            ):
                new = "p2pdb_json_scalar"
            if new is not None:
                out.append(shape[last : match.start(1)] + new)
                last = match.end(1)
            stack.append(lowered)
        elif token == "(":
            stack.append(None)
        elif token == ")" and stack:
            stack.pop()
        elif not token.startswith("`") and token not in "()":
            previous = match.end()
    out.append(shape[last:])
    return "".join(out)


def _closing(shape: str, start: int) -> int:
    """The index after the parenthesis closing the call opened just before ``start``."""
    depth = 1
    i = start
    while i < len(shape) and depth:
        ch = shape[i]
        if ch == "`":
            i = shape.find("`", i + 1) + 1 or len(shape)
            continue
        depth += ch == "("
        depth -= ch == ")"
        i += 1
    return i


def _wrap_columns(shape: str, json_columns: frozenset[str]) -> str:
    """A JSON column or ``col->path`` written as a whole argument of a JSON function becomes
    ``p2pdb_json_doc(...)``: a document, not a string."""

    def wrap(match: re.Match[str]) -> str:
        name = match.group(3).strip("`").replace("``", "`").lower()
        if name not in json_columns or _enclosing_call(shape, match.start()) not in _JSON_ARGS:
            return match.group(0)
        return f"{match.group(1)}p2pdb_json_doc({match.group(2)})"

    def wrap_arrow(match: re.Match[str]) -> str:
        if _enclosing_call(shape, match.start()) not in _JSON_ARGS:
            return match.group(0)
        return f"{match.group(1)}p2pdb_json_doc({match.group(2)})"

    if "->" in shape:
        shape = _ARROW_ARGUMENT.sub(wrap_arrow, shape)
    return _ARGUMENT.sub(wrap, shape)


def _enclosing_call(shape: str, position: int) -> str | None:
    """The lower-case name of the call whose parenthesis (just before ``position``) is still open."""
    depth = 0
    i = position - 1
    while i >= 0:
        ch = shape[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                match = re.search(r"([A-Za-z_][\w$]*)\s*$", shape[:i])
                return match.group(1).lower() if match else None
            depth -= 1
        i -= 1
    return None
