"""The ``DEFAULT`` keyword in writes: ``INSERT ... VALUES (DEFAULT, ...)``, ``VALUES ()``,
``UPDATE ... SET c = DEFAULT`` and ``DEFAULT(c)``.

Each ``DEFAULT`` becomes the column's default expression from the schema (SQL text the schema
holds, parsed by sqlglot, never a client value), or NULL for a column without one. An AUTO_INCREMENT
column's ``DEFAULT`` is left for the id allocator (:mod:`p2pdb.sql.plan`). Plans are cached per
schema version, so a changed default never reaches a cached plan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlglot
from sqlglot import exp

from p2pdb.schema import NON_CONSTANT_DEFAULTS, Column, TableSpec
from p2pdb.sql.mysqltypes import type_from_mysql_text

_DEFAULT = re.compile(r"\bDEFAULT\b|\(\s*\)\s*VALUES\s*\(\s*\)|\bVALUES\s*\(\s*\)", re.IGNORECASE)
_REPLACE = re.compile(r"^\s*REPLACE\b", re.IGNORECASE)
# sqlglot does not parse DEFAULT(c): it goes through under a name of ours.
_DEFAULT_OF = re.compile(r"\bDEFAULT\s*\(\s*(`(?:[^`]|``)*`|[\w$]+)\s*\)", re.IGNORECASE)
_OF = "P2PDB_DEFAULT_OF"


def fill_defaults(kind: str, shape: str, tables: Mapping[str, TableSpec]) -> str:
    """``shape`` with every ``DEFAULT`` of an INSERT/REPLACE/UPDATE replaced (see module docstring)."""
    if kind not in ("INSERT", "REPLACE", "UPDATE"):
        return shape
    if not _DEFAULT.search(shape) and not (
        kind != "UPDATE" and any(_clock_columns(s) for s in tables.values())
    ):
        return shape
    replace = kind == "REPLACE"
    text = _DEFAULT_OF.sub(lambda m: f"{_OF}({m.group(1)})", shape)
    try:
        tree = sqlglot.parse_one(_REPLACE.sub("INSERT", text, 1) if replace else text, read="mysql")
    except sqlglot.errors.ParseError:
        return shape
    if isinstance(tree, exp.Insert):
        changed = _insert(tree, tables)
    elif isinstance(tree, exp.Update):
        changed = _update(tree, tables)
    else:
        return shape
    if not changed:
        return shape
    out = tree.sql(dialect="mysql")
    return re.sub(r"^\s*INSERT\b", "REPLACE", out, count=1, flags=re.IGNORECASE) if replace else out


def _spec(table: exp.Expression | None, tables: Mapping[str, TableSpec]) -> TableSpec | None:
    if isinstance(table, exp.Schema):
        table = table.this
    if not isinstance(table, exp.Table) or table.args.get("db"):
        return None
    return tables.get(table.name)


def clock(col: Column) -> exp.Expression:
    """The statement's time as ``col`` stores it: NOW() for DATETIME/TIMESTAMP, NOW(n) to the column's
    fractional digits (``DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6)``, ``ON UPDATE CURRENT_TIMESTAMP(3)``:
    MySQL requires the default's digits to be the column's)."""
    mt = col.extra.get("mt") if col.extra else None
    digits = type_from_mysql_text(mt).decimals if isinstance(mt, str) else 0
    if 0 < digits <= 6:
        return exp.Anonymous(
            this="p2pdb_fsp", expressions=[exp.Placeholder(this="f_now6"), exp.Literal.number(digits)]
        )
    return exp.Anonymous(this="now")


def _value(spec: TableSpec, column: str) -> exp.Expression | None:
    """The default of ``column`` as an expression; None to leave ``DEFAULT`` (AUTO_INCREMENT)."""
    col = spec.column(column)
    if col is None or col.extra.get("ai"):
        return None
    if col.default is None:
        return exp.Null()
    if col.default.upper() == "CURRENT_TIMESTAMP":
        return clock(col)
    try:
        value = sqlglot.parse_one(col.default, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    return value if isinstance(value, exp.Expression) else None


def _clock_columns(spec: TableSpec) -> list[str]:
    """Columns whose default is CURRENT_TIMESTAMP, CURRENT_DATE or CURRENT_TIME."""
    return [c.name for c in spec.columns if c.default in NON_CONSTANT_DEFAULTS and not c.extra.get("ai")]


def _is_default(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Var) and node.name.upper() == "DEFAULT") or (
        isinstance(node, exp.Column)
        and not node.table
        and node.name.upper() == "DEFAULT"
        and not node.this.args.get("quoted")
    )


def _insert(tree: exp.Insert, tables: Mapping[str, TableSpec]) -> bool:
    spec = _spec(tree.this, tables)
    values = tree.expression
    if spec is None or not isinstance(values, exp.Values):
        return False
    target = tree.this
    columns = [str(e.name) for e in target.expressions] if isinstance(target, exp.Schema) else []
    rows = values.expressions
    changed = False
    if not columns and all(not row.expressions for row in rows):
        # VALUES (): every column takes its default; name the first so the statement is valid SQL.
        first = spec.columns[0].name
        table = target.this if isinstance(target, exp.Schema) else target
        tree.set("this", exp.Schema(this=table, expressions=[exp.to_identifier(first)]))
        for row in rows:
            row.set("expressions", [exp.Var(this="DEFAULT")])
        columns, changed = [first], True
    if columns:  # columns left out whose default is the clock: the statement's time, as NOW() is
        named = {c.lower() for c in columns}
        missing = [c for c in _clock_columns(spec) if c.lower() not in named]
        if missing and isinstance(target, exp.Schema) and all(isinstance(r, exp.Tuple) for r in rows):
            for column in missing:
                target.append("expressions", exp.to_identifier(column))
                clock = _value(spec, column)
                for row in rows:
                    row.append("expressions", clock.copy() if clock is not None else exp.Null())
            columns = [*columns, *missing]
            changed = True
    if not columns:
        columns = list(spec.column_names)
    for row in rows:
        for index, item in enumerate(row.expressions):
            if index < len(columns) and _is_default(item):
                value = _value(spec, columns[index])
                if value is not None:
                    row.expressions[index] = value
                    changed = True
    return _default_calls(tree, spec) or changed


def _update(tree: exp.Update, tables: Mapping[str, TableSpec]) -> bool:
    spec = _spec(tree.this, tables)
    if spec is None:
        return False
    changed = False
    for assignment in tree.expressions:
        if isinstance(assignment, exp.EQ) and _is_default(assignment.expression):
            value = _value(spec, assignment.this.name)
            if value is not None:
                assignment.set("expression", value)
                changed = True
    return _default_calls(tree, spec) or changed


def _default_calls(tree: exp.Expression, spec: TableSpec) -> bool:
    """``DEFAULT(c)``: the default of column ``c``."""
    changed = False
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name.upper() == _OF and len(call.expressions) == 1:
            arg = call.expressions[0]
            if isinstance(arg, exp.Column):
                value = _value(spec, arg.name)
                if value is not None:
                    call.replace(value)
                    changed = True
    return changed
