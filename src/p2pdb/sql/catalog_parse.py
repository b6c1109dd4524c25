"""Reading catalog statements: a token cursor, MySQL LIKE patterns and SHOW ... WHERE filters.

SHOW and DESCRIBE have a small, fixed grammar, read here token by token (backtick identifiers,
``db``.``t``, case-insensitive keywords). A WHERE clause is parsed by sqlglot and evaluated in
Python against each result row, with MySQL's case-insensitive string comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlglot
from sqlglot import expressions as exp
from sqlglot.errors import ParseError

from p2pdb.sql.like import compile_like
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+|--[ \t][^\n]*|\#[^\n]*|/\*.*?\*/)
    |(?P<ident>`(?:[^`]|``)*`)
    |(?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    |(?P<word>[A-Za-z_$][A-Za-z0-9_$]*|\d+[A-Za-z_$][A-Za-z0-9_$]*)
    |(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
    |(?P<op><=>|<=|>=|<>|!=|.)""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


class Token(NamedTuple):
    kind: str  # "word", "ident" (backticked), "str", "num", "op"
    text: str  # words as written, identifiers and strings unquoted
    pos: int


def unescape_string(literal: str) -> str:
    """The value of a MySQL string literal (quotes included). ``\\%`` and ``\\_`` keep their
    backslash, as MySQL does, so that a LIKE pattern still sees them escaped."""
    quote, body = literal[0], literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append("\\" + nxt if nxt in "%_" else _ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == quote and body[i + 1 : i + 2] == quote:
            i += 1
        out.append(ch)
        i += 1
    return "".join(out)


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(sql):
        kind = match.lastgroup or "op"
        text = match.group()
        if kind == "ws":
            continue
        if kind == "ident":
            text = text[1:-1].replace("``", "`")
        elif kind == "str":
            text = unescape_string(text)
        tokens.append(Token(kind, text, match.start()))
    return tokens


def syntax_error(sql: str, pos: int) -> MySQLError:
    near = sql[pos:].strip()[:80]
    return MySQLError(
        ErrorCode.PARSE_ERROR,
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server"
        f" version for the right syntax to use near '{near}' at line 1",
    )


class Cursor:
    """Walks the tokens of one statement; keywords compare case-insensitively."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        while self.tokens and self.tokens[-1].text == ";" and self.tokens[-1].kind == "op":
            self.tokens.pop()
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, offset: int = 0) -> str | None:
        """The upper-cased keyword at the cursor (None if it is not a bare word)."""
        token = self.peek(offset)
        return token.text.upper() if token is not None and token.kind == "word" else None

    def accept(self, *words: str) -> str | None:
        word = self.word()
        if word is not None and word in words:
            self.i += 1
            return word
        return None

    def accept_op(self, op: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text == op:
            self.i += 1
            return True
        return False

    def expect(self, *words: str) -> str:
        word = self.accept(*words)
        if word is None:
            raise self.error()
        return word

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.error()

    def name(self) -> str:
        token = self.peek()
        if token is None or token.kind not in ("word", "ident"):
            raise self.error()
        self.i += 1
        return token.text

    def qualified(self) -> tuple[str | None, str]:
        """``name`` or ``qualifier.name`` (each part bare or backticked)."""
        first = self.name()
        if self.accept_op("."):
            return first, self.name()
        return None, first

    def string(self) -> str:
        token = self.peek()
        if token is None or token.kind != "str":
            raise self.error()
        self.i += 1
        return token.text

    def number(self) -> int:
        token = self.peek()
        if token is None or token.kind != "num" or not token.text.isdigit():
            raise self.error()
        self.i += 1
        return int(token.text)

    def rest(self) -> str:
        """The statement text from the cursor to the end (trailing ``;`` excluded)."""
        if self.i >= len(self.tokens):
            return ""
        end = self.tokens[-1].pos + len(self.sql[self.tokens[-1].pos :].rstrip().rstrip(";").rstrip())
        text = self.sql[self.tokens[self.i].pos : end]
        self.i = len(self.tokens)
        return text

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def end(self) -> None:
        if not self.at_end():
            raise self.error()

    def error(self) -> MySQLError:
        token = self.peek()
        return syntax_error(self.sql, token.pos if token is not None else len(self.sql))


# -- LIKE -----------------------------------------------------------------------------------------


def like(value: Any, pattern: str, escape: str = "\\") -> bool:
    """MySQL ``value LIKE pattern``: ``%`` any run, ``_`` one character, ``escape`` quotes the next
    character; case-insensitive, as with MySQL's default ``_ci`` collations."""
    return bool(compile_like(pattern, escape, False)(_text(value)))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# -- LIKE / WHERE filters --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    """The ``LIKE 'pattern'`` or ``WHERE expr`` tail of a SHOW statement (both None: no filter)."""

    like: str | None = None
    where: str | None = None  # the expression's text

    def apply(self, names: Sequence[str], rows: list[list[Any]], like_column: int = 0) -> list[list[Any]]:
        """The rows that pass; ``names`` are the result's column names (WHERE refers to them)."""
        if self.like is not None:
            pattern = self.like
            return [row for row in rows if row[like_column] is not None and like(row[like_column], pattern)]
        if self.where is not None:
            where, keys = parse_where(self.where, names), [n.lower() for n in names]
            return [row for row in rows if _truthy(evaluate(where, dict(zip(keys, row, strict=True))))]
        return rows


def read_filter(cur: Cursor, *, allow_like: bool = True) -> Filter:
    """Read an optional LIKE or WHERE tail; the statement must end there."""
    result = Filter()
    if allow_like and cur.accept("LIKE"):
        result = Filter(like=cur.string())
    elif cur.accept("WHERE"):
        result = Filter(where=cur.rest())
    cur.end()
    return result


_OPERATORS = frozenset({"NULL", "TRUE", "FALSE", "NOT", "AND", "OR", "XOR", "IS", "IN", "LIKE", "BETWEEN"})


def parse_where(text: str, names: Sequence[str] = ()) -> exp.Expr:
    """Parse a WHERE expression. Bare words naming result columns are quoted first: SHOW headers
    such as ``Charset``, ``Default`` or ``Key`` are keywords to a SQL parser (``Null`` stays the
    NULL literal, as in MySQL: write it in backticks)."""
    columns = {n.upper() for n in names} - _OPERATORS
    tokens = tokenize(text)
    for index in reversed(range(len(tokens))):
        token = tokens[index]
        nxt = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "word" and token.text.upper() in columns and (nxt is None or nxt.text != "("):
            text = f"{text[: token.pos]}`{token.text}`{text[token.pos + len(token.text) :]}"
    try:
        expression = sqlglot.parse_one(text, read="mysql")
    except ParseError as exc:
        raise syntax_error(text, 0) from exc
    if expression is None:
        raise syntax_error(text, 0)
    return expression


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        try:
            return float(value) != 0
        except ValueError:
            return False
    return bool(value)


def _compare_key(a: Any, b: Any) -> tuple[Any, Any]:
    """Operands made comparable: numbers as numbers, strings case-insensitively."""
    if isinstance(a, int | float) and not isinstance(b, int | float):
        try:
            return a, float(_text(b))
        except ValueError:
            return _text(a).casefold(), _text(b).casefold()
    if isinstance(b, int | float) and not isinstance(a, int | float):
        b_, a_ = _compare_key(b, a)
        return a_, b_
    if isinstance(a, int | float):
        return a, b
    return _text(a).casefold(), _text(b).casefold()


def _equal(a: Any, b: Any) -> bool:
    left, right = _compare_key(a, b)
    return bool(left == right)


_COMPARE: dict[type[exp.Expr], Callable[[Any, Any], bool]] = {
    exp.EQ: lambda a, b: bool(a == b),
    exp.NEQ: lambda a, b: bool(a != b),
    exp.GT: lambda a, b: bool(a > b),
    exp.GTE: lambda a, b: bool(a >= b),
    exp.LT: lambda a, b: bool(a < b),
    exp.LTE: lambda a, b: bool(a <= b),
}


def evaluate(node: exp.Expr, row: Mapping[str, Any]) -> Any:
    """The value of a WHERE expression for one row (keys lower-case); SQL three-valued logic."""
    kind = type(node)
    if kind is exp.Column:
        name = node.name.lower()
        if name not in row:
            raise MySQLError(ErrorCode.BAD_FIELD_ERROR, f"Unknown column '{node.name}' in 'where clause'")
        return row[name]
    if kind is exp.Literal:
        if node.is_string:
            return node.this
        text = str(node.this)
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind is exp.Null:
        return None
    if kind is exp.Boolean:
        return 1 if node.this else 0
    if kind is exp.Paren:
        return evaluate(node.this, row)
    if kind is exp.Neg:
        value = evaluate(node.this, row)
        return None if value is None else -float(value)
    if kind is exp.Not:
        value = evaluate(node.this, row)
        return None if value is None else int(not _truthy(value))
    if kind is exp.And or kind is exp.Or:
        return _logic(kind is exp.And, evaluate(node.this, row), evaluate(node.expression, row))
    if kind in _COMPARE:
        left, right = evaluate(node.this, row), evaluate(node.expression, row)
        if left is None or right is None:
            return None
        return int(_COMPARE[kind](*_compare_key(left, right)))
    if kind is exp.NullSafeEQ:
        left, right = evaluate(node.this, row), evaluate(node.expression, row)
        if left is None or right is None:
            return int(left is None and right is None)
        return int(_equal(left, right))
    return _evaluate_predicate(node, row)


def _evaluate_predicate(node: exp.Expr, row: Mapping[str, Any]) -> Any:
    kind = type(node)
    if kind is exp.Escape and isinstance(node.this, exp.Like | exp.ILike):
        escape = evaluate(node.expression, row)
        return _like_node(node.this, row, _text(escape)[:1] or "\\")
    if kind is exp.Like or kind is exp.ILike:
        return _like_node(node, row, "\\")
    if kind is exp.Is:
        value = evaluate(node.this, row)
        target = node.expression
        if isinstance(target, exp.Null):
            return int(value is None)
        if isinstance(target, exp.Boolean):
            return int(value is not None and _truthy(value) == bool(target.this))
    if kind is exp.In and not node.args.get("query"):
        value = evaluate(node.this, row)
        if value is None:
            return None
        options = [evaluate(e, row) for e in node.expressions]
        hit = any(o is not None and _equal(value, o) for o in options)
        return 1 if hit else (None if None in options else 0)
    if kind is exp.Between:
        value, low, high = (evaluate(node.args[k], row) for k in ("this", "low", "high"))
        if value is None or low is None or high is None:
            return None
        lo, v1 = _compare_key(low, value)
        v2, hi = _compare_key(value, high)
        return int(lo <= v1 and v2 <= hi)
    raise MySQLError(
        ErrorCode.NOT_SUPPORTED_YET,
        f"This version of MySQL doesn't yet support '{node.sql(dialect='mysql')}' in SHOW ... WHERE",
    )


def _like_node(node: exp.Expr, row: Mapping[str, Any], escape: str) -> Any:
    value, pattern = evaluate(node.this, row), evaluate(node.expression, row)
    if value is None or pattern is None:
        return None
    return int(like(value, _text(pattern), escape) != bool(node.args.get("negate")))


def _logic(is_and: bool, left: Any, right: Any) -> Any:
    a = None if left is None else _truthy(left)
    b = None if right is None else _truthy(right)
    if is_and:
        if a is False or b is False:
            return 0
        return None if a is None or b is None else 1
    if a is True or b is True:
        return 1
    return None if a is None or b is None else 0
