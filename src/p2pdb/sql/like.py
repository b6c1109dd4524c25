"""MySQL's LIKE, as SQLite's ``like()`` function (which SQLite calls for every ``x LIKE y``).

SQLite's own LIKE has no escape character unless the statement names one, and folds ASCII letters
only. MySQL's:

- ``\\`` escapes by default (``'a\\_b'`` matches the three characters ``a_b`` only); ``ESCAPE 'c'``
  names another character (``ESCAPE ''`` keeps the default, as MySQL without NO_BACKSLASH_ESCAPES).
  An escape character followed by any character stands for that character; one at the end of the
  pattern stands for itself.
- ``_`` is one character and ``%`` any run of them; trailing spaces count (no padding, unlike ``=``).
- Text matches case-insensitively, as under the default collation (``utf8mb4_general_ci``), with
  Unicode's simple case folding ('É' matches 'é'). When either side is binary (``LIKE BINARY``,
  a BLOB), it matches byte for byte, exactly.
- NULL on any side gives NULL; a number is matched as its text (``123 LIKE '12%'`` is 1).

SQLite passes the function neither a column's collation nor its MySQL type: the plan hands a column
declared with a case-sensitive collation (``utf8mb4_bin``) or as BINARY/VARBINARY over as its bytes
(``p2pdb_bytes``), so it matches exactly, as in MySQL. ``LIKE BINARY`` is exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import apsw

from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.store.collation import load_extension_module

#: The escape character when the statement names none.
DEFAULT_ESCAPE = "\\"
#: Text patterns with the default escape, compiled (emptied when full).
_TEXT_PATTERNS: dict[str, Callable[[str], bool]] = {}


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _bytes_text(value: Any) -> str:
    """``value``'s bytes, one character per byte: binary matching compares bytes."""
    data = value if isinstance(value, bytes) else _text(value).encode()
    return data.decode("latin-1")


@lru_cache(maxsize=1024)
def compile_like(pattern: str, escape: str, exact: bool) -> Callable[[str], bool]:
    """A test of a text against ``pattern`` (``exact``: case-sensitively).

    The pattern is cut at each ``%`` into pieces of fixed length (characters and ``_``). The first
    piece must match at the start, the last at the end, and each one between at its leftmost place
    after the one before: the answer of the definition, in time linear in the pieces' searches. (One
    regular expression with ``.*`` for each ``%`` backtracks: '%a%a%a%a%b' against a long run of
    'a' would hold the interpreter for minutes.)"""
    pieces: list[list[str]] = [[]]  # regular expressions per character, between the % wildcards
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if escape and char == escape and i + 1 < n:
            pieces[-1].append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "%":
            pieces.append([])
        else:
            pieces[-1].append("." if char == "_" else re.escape(char))
        i += 1
    flags = re.DOTALL if exact else re.DOTALL | re.IGNORECASE
    if len(pieces) == 1:
        whole = re.compile("".join(pieces[0]), flags)
        return lambda text: whole.fullmatch(text) is not None
    first, last = re.compile("".join(pieces[0]), flags), re.compile("".join(pieces[-1]), flags)
    middle = [re.compile("".join(piece), flags) for piece in pieces[1:-1] if piece]
    first_size, last_size = len(pieces[0]), len(pieces[-1])

    def test(text: str) -> bool:
        if len(text) < first_size + last_size or first.match(text) is None:
            return False
        position = first_size
        for piece in middle:
            found = piece.search(text, position)
            if found is None:
                return False
            position = found.end()
        tail = len(text) - last_size
        return tail >= position and last.fullmatch(text, tail) is not None

    return test


def mysql_like(pattern: Any, value: Any, escape: Any = DEFAULT_ESCAPE) -> int | None:
    """``value LIKE pattern [ESCAPE escape]`` as MySQL answers it (1, 0 or NULL)."""
    if type(value) is str and type(pattern) is str and escape == DEFAULT_ESCAPE:  # the usual case
        test = _TEXT_PATTERNS.get(pattern)
        if test is None:
            if len(_TEXT_PATTERNS) >= 1024:
                _TEXT_PATTERNS.clear()
            test = _TEXT_PATTERNS[pattern] = compile_like(pattern, DEFAULT_ESCAPE, False)
        return 1 if test(value) else 0
    if pattern is None or value is None or escape is None:
        return None
    exact = isinstance(pattern, bytes) or isinstance(value, bytes)
    if exact:
        text, shape = _bytes_text(value), _bytes_text(pattern)
    else:
        text, shape = _text(value), _text(pattern)
    mark = escape.decode("latin-1") if isinstance(escape, bytes) else _text(escape)
    if len(mark) > 1:
        raise MySQLError(ErrorCode.WRONG_ARGUMENTS, "Incorrect arguments to ESCAPE")
    if not mark:  # ESCAPE '': the default one (MySQL, unless NO_BACKSLASH_ESCAPES)
        mark = DEFAULT_ESCAPE
    return 1 if compile_like(shape, mark, exact)(text) else 0


def as_bytes(value: Any) -> Any:
    """A text value as its UTF-8 bytes, so LIKE matches it exactly (a column that compares byte
    for byte: ``p2pdb.sql.exact``); other values as they are."""
    return value.encode() if isinstance(value, str) else value


#: The two-argument LIKE in C (``_like.c``): ASCII text matched there, the rest by :func:`mysql_like`.
_native: Any = load_extension_module(
    "p2pdb.sql._like",
    "sqlite3_p2pdblike_init",
    lambda m: m.install(mysql_like),
    version=1,  # RULES_VERSION
)


def native() -> bool:
    """Whether ``x LIKE y`` (without ESCAPE) runs in C for ASCII text."""
    return _native is not None


def register(conn: apsw.Connection, *, python: bool = False) -> None:
    """Replace SQLite's LIKE on ``conn`` (both forms: with and without ESCAPE); the form without
    ESCAPE in C where it is built (unless ``python``)."""
    conn.create_scalar_function("p2pdb_bytes", as_bytes, 1, deterministic=True)  # type: ignore[arg-type]
    if _native is not None and not python:
        _native.register(conn.sqlite3pointer())
    else:
        conn.create_scalar_function("like", mysql_like, 2, deterministic=True)  # type: ignore[arg-type]
    conn.create_scalar_function("like", mysql_like, 3, deterministic=True)  # type: ignore[arg-type]
