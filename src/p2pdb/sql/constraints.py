"""CHECK constraints and foreign keys: kept in the replicated schema, enforced on local writes only.

A table's CHECK constraints and foreign keys are table meta (``p2pdb.schema.check_meta``) that every
replica holds and shows (SHOW CREATE TABLE, information_schema). They are enforced by TEMP triggers on
the writer connection that act only inside client statements (:mod:`.local_triggers`):

- CHECK: an INSERT or UPDATE whose row makes the expression false fails with 3819;
- FOREIGN KEY, child side: a row whose key (all non-NULL) has no parent row fails with 1452;
- FOREIGN KEY, parent side: deleting or changing the key of a row that children reference fails with
  1451 (RESTRICT, NO ACTION), or deletes / changes / clears the children (CASCADE, SET NULL; those
  changes are row changes of the same entry and replicate);
- ``SET foreign_key_checks = 0`` turns the foreign key triggers off for the session's statements.

Merges never enforce them: concurrent writes on two nodes (a child inserted where the parent is being
deleted) can leave orphans, as docs/mysql-compatibility.md ("DDL") explains.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from p2pdb.sql.protocol.errors import MySQLError
from p2pdb.store.schema import quote

if TYPE_CHECKING:
    from p2pdb.schema import Schema, TableSpec
    from p2pdb.store import Database

log = logging.getLogger(__name__)
CLIENT = "p2pdb_client_write()"
FK_CHECKS = "p2pdb_fk_checks()"
RAISED = "p2pdb-error:"


def _mysql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_columns(expression: str) -> list[str]:
    """The column names a CHECK expression reads."""
    tree = sqlglot.parse_one(expression, read="mysql")
    return sorted({str(c.name) for c in tree.find_all(exp.Column)})


def check_foreign_key(
    db: Database, table: str, name: str, fk: dict[str, Any], columns: Sequence[str], enforce: bool
) -> None:
    """MySQL's checks when a foreign key is declared (1072, 1824, 1822)."""
    own = {c.lower() for c in columns}
    for col in fk["c"]:
        if col.lower() not in own:
            raise MySQLError(1072, f"Key column '{col}' doesn't exist in table", "42000")
    if fk["rt"].lower() == table.lower():
        target = {c.lower() for c in columns}
    else:
        spec = db.catalog.table(fk["rt"])
        if spec is None:
            if not enforce:
                return
            raise MySQLError(1824, f"Failed to open the referenced table '{fk['rt']}'")
        target = {c.ident for c in spec.columns}
    for col in fk["rc"]:
        if col.lower() not in target:
            raise MySQLError(
                1822,
                f"Failed to add the foreign key constraint. Missing index for constraint '{name}'"
                f" in the referenced table '{fk['rt']}'",
            )


def _raise(code: int, message: str) -> str:
    return f"SELECT RAISE(ABORT, {_sql_string(f'{RAISED}{code}:{message}')})"


def _expression(text: str, row: str) -> str:
    """A MySQL expression over a row's columns as SQLite SQL over ``NEW``/``OLD``."""
    tree = sqlglot.parse_one(text, read="mysql")

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.column(str(node.name), table=row, quoted=True)
        return node

    return tree.transform(qualify).sql(dialect="sqlite")


def _fk_text(database: str, child: str, name: str, fk: dict[str, Any]) -> str:
    cols = ", ".join(_mysql_name(c) for c in fk["c"])
    refs = ", ".join(_mysql_name(c) for c in fk["rc"])
    return (
        f"({_mysql_name(database)}.{_mysql_name(child)}, CONSTRAINT {_mysql_name(name)} FOREIGN KEY ({cols})"
        f" REFERENCES {_mysql_name(fk['rt'])} ({refs}))"
    )


def triggers(database: str, schema: Schema) -> list[tuple[str, str]]:
    """(name suffix, CREATE TEMP TRIGGER body after its name) for every constraint of ``schema``."""
    out: list[tuple[str, str]] = []
    for table in schema.tables.values():
        spec = table.spec
        for key, value in sorted(spec.meta.items()):
            try:
                if key.startswith("ck:"):
                    out.extend(_check_triggers(spec, key[3:], value["e"]))
                elif key.startswith("fk:"):
                    parent = schema.table(value["rt"])
                    if parent is not None:
                        out.extend(_fk_triggers(database, spec, parent.spec, key[3:], value))
            except Exception:  # an expression this node cannot read (a peer's): not enforced here
                log.warning("constraint %s of %s.%s is not enforced", key, database, spec.name, exc_info=True)
    return out


