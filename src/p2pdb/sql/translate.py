"""MySQL statement shapes to SQLite SQL.

Two paths (DESIGN §6: sqlglot stays off the hot path):

1. :func:`rewrite` makes the few lexical changes most statements need (MySQL-only clauses and
   keywords) on the literal-free shape; the result is usually valid SQLite as it is.
2. When SQLite cannot prepare that, :func:`transpile` asks sqlglot to translate the shape
   (MySQL dialect in, SQLite dialect out), plus fixes for what sqlglot leaves MySQL-specific.

Callers cache the outcome per shape, so each path runs once per distinct statement shape.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from p2pdb.schema import CI_COLLATION
from p2pdb.sql import aggregates, json_table, temporal

_FLAGS = re.IGNORECASE
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bFOR\s+UPDATE(\s+(NOWAIT|SKIP\s+LOCKED))?\s*$", _FLAGS), ""),
    (re.compile(r"\bFOR\s+SHARE(\s+(NOWAIT|SKIP\s+LOCKED))?\s*$", _FLAGS), ""),
    (re.compile(r"\bLOCK\s+IN\s+SHARE\s+MODE\s*$", _FLAGS), ""),
    (
        re.compile(r"^\s*INSERT\s+(LOW_PRIORITY\s+|DELAYED\s+|HIGH_PRIORITY\s+)?IGNORE\b", _FLAGS),
        "INSERT OR IGNORE",
    ),
    (re.compile(r"^\s*INSERT\s+(LOW_PRIORITY|DELAYED|HIGH_PRIORITY)\b", _FLAGS), "INSERT"),
    (re.compile(r"^\s*(REPLACE|UPDATE|DELETE)\s+(LOW_PRIORITY|DELAYED)\s+", _FLAGS), r"\1 "),
    (re.compile(r"^\s*DELETE\s+(QUICK\s+)?IGNORE\b", _FLAGS), "DELETE"),
    (re.compile(r"^\s*UPDATE\s+IGNORE\b", _FLAGS), "UPDATE OR IGNORE"),
    (
        re.compile(
            r"\b(SQL_CALC_FOUND_ROWS|SQL_NO_CACHE|SQL_CACHE|HIGH_PRIORITY|STRAIGHT_JOIN|SQL_SMALL_RESULT"
            r"|SQL_BIG_RESULT|SQL_BUFFER_RESULT)\b",
            _FLAGS,
        ),
        "",
    ),
    (re.compile(r"\bFROM\s+DUAL\b", _FLAGS), ""),
    (re.compile(r"<=>", _FLAGS), " IS "),
]
# Two literals compare under the default collation, case-insensitively ('a' = 'A' is 1); a column
# operand brings its own collation, and an explicit COLLATE stays (docs/mysql-compatibility.md).
_LITERAL_COMPARISON = re.compile(
    r"(?<![\w$.])(:p\d+\s*(?:=|<>|!=|<=|>=|<|>)\s*:p\d+)(?!\w|\s*COLLATE\b)", _FLAGS
)


def _collate_literals(sql: str) -> str:
    return _LITERAL_COMPARISON.sub(rf"\1 COLLATE {CI_COLLATION}", sql)


_UPSERT = re.compile(r"\bON\s+DUPLICATE\s+KEY\s+UPDATE\b", _FLAGS)
_VALUES_FN = re.compile(r"\bVALUES\s*\(\s*(`(?:[^`]|``)*`|[A-Za-z_][\w$]*)\s*\)", _FLAGS)


def rewrite(shape: str) -> str:
    """The lexical MySQL→SQLite rewrite of a literal-free statement shape."""
    text = shape
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    upsert = _UPSERT.search(text)
    if upsert:
        head, tail = text[: upsert.start()], text[upsert.end() :]
        if re.search(r"\bSELECT\b", head, _FLAGS) and not re.search(r"\bWHERE\b", head, _FLAGS):
            head += " WHERE true "  # SQLite's upsert after INSERT ... SELECT needs a WHERE
        text = head + "ON CONFLICT DO UPDATE SET" + _VALUES_FN.sub(r"excluded.\1", tail)
    return _collate_literals(text)


def transpile(shape: str) -> str:
    """sqlglot's translation of a shape (MySQL → SQLite); raises sqlglot errors."""
    tree = _fixed(json_table.rewrite(sqlglot.parse_one(shape, read="mysql")))
    return _collate_literals(tree.sql(dialect="sqlite"))


def _fixed(node: exp.Expr) -> exp.Expr:
    """``node`` with :func:`_fix_node` applied children first, so a fixed node's operands are fixed
    too (``DATE_FORMAT(d + INTERVAL 1 DAY, ...)``, nested DATE_ADD: sqlglot's ``transform`` does not
    visit the operands of a node it replaced)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expr):
            node.set(key, _fixed(value))
        elif isinstance(value, list):
            items = [_fixed(v) if isinstance(v, exp.Expr) else v for v in value]
            node.set(key, [item for item in items if item is not None])
    return _fix_node(node) if isinstance(node, exp.Expression) else node


def _fix_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Lock):
        return None  # type: ignore[return-value]  # FOR UPDATE: SQLite serialises writers anyway
    if isinstance(node, _COMPARISONS) and isinstance(node.expression, (exp.Any, exp.All)):
        return _quantified(node)
    if isinstance(node, (exp.Union, exp.Except, exp.Intersect)):
        # (SELECT ... LIMIT 1) UNION (SELECT ...): SQLite takes no parenthesised member; a member
        # read from its subquery keeps its own ORDER BY and LIMIT
        for side in ("this", "expression"):
            member = node.args.get(side)
            if isinstance(member, exp.Subquery) and isinstance(member.this, exp.Select):
                node.set(side, exp.select("*").from_(member.copy()))
    return temporal.fix_node(aggregates.fix_node(node))


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _quantified(node: exp.Expression) -> exp.Expression:
    """``x op ANY (query)`` / ``x op ALL (query)`` (SQLite has neither) as EXISTS over the query:
    ANY holds when some row compares true, ALL when no row compares other than true (a NULL among
    the rows makes ALL false here where MySQL says NULL: the same in a WHERE)."""
    quantifier = node.args["expression"]
    query = quantifier.this.this if isinstance(quantifier.this, exp.Subquery) else quantifier.this
    if not isinstance(query, exp.Select) or len(query.expressions) != 1:
        return node
    inner = query.copy()
    inner.set("expressions", [exp.alias_(inner.expressions[0], "p2pdb_q")])
    rows = exp.select("1").from_(
        exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("p2pdb_s")))
    )
    compared = type(node)(this=node.args["this"].copy(), expression=exp.column("p2pdb_q", table="p2pdb_s"))
    if isinstance(quantifier, exp.Any):
        return exp.Exists(this=rows.where(compared))
    not_true = exp.Not(this=exp.Paren(this=exp.Is(this=exp.Paren(this=compared), expression=exp.true())))
    return exp.Not(this=exp.Exists(this=rows.where(not_true)))
