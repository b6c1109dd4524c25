"""MySQL's multi-table UPDATE and DELETE, as single-table SQLite statements over the same join.

- ``UPDATE a JOIN b ON c SET a.x = b.y WHERE w`` (also ``UPDATE a, b SET ...``) becomes
  ``UPDATE a AS __p2pdb_target SET x = b.y FROM a JOIN b ON c WHERE __p2pdb_target.rowid = a.rowid
  AND (w)``: the whole join, LEFT JOINs included, is the FROM clause, and the target row is the join's
  row of the same rowid (every user table is a rowid table). Each target row changes at most once.
- ``DELETE a FROM a JOIN b ON c WHERE w`` and ``DELETE FROM a USING a JOIN b ...`` become
  ``DELETE FROM a WHERE rowid IN (SELECT a.rowid FROM a JOIN b ON c WHERE w)``.

One target table per statement: SET of columns of two tables, or DELETE of rows of two tables, is
error 1235. The rewrite works on the literal-free shape; it returns None for a single-table statement.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from p2pdb.sql.protocol.errors import ErrorCode, MySQLError

TARGET = "__p2pdb_target"
_UPDATE = re.compile(r"^\s*UPDATE\s+(?:LOW_PRIORITY\s+|IGNORE\s+)*(.*?)\bSET\b", re.I | re.S)
_JOINED = re.compile(r",|\bJOIN\b", re.I)
_DELETE = re.compile(r"^\s*DELETE\s+(?:LOW_PRIORITY\s+|QUICK\s+|IGNORE\s+)*(?!FROM\b)\S|\bUSING\b", re.I)


def _unsupported(what: str) -> MySQLError:
    return MySQLError(ErrorCode.NOT_SUPPORTED_YET, f"This version of P2PDB doesn't yet support '{what}'")


def is_multi_table(kind: str, shape: str) -> bool:
    if kind == "UPDATE":
        match = _UPDATE.match(shape)
        return match is not None and _JOINED.search(match.group(1)) is not None
    return kind == "DELETE" and _DELETE.search(shape) is not None


def _tables(node: exp.Expression) -> list[exp.Table]:
    return [t for t in node.find_all(exp.Table) if not t.find_ancestor(exp.Subquery)]


def _find(tables: list[exp.Table], name: str) -> exp.Table:
    """The table of the join that ``name`` (an alias, else a table name) designates."""
    folded = name.casefold()
    for table in tables:
        if table.alias and table.alias.casefold() == folded:
            return table
    for table in tables:
        if not table.alias and table.name.casefold() == folded:
            return table
    raise MySQLError(1109, f"Unknown table '{name}' in MULTI DELETE", "42S02")


def _ref(table: exp.Table) -> str:
    return exp.to_identifier(table.alias or table.name).sql(dialect="mysql")


def rewrite_update(shape: str) -> str:
    tree = sqlglot.parse_one(shape, read="mysql")
    if not isinstance(tree, exp.Update) or tree.args.get("order") or tree.args.get("limit"):
        raise _unsupported("UPDATE of several tables with ORDER BY or LIMIT")
    join = tree.this
    tables = _tables(join)
    qualifiers = {
        a.this.table for a in tree.expressions if isinstance(a, exp.EQ) and isinstance(a.this, exp.Column)
    }
    if len(qualifiers) != 1 or len(tree.expressions) != len(
        [a for a in tree.expressions if isinstance(a, exp.EQ)]
    ):
        raise _unsupported("UPDATE that sets columns of several tables")
    (qualifier,) = qualifiers
    target = _find(tables, qualifier) if qualifier else tables[0]
    sets = ", ".join(
        f"{exp.to_identifier(a.this.name).sql(dialect='mysql')} = {a.expression.sql(dialect='mysql')}"
        for a in tree.expressions
    )
    condition = f"{TARGET}.rowid = {_ref(target)}.rowid"
    where = tree.args.get("where")
    if where is not None:
        condition += f" AND ({where.this.sql(dialect='mysql')})"
    name = exp.to_identifier(target.name).sql(dialect="mysql")
    return f"UPDATE {name} AS {TARGET} SET {sets} FROM {join.sql(dialect='mysql')} WHERE {condition}"


def rewrite_delete(shape: str) -> str:
    tree = sqlglot.parse_one(shape, read="mysql")
    if not isinstance(tree, exp.Delete) or tree.args.get("order") or tree.args.get("limit"):
        raise _unsupported("DELETE of several tables with ORDER BY or LIMIT")
    using = tree.args.get("using")
    if using:
        if len(using) != 1:
            raise _unsupported("DELETE ... USING with this table list")
        join, targets = using[0], [tree.this]
    else:
        join, targets = tree.this, list(tree.args.get("tables") or [])
    if len(targets) != 1:
        raise _unsupported("DELETE of rows of several tables in one statement")
    tables = _tables(join)
    target = _find(tables, targets[0].name)
    inner = f"SELECT {_ref(target)}.rowid FROM {join.sql(dialect='mysql')}"
    where = tree.args.get("where")
    if where is not None:
        inner += f" WHERE {where.this.sql(dialect='mysql')}"
    name = exp.to_identifier(target.name).sql(dialect="mysql")
    return f"DELETE FROM {name} WHERE rowid IN ({inner})"


def rewrite_multi_table(kind: str, shape: str) -> str:
    """The single-table form of a multi-table UPDATE/DELETE shape (see the module docstring)."""
    try:
        return rewrite_update(shape) if kind == "UPDATE" else rewrite_delete(shape)
    except sqlglot.errors.ParseError:
        return shape  # SQLite reports the syntax error
