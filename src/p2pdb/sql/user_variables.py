"""User variables assigned inside a statement: ``SELECT @n := @n + 1 AS row_number, name FROM t``.

The lexer binds every ``@v`` a statement reads as a parameter, once, when the statement starts. A
statement that also assigns ``@v`` with ``:=`` must read it row by row instead, as MySQL does (the
row-numbering idiom of applications written before window functions). :func:`rewrite` turns, in such
a statement, each ``@v := expr`` into ``p2pdb_set_var('v', expr)`` and each read of an assigned ``@v``
into ``p2pdb_get_var('v')``; the names are bound as parameters, so one cached plan serves every
statement of the same shape. The functions read and write the session's variables through the
statement running on their connection (:class:`p2pdb.sql.guard.Running`, ``variables``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import apsw

from p2pdb.sql import guard
from p2pdb.sql.lexer import Lexed

_ASSIGNED = re.compile(r":(u\d+)\s*:=")
_VARIABLE = re.compile(r":(u\d+)\b(\s*:=)?")
#: Where an assigned expression ends, at its own nesting depth (``:=`` binds loosest of all).
_END = re.compile(
    r"`(?:[^`]|``)*`|[(),;]|\b(?:AS|FROM|WHERE|GROUP|ORDER|HAVING|LIMIT|INTO|UNION|WINDOW|FOR|LOCK|WHEN"
    r"|THEN|ELSE|END)\b",
    re.IGNORECASE,
)


def rewrite(lexed: Lexed) -> Lexed | None:
    """The statement with its assigned user variables read and written row by row, or None when it
    assigns none."""
    if ":=" not in lexed.shape:
        return None
    assigned = {lexed.uservars[m.group(1)].lower() for m in _ASSIGNED.finditer(lexed.shape)}
    if not assigned:
        return None
    params, raw = list(lexed.params), list(lexed.raw)

    def name(slot: str) -> str:
        params.append(lexed.uservars[slot].lower())
        raw.append("'" + params[-1].replace("'", "''") + "'")
        return f":p{len(params)}"

    def transform(text: str) -> str:
        out: list[str] = []
        pos = 0
        while (match := _VARIABLE.search(text, pos)) is not None:
            out.append(text[pos : match.start()])
            slot = match.group(1)
            if match.group(2) is None:  # a read
                variable = lexed.uservars[slot].lower()
                out.append(f"p2pdb_get_var({name(slot)})" if variable in assigned else match.group())
                pos = match.end()
                continue
            end = _expression_end(text, match.end())
            out.append(f"p2pdb_set_var({name(slot)}, {transform(text[match.end() : end]).strip()})")
            pos = end
        out.append(text[pos:])
        return "".join(out)

    shape = transform(lexed.shape)
    return Lexed(shape, params, raw, lexed.placeholders, lexed.sysvars, lexed.uservars)


def _expression_end(text: str, start: int) -> int:
    depth = 0
    for match in _END.finditer(text, start):
        token = match.group()
        if token.startswith("`"):
            continue
        if token == "(":
            depth += 1
        elif token == ")":
            if depth == 0:
                return match.start()
            depth -= 1
        elif depth == 0:
            return match.start()
    return len(text)


def register(conn: apsw.Connection) -> None:
    """``p2pdb_get_var``, ``p2pdb_set_var`` and MySQL's ``LAST_INSERT_ID(expr)`` on ``conn`` (not
    deterministic: a value per row)."""
    g = guard.guard_of(conn)
    conn.create_scalar_function("p2pdb_get_var", _getter(g), 1, deterministic=False)  # type: ignore[arg-type]
    conn.create_scalar_function("p2pdb_set_var", _setter(g), 2, deterministic=False)  # type: ignore[arg-type]
    conn.create_scalar_function("last_insert_id", _insert_id(g), 1, deterministic=False)  # type: ignore[arg-type]


def _insert_id(g: guard.ConnGuard) -> Callable[[Any], Any]:
    """``LAST_INSERT_ID(expr)``: ``expr``, which the session's next ``LAST_INSERT_ID()`` and this
    statement's OK packet report (``UPDATE seq SET id = LAST_INSERT_ID(id + 1)``)."""

    def remember(value: Any) -> Any:
        running = g.current
        if running is not None and value is not None:
            try:
                running.insert_id = int(value)
            except (TypeError, ValueError):
                running.insert_id = 0
        return value

    return remember


def _variables(g: guard.ConnGuard) -> dict[str, Any]:
    running = g.current
    variables = running.variables if running is not None else None
    return variables if variables is not None else {}


def _getter(g: guard.ConnGuard) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        return _variables(g).get(name)

    return get


def _setter(g: guard.ConnGuard) -> Callable[[str, Any], Any]:
    def assign(name: str, value: Any) -> Any:
        _variables(g)[name] = value
        return value

    return assign
