"""MySQL's ``JSON_TABLE`` as SQLite's ``json_each`` (part of the sqlglot translation, :mod:`.translate`).

``JSON_TABLE(doc, row_path COLUMNS (...)) AS jt`` becomes the table-valued function
``json_each(rows) AS jt``, where ``rows`` is a JSON array of the rows' contexts: the array at
``row_path`` without its final ``[*]`` when it ends so (``'$[*]'``, ``'$.items[*]'``), else a
one-element array holding the value at ``row_path``. Being a table function, not a derived table, it
may read columns of the tables before it (``FROM t, JSON_TABLE(t.doc, ...)``), as MySQL's lateral
JSON_TABLE does. The paths may be literals or parameters: what depends on them is computed by SQLite.

Every reference to a JSON_TABLE column (``jt.a``, ``a``, ``jt.*``, ``*``) becomes its expression over
the element (``jt.value``, ``jt.type``, ``jt.key``):

- ``name FOR ORDINALITY``: the row's number from 1;
- ``name type PATH path``: the value at ``path`` inside the element (``'$'``: the element itself), read
  as an integer for integer types, as a double for DECIMAL/FLOAT/DOUBLE, as JSON for ``JSON`` (strings
  keep their quotes), as text otherwise; a path that matches nothing is NULL (MySQL's default ``NULL ON
  EMPTY``).

Not covered (sqlglot does not parse them, so the statement is a syntax error): ``EXISTS PATH``, ``ON
EMPTY`` and ``ON ERROR`` clauses. ``NESTED PATH`` is refused with error 1235.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from p2pdb.sql.protocol.errors import ErrorCode, MySQLError

_INTEGERS = frozenset(
    (exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.MEDIUMINT, exp.DataType.Type.INT,
     exp.DataType.Type.BIGINT, exp.DataType.Type.UTINYINT, exp.DataType.Type.USMALLINT,
     exp.DataType.Type.UMEDIUMINT, exp.DataType.Type.UINT, exp.DataType.Type.UBIGINT, exp.DataType.Type.BIT,
     exp.DataType.Type.BOOLEAN)
)  # fmt: skip
_TEXTS = frozenset(
    (exp.DataType.Type.CHAR, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.NCHAR,
     exp.DataType.Type.NVARCHAR, exp.DataType.Type.MEDIUMTEXT, exp.DataType.Type.LONGTEXT, exp.DataType.Type.TINYTEXT)
)  # fmt: skip
_REALS = frozenset(
    (exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.UDECIMAL)
)


#: The columns of SQLite's json_each, which a lateral JSON_TABLE brings into the query's scope.
_EACH_COLUMNS = frozenset(("key", "value", "type", "atom", "id", "parent", "fullkey", "path"))
#: What the JSON_TABLE columns read of a json_each row, and under which names when it is wrapped.
_WRAPPED = {"key": "p2pdb_key", "value": "p2pdb_value", "type": "p2pdb_type"}


def rewrite(tree: Any) -> Any:
    """``tree`` with each JSON_TABLE replaced as the module docstring says (unchanged without one)."""
    if not isinstance(tree, exp.Expression):
        return tree
    for number, node in enumerate(list(tree.find_all(exp.JSONTable))):
        table = node.parent
        if not isinstance(table, exp.Table):
            continue
        alias = table.alias or f"p2pdb_jt{number}"
        # A document that reads other tables' columns needs the table function itself (lateral);
        # otherwise a derived table over it shows only three columns, under names of its own, so
        # that json_each's ``id``, ``key``, ``value``... never clash with the query's columns.
        lateral = node.this.find(exp.Column) is not None
        names = {n: n for n in _WRAPPED} if lateral else _WRAPPED
        columns = _columns(node, alias, names)
        each = exp.Anonymous(this="json_each", expressions=[_rows(node.this, node.args["path"])])
        named = exp.TableAlias(this=exp.to_identifier(alias))
        replacement: exp.Expression
        if lateral:
            replacement = exp.Table(this=each, alias=named)
        else:
            wrapped = exp.select(*(exp.alias_(exp.column(k), v) for k, v in _WRAPPED.items()))
            replacement = exp.Subquery(this=wrapped.from_(exp.Table(this=each)), alias=named)
        table.replace(replacement)
        _replace_references(tree, replacement, alias, columns)
        if lateral:
            _qualify_others(tree, replacement, columns)
    return tree


def _rows(doc: exp.Expression, path: exp.Expression) -> exp.Expression:
    """The JSON array of row contexts: ``doc`` at ``path`` less a final ``[*]``, or ``[doc at path]``.
    (SQLite's ``->`` operator: MySQL's ``json_extract`` is registered under that name here.)"""
    wildcard = exp.EQ(
        this=exp.Substring(this=path.copy(), start=exp.Literal.number(-3)),
        expression=exp.Literal.string("[*]"),
    )
    base = exp.Substring(
        this=path.copy(),
        start=exp.Literal.number(1),
        length=exp.Sub(this=exp.Length(this=path.copy()), expression=exp.Literal.number(3)),
    )
    array = exp.JSONExtract(this=doc.copy(), expression=base)
    # ('[' || (x) || ']', not json_array(x): MySQL's JSON_ARRAY, registered here, quotes text; the
    # parentheses: SQLite's || and -> bind alike, from the left)
    at_path = exp.Paren(this=exp.JSONExtract(this=doc.copy(), expression=path.copy()))
    inner = exp.DPipe(this=exp.Literal.string("["), expression=at_path)
    single = exp.DPipe(this=inner, expression=exp.Literal.string("]"))
    return exp.Case(ifs=[exp.If(this=wildcard, true=array)], default=single)


Columns = dict[str, tuple[str, exp.Expression]]


def _columns(node: exp.JSONTable, alias: str, names: dict[str, str]) -> Columns:
    """Each JSON_TABLE column's name (lower case) -> (its name, its expression over the json_each
    row ``alias``), in declared order."""
    out: Columns = {}
    schema = node.args.get("schema")
    for definition in schema.expressions if isinstance(schema, exp.JSONSchema) else []:
        if definition.args.get("nested_schema") is not None:
            raise MySQLError(
                ErrorCode.NOT_SUPPORTED_YET, "This version of P2PDB doesn't yet support 'NESTED PATH'"
            )
        name = definition.name
        if definition.args.get("ordinality"):
            out[name.lower()] = (
                name,
                exp.Add(this=_field(alias, names["key"]), expression=exp.Literal.number(1)),
            )
            continue
        path = definition.args.get("path")
        if not isinstance(path, exp.Expression):
            raise MySQLError(ErrorCode.PARSE_ERROR, f"JSON_TABLE column '{name}' needs a PATH")
        out[name.lower()] = (name, _typed(alias, names, path, definition.args.get("kind")))
    return out


def _field(alias: str, name: str) -> exp.Column:
    return exp.column(name, table=alias)


def _typed(alias: str, names: dict[str, str], path: exp.Expression, kind: Any) -> exp.Expression:
    """The value at ``path`` in the element (inside an object or array; for '$' the element itself),
    as the column's type reads it: JSON keeps a string's quotes (``->``), others take SQL values (``->>``)."""
    value, type_ = _field(alias, names["value"]), _field(alias, names["type"])
    container = exp.In(this=type_, expressions=[exp.Literal.string("object"), exp.Literal.string("array")])
    json = isinstance(kind, exp.DataType) and kind.this == exp.DataType.Type.JSON
    if json:
        inside: exp.Expression = exp.JSONExtract(this=value, expression=path.copy())
        scalar: exp.Expression = exp.JSONExtract(
            this=exp.Anonymous(this="json_array", expressions=[value.copy()]),
            expression=exp.Literal.string("$[0]"),
        )
    else:
        inside = exp.JSONExtractScalar(this=value, expression=path.copy())
        scalar = value.copy()
    itself = exp.EQ(this=path.copy(), expression=exp.Literal.string("$"))
    read = exp.Case(ifs=[exp.If(this=container, true=inside), exp.If(this=itself, true=scalar)])
    if isinstance(kind, exp.DataType) and kind.this in _INTEGERS:
        return exp.Cast(this=read, to=exp.DataType.build("INTEGER"))
    if isinstance(kind, exp.DataType) and kind.this in _REALS:
        return exp.Cast(this=read, to=exp.DataType.build("REAL"))
    if isinstance(kind, exp.DataType) and kind.this in _TEXTS:
        return exp.Cast(this=read, to=exp.DataType.build("TEXT"))  # a number in a VARCHAR column: '1'
    return read


def _replace_references(tree: exp.Expression, table: exp.Expression, alias: str, columns: Columns) -> None:
    """Point every reference to the JSON_TABLE's columns at their expressions."""
    folded = alias.lower()
    for select in list(tree.find_all(exp.Select)):
        items: list[exp.Expression] = []
        for item in select.expressions:
            if isinstance(item, exp.Star) or (
                isinstance(item, exp.Column)
                and isinstance(item.this, exp.Star)
                and item.table.lower() == folded
            ):
                items.extend(_expanded(select, table, columns, everything=isinstance(item, exp.Star)))
            elif isinstance(item, exp.Column) and _names(item, folded, columns):
                items.append(_named(columns[item.name.lower()][1].copy(), item.name))
            else:
                items.append(item)
        select.set("expressions", items)
    for column in list(tree.find_all(exp.Column)):
        if _names(column, folded, columns) and not _inside(column, table):
            column.replace(columns[column.name.lower()][1].copy())