def _check_triggers(spec: TableSpec, name: str, expression: str) -> list[tuple[str, str]]:
    condition = _expression(expression, "NEW")
    fail = _raise(3819, f"Check constraint '{name}' is violated.")
    out = []
    for event in ("INSERT", "UPDATE"):
        out.append(
            (
                f"ck_{spec.ident}_{name}_{event[0]}",
                f"BEFORE {event} ON main.{quote(spec.name)} FOR EACH ROW"
                f" WHEN {CLIENT} AND NOT coalesce(({condition}), 1) BEGIN {fail}; END",
            )
        )
    return out


def _fk_triggers(
    database: str, child: TableSpec, parent: TableSpec, name: str, fk: dict[str, Any]
) -> list[tuple[str, str]]:
    text = _fk_text(database, child.name, name, fk)
    pairs = list(zip(fk["c"], fk["rc"], strict=True))
    gate = f"{CLIENT} AND {FK_CHECKS}"
    new_set = " AND ".join(f"NEW.{quote(c)} IS NOT NULL" for c, _ in pairs)
    matches = " AND ".join(f"{quote(r)} = NEW.{quote(c)}" for c, r in pairs)
    orphan = f"NOT EXISTS (SELECT 1 FROM {quote(parent.name)} WHERE {matches})"
    add_fail = _raise(1452, f"Cannot add or update a child row: a foreign key constraint fails {text}")
    base = f"fk_{child.ident}_{name}"
    out = [
        (
            f"{base}_ci",
            f"BEFORE INSERT ON main.{quote(child.name)} FOR EACH ROW WHEN {gate} AND {new_set} AND {orphan}"
            f" BEGIN {add_fail}; END",
        ),
        (
            f"{base}_cu",
            f"BEFORE UPDATE ON main.{quote(child.name)} FOR EACH ROW WHEN {gate} AND {new_set} AND {orphan}"
            f" BEGIN {add_fail}; END",
        ),
    ]
    referencing = " AND ".join(f"{quote(c)} = OLD.{quote(r)}" for c, r in pairs)
    children = f"EXISTS (SELECT 1 FROM {quote(child.name)} WHERE {referencing})"
    key_changed = " OR ".join(f"NEW.{quote(r)} IS NOT OLD.{quote(r)}" for _, r in pairs)
    parent_fail = _raise(1451, f"Cannot delete or update a parent row: a foreign key constraint fails {text}")
    on_delete, on_update = fk["od"], fk["ou"]
    if on_delete == "CASCADE":
        action = f"DELETE FROM {quote(child.name)} WHERE {referencing}"
    elif on_delete == "SET NULL":
        action = f"UPDATE {quote(child.name)} SET " + ", ".join(f"{quote(c)} = NULL" for c, _ in pairs)
        action += f" WHERE {referencing}"
    else:
        action = parent_fail
    timing = "BEFORE" if action is parent_fail else "AFTER"
    out.append(
        (
            f"{base}_pd",
            f"{timing} DELETE ON main.{quote(parent.name)} FOR EACH ROW WHEN {gate} AND {children}"
            f" BEGIN {action}; END",
        )
    )
    if on_update == "CASCADE":
        action = f"UPDATE {quote(child.name)} SET " + ", ".join(
            f"{quote(c)} = NEW.{quote(r)}" for c, r in pairs
        )
        action += f" WHERE {referencing}"
    elif on_update == "SET NULL":
        action = f"UPDATE {quote(child.name)} SET " + ", ".join(f"{quote(c)} = NULL" for c, _ in pairs)
        action += f" WHERE {referencing}"
    else:
        action = parent_fail
    timing = "BEFORE" if action is parent_fail else "AFTER"
    out.append(
        (
            f"{base}_pu",
            f"{timing} UPDATE ON main.{quote(parent.name)} FOR EACH ROW WHEN {gate} AND ({key_changed})"
            f" AND {children} BEGIN {action}; END",
        )
    )
    return out
