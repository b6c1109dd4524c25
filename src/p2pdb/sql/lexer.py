"""A small MySQL lexer that takes the literals out of a statement.

Every string, number, hex and bit literal, and every ``?`` placeholder of a prepared statement,
becomes a named SQLite parameter ``:pN`` (N counts from 1 in textual order); ``@@system`` and
``@user`` variables become ``:gN`` / ``:uN``. What remains is the statement's *shape*: two queries
that differ only in their literals have the same shape, so their translation is cached once
(DESIGN §6: keep sqlglot off the hot path). Values are always bound, never pasted into SQL text.

MySQL rules applied: strings in single or double quotes (``ANSI_QUOTES`` off), backslash escapes
and doubled quotes inside them, ``#`` and ``-- `` comments, ``/* */`` comments (``/*! ... */``
version comments are kept as plain text, as MySQL runs them), ``X'..'``/``0x..`` hex, ``b'..'``,
character set introducers (``_binary``, ``_utf8mb4``, ... before a literal; ``_binary`` makes it bytes).

The common case runs in C where the install built ``_lex.c`` (about 1.6 us for sysbench's INSERT
against 11 us here, 1.8 against 24 us for an ORM's SELECT with ORDER BY and LIMIT): it answers exactly as :func:`lex_python`, or declines and this module lexes the
statement (tests/sql/test_lexer_native.py compares the two on generated statements).
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from p2pdb.store.collation import native_module

# The leading lookahead lets the engine skip, at C speed, every position where no token can start.
_TOKEN = re.compile(
    r"""
    (?=[`#\-/*'"xXbB0-9.?@])(?:
    (?P<bq>`(?:[^`]|``)*`)
  | (?P<cmt>\#[^\n]*|--(?:[ \t][^\n]*)?(?=\n|$)|/\*(?!!)(?:.|\n)*?\*/)
  | (?P<vcmt>/\*!\d*|\*/)
  | (?P<sq>'[^'\\]*(?:(?:\\.|'')[^'\\]*)*')
  | (?P<dq>"[^"\\]*(?:(?:\\.|"")[^"\\]*)*")
  | (?P<hex>[xX]'[0-9a-fA-F]*'|(?<![\w$])0x[0-9a-fA-F]+(?![\w$]))
  | (?P<bit>[bB]'[01]*'|(?<![\w$])0b[01]+(?![\w$]))
  | (?P<num>(?<![\w$.])(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w$]))
  | (?P<q>\?)
  | (?P<sysvar>@@(?:(?:global|session|local)\.)?[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)
  | (?P<uservar>@(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.)*'|[A-Za-z_$.][\w$.]*))
    )""",
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {
    "0": "\0",
    "'": "'",
    '"': '"',
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "Z": "\x1a",
    "\\": "\\",
}
# A backslash escape, or the string's own quote doubled (the other quote doubled is two characters).
_ESCAPES_IN = {
    "'": re.compile(r"\\(.)|''", re.DOTALL),
    '"': re.compile(r'\\(.)|""', re.DOTALL),
}


def _unescape(body: str, quote: str) -> str:
    def repl(match: re.Match[str]) -> str:
        char = match.group(1)
        if char is None:
            return quote
        # MySQL keeps the backslash of \% and \_ (they matter to LIKE); other unknown escapes drop it.
        if char in "%_":
            return "\\" + char
        return _ESCAPES.get(char, char)

    return _ESCAPES_IN[quote].sub(repl, body) if ("\\" in body or quote * 2 in body) else body


def _number(text: str) -> int | float | str:
    if "." in text or "e" in text or "E" in text:
        return float(text)  # a decimal literal computed exactly is bound as its text (p2pdb.sql.exact)
    value = int(text)
    if value < 2**63:
        return value
    return text if value < 2**64 else float(value)  # BIGINT UNSIGNED: exact as text (SQLite has int64)


@dataclass(slots=True)
class Lexed:
    """A statement with its literals taken out.

    ``shape``: the text with ``:pN``/``:gN``/``:uN`` parameters; ``params``: literal values (None
    where a ``?`` placeholder takes a client value, in ``placeholders`` order); ``raw``: each
    literal's original text (for column names); ``sysvars``/``uservars``: names by parameter.
    """

    shape: str
    params: list[Any] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    placeholders: list[int] = field(default_factory=list)
    sysvars: dict[str, str] = field(default_factory=dict)
    uservars: dict[str, str] = field(default_factory=dict)

    def taking(self, shape: str, order: Sequence[int], placeholders: Container[int] | None = None) -> Lexed:
        """Statement ``shape``, whose parameters are this statement's at ``order``, in that order
        (``placeholders``: ``set(self.placeholders)``, for a caller that takes many)."""
        if placeholders is None:
            placeholders = set(self.placeholders)
        return Lexed(
            shape,
            [self.params[i] for i in order],
            [self.raw[i] for i in order],
            [n for n, i in enumerate(order) if i in placeholders] if self.placeholders else [],
            self.sysvars,
            self.uservars,
        )

    @property
    def kind(self) -> str:
        """The statement's first keyword, upper-case ('' if none)."""
        match = _FIRST_WORD.match(self.shape)
        return match.group(1).upper() if match else ""


#: A qualifier before a name (``shop.`` of ``shop.t``, backquoted or not); group 1 or 2 holds it.
QUALIFIER = re.compile(r"(?<![\w$.`])(?:`((?:[^`]|``)+)`|([A-Za-z_$][\w$]*))\s*\.\s*(?=[`A-Za-z_$*])")
_FIRST_WORD = re.compile(r"\s*\(*\s*([A-Za-z]+)")
# A character set introducer before a literal (``_binary X'00ff'``, as PyMySQL sends bytes).
_NATIONAL = re.compile(r"(?<![\w$])[Nn]$")
_INTRODUCER = re.compile(r"(?<![\w$])_(binary|utf8mb4|utf8mb3|utf8|latin1|ascii)\s*$", re.IGNORECASE)


def _follows_string(out: list[str], lexed: Lexed) -> bool:
    """The literal being read comes right after a string literal, only blanks between."""
    return (
        len(out) >= 2
        and not out[-1].strip()
        and bool(lexed.raw)
        and lexed.raw[-1][:1] in ("'", '"')
        and out[-2] == f":p{len(lexed.params)}"
    )


def _text_or_bytes(value: str) -> str | bytes:
    """A string literal whose bytes were not UTF-8 (``surrogateescape`` kept them as lone surrogates,
    e.g. a BLOB inlined by mysql-connector's text protocol) is a binary string: its bytes."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    return value


# An integer that is a whole ORDER BY / GROUP BY item is a column position, not a value: it stays in
# the shape (a bound parameter there would be a constant and sort or group nothing).
_BY_CLAUSE = re.compile(r"\b(?:ORDER|GROUP)\s+BY\b", re.IGNORECASE)
_BY_END = re.compile(r"\b(?:ORDER|GROUP)\s+BY\s*$", re.IGNORECASE)
_ITEM_END = re.compile(
    r"\s*(?:$|[,);]|(?:ASC|DESC|LIMIT|HAVING|WITH|WINDOW|FOR|LOCK|UNION|INTO|ORDER|COLLATE)\b)", re.IGNORECASE
)
# The last character that is neither a word character nor a blank (group 0 ends after it).
_LAST_BREAK = re.compile(r".*[^\w\s]", re.DOTALL)
_CONTEXT = re.compile(
    r"`(?:[^`]|``)*`|[()]|\b(?:(?:ORDER|GROUP|PARTITION)\s+BY|SELECT|VALUES?|SET|WHERE|HAVING|LIMIT|FROM|ON"
    r"|IN|USING|INTO)\b",
    re.IGNORECASE,
)


# An integer inside a type's parentheses (``CAST(x AS DECIMAL(10,2))``) is part of the type: the
# text before it ends with one of these words, ``(`` and optionally an integer and a comma (spaces
# allowed between). Checked from the end of the text, not by a regular expression searched over it:
# an unanchored search costs microseconds per number of a long INSERT.
_TYPE_WORDS = frozenset(
    ("DECIMAL", "DEC", "NUMERIC", "FIXED", "CHAR", "NCHAR", "VARCHAR", "BINARY", "VARBINARY", "DATETIME",
     "TIME", "TIMESTAMP", "FLOAT", "DOUBLE")
)  # fmt: skip


def _in_type_arguments(before: str) -> bool:
    """Whether an integer right after ``before`` is an argument of a type (``DECIMAL(10,``)."""
    text = before.rstrip()
    if text.endswith(","):
        text = text[:-1].rstrip()
        end = len(text)
        while end and text[end - 1].isdecimal():  # what \d matches
            end -= 1
        if end == len(text):
            return False
        text = text[:end].rstrip()
    if not text.endswith("("):
        return False
    text = text[:-1].rstrip()
    start = len(text)
    while start and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    word = text[start:]
    return word.upper() in _TYPE_WORDS  # as IGNORECASE does, the long s (U+017F) is "S"


#: The unread shape a position check reads before it needs to (when it holds more: each check
#: reads the unread shape again, so it is kept short).
_READ_AT = 512


class _Positions:
    """Which integers of one statement are whole ORDER BY / GROUP BY items (column positions).

    Reads the shape once, forward, as the lexer builds it: an integer after a comma needs the
    clause that owns its comma-separated list, and walking back over the whole shape for each one
    made an ``IN`` list of a statement with ``ORDER BY`` quadratic (4,000 integers: 5 s). The shape
    read so far is kept as a stack of open parentheses, each holding the last clause word read
    inside it (the outermost level: in the statement), so the owner of a list is the top of the
    stack. The shape before an integer never ends inside a word (a number needs a character that
    is not a word character before it, and the lexer's own replacements end in digits), so every
    clause word read is whole. Clause words are read only when an integer follows a comma, or when
    the unread shape grows past ``_READ_AT`` characters. An unterminated backquote (a syntax error)
    pairs with the next backquote only if both are read together; elsewhere it is skipped."""

    __slots__ = ("joined", "levels", "start", "tail")

    def __init__(self) -> None:
        self.joined = 0  # parts of the shape already in ``tail`` or read
        self.tail = ""  # the shape from the character before the unread part (its word boundary)
        self.start = 0  # where the unread part begins in ``tail`` (0 at the statement's start)
        self.levels: list[str | None] = [None]  # per open parenthesis: its last clause word

    def check(self, out: list[str], sql: str, end: int) -> bool:
        """Whether the integer that ends at ``end`` of ``sql``, after the shape ``out``, is a position."""
        if not _ITEM_END.match(sql, end):
            return False
        tail = self.tail + "".join(out[self.joined :])
        self.joined = len(out)
        # ``ORDER BY`` right before the integer lies after the last character that is neither a
        # word character nor a blank, and so does a comma's trailing blank space.
        last = _LAST_BREAK.match(tail, self.start)
        run = last.end() if last is not None else self.start
        by_end = _BY_END.search(tail, run) is not None
        after_comma = run > 0 and tail[run - 1] == "," and (run == len(tail) or tail[run:].isspace())
        if not after_comma and len(tail) < _READ_AT:
            self.tail = tail  # read later: most statements never need their clauses read
            return by_end
        levels = self.levels
        for match in _CONTEXT.finditer(tail, self.start):
            token = match.group()
            if token == "(":
                levels.append("(")
            elif token == ")":
                if len(levels) > 1:
                    levels.pop()
                else:
                    levels[0] = ")"  # unmatched: nothing before it owns what follows
            elif token[0] != "`":
                levels[-1] = token
        self.tail, self.start = tail[-1:], min(1, len(tail))
        if by_end or not after_comma:
            return by_end
        owner = levels[-1]
        return owner is not None and owner[:5].upper() in ("ORDER", "GROUP")


#: The common case in C (``_lex.c``): it answers as :func:`lex_python` or declines (None).
_native: Any = native_module("p2pdb.sql._lex", version=6)  # LEX_VERSION of _lex.c


def native() -> bool:
    """Whether statements are lexed in C where it takes them."""
    return _native is not None


def lex(sql: str) -> Lexed:
    """Take the literals out of one statement (see module docstring)."""
    if _native is not None:
        got = _native.lex(sql)
        if got is not None:
            return Lexed(*got)
    return lex_python(sql)


def lex_python(sql: str) -> Lexed:
    """:func:`lex` in Python: the rules' reference, and every statement the C lexer declines."""
    out: list[str] = []
    lexed = Lexed("")
    pos = 0
    # ORDER BY / GROUP BY may be there: the words next to each other, or, in a statement with a
    # comment (which the shape reads as a blank: ORDER /* c */ BY 1 is a position), anywhere; the
    # walk over the shape decides. (The substring tests first: the case-insensitive search costs
    # microseconds on a long INSERT.)
    upper = sql.upper()
    positions = "BY" in upper and (
        _BY_CLAUSE.search(sql) is not None
        or (("/*" in sql or "--" in sql or "#" in sql) and ("ORDER" in upper or "GROUP" in upper))
    )
    walk = _Positions() if positions else None
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "bq":
            continue
        start, end = match.span()
        out.append(sql[pos:start])
        pos = end
        text = match.group()
        if kind == "cmt":
            out.append(" ")
            continue
        if kind == "vcmt":
            out.append(" ")
            continue
        if kind == "sysvar":
            name = f"g{len(lexed.sysvars) + 1}"
            lexed.sysvars[name] = text[2:]
            out.append(":" + name)
            continue
        if kind == "uservar":
            name = f"u{len(lexed.uservars) + 1}"
            lexed.uservars[name] = text[1:].strip("`'")
            out.append(":" + name)
            continue
        value: Any
        binary = False
        if (kind == "sq" or kind == "dq") and _follows_string(out, lexed):
            # 'a' 'b' is one literal, 'ab' (MySQL concatenates adjacent strings)
            joined = _unescape(text[1:-1], text[0])
            previous = lexed.params[-1]
            out.pop()
            if isinstance(previous, bytes):
                lexed.params[-1] = previous + joined.encode("utf-8", "surrogateescape")
            else:
                lexed.params[-1] = _text_or_bytes(previous + joined)
            lexed.raw[-1] += " " + text
            continue
        if (kind == "sq" or kind == "dq") and out[-1][-1:] in "Nn" and _NATIONAL.search(out[-1]):
            out[-1] = out[-1][:-1]  # N'...': a national (utf8) string, a string here
        if kind != "num" and kind != "q" and "_" in out[-1]:
            introducer = _INTRODUCER.search(out[-1])
            if introducer is not None:
                out[-1] = out[-1][: introducer.start()]
                binary = introducer.group(1).lower() == "binary"
        if kind == "sq" or kind == "dq":
            value = _unescape(text[1:-1], text[0])
            value = value.encode("utf-8", "surrogateescape") if binary else _text_or_bytes(value)
        elif kind == "num":
            if walk is not None and text.isdigit() and walk.check(out, sql, end):
                out.append(text)
                continue
            if text.isdigit() and _in_type_arguments("".join(out[-3:])):
                out.append(text)  # DECIMAL(10,2), CHAR(3), DATETIME(6): part of a type, not a value
                continue
            value = _number(text)
        elif kind == "hex":
            digits = text[2:-1] if text[0] in "xX" else text[2:]
            value = bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)
        elif kind == "bit":
            digits = text[2:-1] if text[0] in "bB" and text[1] == "'" else text[2:]
            number = int(digits or "0", 2)
            value = number.to_bytes(max(1, (len(digits) + 7) // 8), "big")
        else:  # "?"
            value = None
            lexed.placeholders.append(len(lexed.params))
        lexed.params.append(value)
        lexed.raw.append(text)
        out.append(f":p{len(lexed.params)}")
    out.append(sql[pos:])
    lexed.shape = "".join(out).strip().rstrip(";").strip()
    return lexed


#: A shape's ``:pN`` parameters, and the quoted names to leave alone (group 1: the number).
PARAMS = re.compile(r"`(?:[^`]|``)*`|:p(\d+)(?!\d)")


def renumber(shape: str) -> tuple[str, list[int]]:
    """``shape`` with its ``:pN`` parameters numbered from 1 again in textual order, and, for each,
    the 0-based index of the parameter it was (a shape made of parts of another's, or repeating
    some of its parameters)."""
    order: list[int] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) is None:  # a quoted name
            return match.group()
        order.append(int(match.group(1)) - 1)
        return f":p{len(order)}"

    return PARAMS.sub(number, shape), order


_SPLIT = re.compile(
    r"""`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|\#[^\n]*|--[ \t][^\n]*|/\*(?:.|\n)*?\*/|(;)""",
    re.DOTALL,
)


def split_statements(sql: str) -> list[str]:
    """Split a multi-statement COM_QUERY text on top-level semicolons."""
    parts: list[str] = []
    start = 0
    for match in _SPLIT.finditer(sql):
        if match.group(1) is not None:
            parts.append(sql[start : match.start()])
            start = match.end()
    parts.append(sql[start:])
    return [p for p in (part.strip() for part in parts) if p]


def unwrap_version_comments(sql: str) -> str:
    """The statement with the ``/*!NNNNN`` and ``*/`` markers of its version comments blanked out, as
    MySQL runs them (``CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop``` of a dump); quoted text and
    other comments are left alone. Handlers that read the statement text use this form."""
    if "/*!" not in sql:
        return sql
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(sql):
        if match.lastgroup == "vcmt":
            out.append(sql[pos : match.start()])
            out.append(" ")
            pos = match.end()
    out.append(sql[pos:])
    return "".join(out)


def without_qualifier(lexed: Lexed, name: str) -> Lexed:
    """``lexed`` with every qualifier naming database ``name`` dropped (``shop.t`` -> ``t``): each
    MySQL database is its own SQLite file, where its tables go unqualified."""

    def strip(match: re.Match[str]) -> str:
        return "" if (match.group(1) or match.group(2)) == name else match.group(0)

    shape = QUALIFIER.sub(strip, lexed.shape)
    return Lexed(shape, lexed.params, lexed.raw, lexed.placeholders, lexed.sysvars, lexed.uservars)