def _named(expression: exp.Expression, name: str) -> exp.Expression:
    return exp.Alias(this=expression, alias=exp.to_identifier(name))


def _names(column: exp.Column, alias: str, columns: Columns) -> bool:
    if isinstance(column.this, exp.Star) or column.name.lower() not in columns:
        return False
    return not column.table or column.table.lower() == alias


def _inside(node: exp.Expression, ancestor: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _expanded(
    select: exp.Select, table: exp.Expression, columns: Columns, *, everything: bool
) -> list[exp.Expression]:
    """``jt.*`` (or ``*`` with ``everything``: every source in FROM order) as named columns."""
    own = [_named(expression.copy(), name) for name, expression in columns.values()]
    if not everything:
        return own
    out: list[exp.Expression] = []
    source = select.args.get("from_") or select.args.get("from")
    sources = [source.this] if isinstance(source, exp.From) else []
    sources += [join.this for join in select.args.get("joins") or []]
    for item in sources:
        if item is table:
            out.extend(own)
        else:
            name = item.alias_or_name if isinstance(item, (exp.Table, exp.Subquery)) else ""
            out.append(exp.Column(this=exp.Star(), table=exp.to_identifier(name)) if name else exp.Star())
    return out


def _qualify_others(tree: exp.Expression, table: exp.Expression, columns: Columns) -> None:
    """A lateral JSON_TABLE brings json_each's columns (``id``, ``key``, ``value``...) into scope: an
    unqualified column of that name meant the query's one other table, so it is qualified with it."""
    for select in list(tree.find_all(exp.Select)):
        source = select.args.get("from_") or select.args.get("from")
        sources = [source.this] if isinstance(source, exp.From) else []
        sources += [join.this for join in select.args.get("joins") or []]
        if table not in sources:
            continue
        others = [s for s in sources if s is not table and isinstance(s, (exp.Table, exp.Subquery))]
        if len(others) != 1 or not others[0].alias_or_name:
            continue
        owner = exp.to_identifier(others[0].alias_or_name)
        for column in list(select.find_all(exp.Column)):
            name = column.name.lower()
            if (
                not column.table
                and name in _EACH_COLUMNS
                and name not in columns
                and not _inside(column, table)
            ):
                column.set("table", owner.copy())
