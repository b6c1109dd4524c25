"""``cte_max_recursion_depth`` for SQLite, which has no limit of its own on recursive CTEs.

A recursive CTE of ``UNION ALL`` parts is rewritten to carry its iteration number in a hidden
column: the anchor rows have depth 0, each recursive part computes ``p2pdb_cte_depth(depth + 1)``,
a function (:mod:`p2pdb.sql.guard`) that raises MySQL's error 3636 once the depth passes the
session's ``cte_max_recursion_depth``. The CTE keeps its name and columns through a wrapper::

    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c
    →
    WITH RECURSIVE __p2pdb_rc_c(x, __p2pdb_depth) AS (SELECT 1, 0 UNION ALL SELECT x + 1,
      p2pdb_cte_depth(c.__p2pdb_depth + 1) FROM __p2pdb_rc_c AS c),
    c(x) AS (SELECT x FROM __p2pdb_rc_c) SELECT count(*) FROM c

As in MySQL, the depth counts iterations (generations of rows), not rows. A ``UNION`` (distinct)
recursion is left alone: a depth column would make every row distinct and change its result; such
queries are bounded by ``max_execution_time``/``p2pdb_max_write_time`` and KILL only. So are CTEs
whose parts select ``*`` or whose column names cannot be known.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from p2pdb.sql.guard import CTE_FUNCTION

DEPTH = "__p2pdb_depth"
_RECURSIVE = re.compile(r"\bRECURSIVE\b", re.IGNORECASE)


def limit_recursion(sql: str) -> str:
    """``sql`` with every ``UNION ALL`` recursive CTE bounded; unchanged if there is none or it cannot
    be parsed."""
    if not _RECURSIVE.search(sql):
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return sql
    changed = False
    for with_ in list(tree.find_all(exp.With)):
        if not with_.args.get("recursive"):
            continue
        ctes: list[exp.Expression] = []
        for cte in with_.expressions:
            rewritten = _bound(cte)
            if rewritten is None:
                ctes.append(cte)
            else:
                ctes.extend(rewritten)
                changed = True
        with_.set("expressions", ctes)
    if not changed:
        return sql
    try:
        return tree.sql(dialect="sqlite")
    except sqlglot.errors.SqlglotError:
        return sql


def _parts(body: exp.Expression) -> list[exp.Select] | None:
    """The SELECTs of a ``UNION ALL`` chain, left to right (None if any part is something else)."""
    if isinstance(body, exp.Union):
        if body.args.get("distinct"):
            return None
        left, right = _parts(body.this), _parts(body.expression)
        return None if left is None or right is None else left + right
    return [body] if isinstance(body, exp.Select) else None


def _references(select: exp.Select, name: str) -> list[exp.Table]:
    return [t for t in select.find_all(exp.Table) if not t.args.get("db") and t.name.lower() == name.lower()]


def _bound(cte: exp.Expression) -> list[exp.Expression] | None:
    if not isinstance(cte, exp.CTE) or not isinstance(cte.args.get("alias"), exp.TableAlias):
        return None
    alias: exp.TableAlias = cte.args["alias"]
    name = alias.name
    parts = _parts(cte.this)
    if not name or parts is None or len(parts) < 2:
        return None
    if any(isinstance(e, exp.Star) or e.is_star for p in parts for e in p.expressions):
        return None
    recursive = [bool(_references(p, name)) for p in parts]
    if not any(recursive) or all(recursive):
        return None
    columns = [c.name for c in alias.columns] if alias.columns else None
    if columns is None:
        anchor = parts[recursive.index(False)]
        columns = [e.alias_or_name or e.sql(dialect="sqlite") for e in anchor.expressions]
    if not columns or len({c.lower() for c in columns}) != len(columns) or DEPTH in columns:
        return None
    inner = f"__p2pdb_rc_{name}"
    for part, is_recursive in zip(parts, recursive, strict=True):
        if not is_recursive:
            part.append("expressions", exp.Literal.number(0))
            continue
        refs = _references(part, name)
        if len(refs) != 1:
            return None  # SQLite allows one reference to the recursive table per part anyway
        table = refs[0]
        label = table.alias or name
        table.set("this", exp.to_identifier(inner))
        table.set("alias", exp.TableAlias(this=exp.to_identifier(label)))
        step = exp.Add(this=exp.column(DEPTH, table=label), expression=exp.Literal.number(1))
        part.append("expressions", exp.Anonymous(this=CTE_FUNCTION, expressions=[step]))
    identifiers = [exp.to_identifier(c) for c in columns]
    bounded = exp.CTE(
        this=cte.this,
        alias=exp.TableAlias(this=exp.to_identifier(inner), columns=[*identifiers, exp.to_identifier(DEPTH)]),
    )
    wrapper = exp.CTE(
        this=exp.select(*[exp.column(c.copy()) for c in identifiers]).from_(exp.to_identifier(inner)),
        alias=exp.TableAlias(this=exp.to_identifier(name), columns=[c.copy() for c in identifiers]),
    )
    return [bounded, wrapper]
