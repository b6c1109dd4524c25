"""``GROUP BY ... WITH ROLLUP`` for SQLite, which has no ROLLUP: one grouped SELECT per level.

``SELECT a, b, SUM(x) FROM t GROUP BY a, b WITH ROLLUP`` becomes the UNION ALL of the query grouped by
``a, b``, by ``a`` (``b`` shown as NULL) and by nothing (``a`` and ``b`` NULL), each level tagged, and
the union sorted as MySQL shows it: by each group column, a level's super-aggregate row after the rows
it sums up. ``GROUPING(a)`` is 1 in the rows where ``a`` was rolled up. HAVING applies to every level;
ORDER BY and LIMIT apply to the whole result (they name output columns, as MySQL 8 allows).
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

ROLLUP = re.compile(r"\bWITH\s+ROLLUP\b", re.IGNORECASE)
_LEVEL = "_p2pdb_level"


def _same(a: exp.Expression, b: exp.Expression) -> bool:
    if isinstance(a, exp.Column) and isinstance(b, exp.Column):
        return a.name.lower() == b.name.lower() and (not a.table or not b.table or a.table == b.table)
    return a == b


def _at_level(node: exp.Expression, rolled: list[exp.Expression]) -> exp.Expression:
    """``node`` in a level where the ``rolled`` group expressions are NULL (outside aggregates)."""

    def visit(sub: exp.Expression) -> exp.Expression:
        if isinstance(sub, exp.Grouping) or (
            isinstance(sub, exp.Anonymous) and str(sub.this).upper() == "GROUPING"
        ):
            flags = [any(_same(arg, r) for r in rolled) for arg in sub.expressions]
            value = 0
            for flag in flags:
                value = value * 2 + int(flag)
            return exp.Literal.number(value)
        if isinstance(sub, exp.AggFunc):
            return sub
        if any(_same(sub, r) for r in rolled):
            return exp.Null()
        for key, arg in list(sub.args.items()):
            if isinstance(arg, exp.Expression):
                sub.set(key, visit(arg))
            elif isinstance(arg, list):
                sub.set(key, [visit(a) if isinstance(a, exp.Expression) else a for a in arg])
        return sub

    return visit(node.copy())


def _shown_name(item: exp.Expression) -> str:
    """The column name MySQL shows for a select item: its alias, a column's own name (``o.cid`` is
    ``cid``), else the expression's text."""
    if isinstance(item, exp.Alias):
        return item.alias
    if isinstance(item, exp.Column):
        return item.name
    return item.sql("mysql")


def rewrite(shape: str) -> str | None:
    """The ROLLUP-free form of a MySQL SELECT shape, or None when it has no ROLLUP it can rewrite."""
    try:
        tree = sqlglot.parse_one(shape, read="mysql")
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(tree, exp.Select):
        return None
    group = tree.args.get("group")
    if group is None or not group.args.get("rollup") or not group.expressions:
        return None
    keys = list(group.expressions)
    items = list(tree.expressions)
    names = []
    for index, item in enumerate(items, 1):
        names.append(item.alias if isinstance(item, exp.Alias) else f"_p2pdb_c{index}")
    order = tree.args.get("order")
    limit = tree.args.get("limit")
    offset = tree.args.get("offset")
    branches: list[exp.Select] = []
    for level in range(len(keys) + 1):
        rolled = keys[len(keys) - level :] if level else []
        branch = tree.copy()
        for part in ("order", "limit", "offset"):
            branch.set(part, None)
        selected = []
        for item, name in zip(items, names, strict=True):
            inner = item.this if isinstance(item, exp.Alias) else item
            selected.append(exp.alias_(_at_level(inner, rolled), name))
        selected.append(exp.alias_(exp.Literal.number(level), _LEVEL))
        for n, key in enumerate(keys, 1):
            value = exp.Null() if any(key is r for r in rolled) else key.copy()
            selected.append(exp.alias_(value, f"_p2pdb_k{n}"))
        branch.set("expressions", selected)
        kept = keys[: len(keys) - level]
        branch.set("group", exp.Group(expressions=[k.copy() for k in kept]) if kept else None)
        having = tree.args.get("having")
        if having is not None:
            branch.set("having", exp.Having(this=_at_level(having.this, rolled)))
        branches.append(branch)
    union: exp.Expression = branches[0]
    for branch in branches[1:]:
        union = exp.Union(this=union, expression=branch, distinct=False)
    outer = exp.select(
        *[exp.alias_(exp.column(name), _shown_name(item), quoted=True) for item, name in zip(items, names, strict=True)]
    ).from_(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("_p2pdb_rollup"))))  # fmt: skip
    if order is not None:
        outer.set("order", order.copy())
    else:
        ordering = []
        for n in range(1, len(keys) + 1):
            rolled_flag = exp.GT(this=exp.column(_LEVEL), expression=exp.Literal.number(len(keys) - n))
            ordering.append(exp.Ordered(this=rolled_flag, nulls_first=True))
            ordering.append(exp.Ordered(this=exp.column(f"_p2pdb_k{n}"), nulls_first=True))
        outer.set("order", exp.Order(expressions=ordering))
    if limit is not None:
        outer.set("limit", limit.copy())
    if offset is not None:
        outer.set("offset", offset.copy())
    return outer.sql(dialect="mysql")
