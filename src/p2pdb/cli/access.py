"""``p2pdb grant``, ``p2pdb revoke`` and ``p2pdb acl``: a database's access rules from the shell.

They talk to the running node of ``--data-dir`` over its MySQL port (the address in ``node.json``),
as a MySQL account with GRANT OPTION, and run the same GRANT / REVOKE / information_schema queries a
MySQL client would (docs/security.md). The inputs are checked before they become a statement, since
GRANT cannot take placeholders.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

_PRIVILEGES = re.compile(r"^[A-Za-z ]+(?:\s*\([\w$, `]+\))?(?:\s*,\s*[A-Za-z ]+(?:\s*\([\w$, `]+\))?)*$")
_TARGET = re.compile(r"^(?:`[^`]+`|[\w$]+)\.(?:\*|`[^`]+`|[\w$]+)$")


def _peer(text: str) -> str:
    from p2pdb.sql.peer_grants import peer_of

    if peer_of(text) is None:
        raise click.BadParameter(f"{text!r} is not a peer id (12D3KooW...) or '*'")
    return text


def _connect(data_dir: Path, user: str, password: bool) -> Any:
    import pymysql

    from p2pdb.node import read_node_file

    info = read_node_file(data_dir)
    address = ((info or {}).get("addresses") or {}).get("mysql") if info else None
    if not address:
        raise click.ClickException(f"no running node in {data_dir} (start it first: p2pdb start)")
    host, _, port = address.rpartition(":")
    secret = click.prompt("Password", hide_input=True) if password else os.environ.get("MYSQL_PWD", "")
    try:
        return pymysql.connect(host=host, port=int(port), user=user, password=secret, autocommit=True)
    except pymysql.err.MySQLError as exc:
        raise click.ClickException(f"cannot connect to the node at {address}: {exc.args[-1]}") from exc


def _run(data_dir: Path, user: str, password: bool, sql: str) -> list[tuple[Any, ...]]:
    import pymysql

    conn = _connect(data_dir, user, password)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    except pymysql.err.MySQLError as exc:
        raise click.ClickException(f"{exc.args[0]}: {exc.args[-1]}") from exc
    finally:
        conn.close()


def change(
    kind: str, data_dir: Path, user: str, password: bool, privileges: str, target: str, peer: str
) -> None:
    if not _PRIVILEGES.match(privileges.strip()):
        raise click.BadParameter(f"privileges like 'INSERT, UPDATE (price)', not {privileges!r}")
    if not _TARGET.match(target):
        raise click.BadParameter(f"a database and table like shop.items or shop.*, not {target!r}")
    word = "TO" if kind == "GRANT" else "FROM"
    _run(data_dir, user, password, f"{kind} {privileges.strip()} ON {target} {word} '{_peer(peer)}'")
    click.echo(f"{kind.lower()}ed {privileges.strip()} on {target} {word.lower()} {peer}")


def show(data_dir: Path, user: str, password: bool, database: str, as_json: bool) -> None:
    sql = (
        "SELECT GRANTEE, TABLE_SCHEMA, NULL, NULL, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE NOT LIKE '%@%'"
        " UNION ALL SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, NULL, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE NOT LIKE '%@%'"
        " UNION ALL SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE NOT LIKE '%@%'"
    )
    rows = [r for r in _run(data_dir, user, password, sql) if r[1] == database]
    entries = [
        {
            "peer": str(g).strip("'"),
            "table": t,
            "column": c,
            "privilege": p,
            "owner": grantable == "YES",
        }
        for g, _, t, c, p, grantable in rows
    ]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo(f"{database}: no access rules in its log (anyone the configuration lets write may write)")
        return
    owners = sorted({e["peer"] for e in entries if e["owner"]})
    for owner in owners:
        click.echo(f"owner  {owner}")
    for e in entries:
        if e["owner"]:
            continue
        where = "*" if e["table"] is None else e["table"] + (f" ({e['column']})" if e["column"] else "")
        click.echo(f"grant  {e['privilege']:<11} {where:<24} {e['peer']}")
