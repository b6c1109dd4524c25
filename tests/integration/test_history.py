"""The history of a database on real nodes, through real clients: a row's versions with their
authors and times (``information_schema.P2PDB_HISTORY``, ``GET /v1/history``), and reads of a past
version (``SELECT … FOR SYSTEM_TIME AS OF``) with PyMySQL, mysql-connector and the mariadb CLI."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mysql.connector
import pymysql
import pytest

from tests.integration.cluster import NodeProcess, cluster, wait_until
from tests.integration.conftest import p2pdb

MARIADB = shutil.which("mariadb")
HISTORY = (
    "SELECT OP, ROW_DATA, CHANGED_COLUMNS, AUTHOR, CLOCK, ENTRY_CID, WALL_TIME"
    " FROM information_schema.P2PDB_HISTORY"
    " WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'items' AND ROW_KEY = '[1]' ORDER BY CLOCK"
)


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def rows(node: NodeProcess, sql: str) -> list[tuple[Any, ...]]:
    return node.query(sql, "shop")


def test_history_and_past_versions_of_rows_written_on_two_nodes(tmp_path: Path) -> None:
    with cluster(tmp_path, 2, extra=["--http-port", "auto"]) as (a, b):
        a.query("CREATE DATABASE shop")
        rows(a, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT)")
        rows(a, "INSERT INTO items VALUES (1, 'apple', 3), (2, 'pear', 1)")
        wait_until(lambda: b.query("SHOW DATABASES LIKE 'shop'") and len(rows(b, "SELECT * FROM items")) == 2,
                   30, "the rows on b")  # fmt: skip
        time.sleep(0.05)
        before_update = now_text()  # the session time zone is UTC (SYSTEM on this node is UTC)
        time.sleep(0.05)
        rows(b, "UPDATE items SET qty = 5 WHERE id = 1")  # written on b
        wait_until(lambda: rows(a, "SELECT qty FROM items WHERE id = 1") == [(5,)], 30, "the update on a")
        rows(a, "DELETE FROM items WHERE id = 1")
        rows(a, "ALTER TABLE items ADD COLUMN price INT")
        wait_until(lambda: rows(b, "SELECT id FROM items") == [(2,)], 30, "the delete on b")

        # A row's history, the same on both nodes: who wrote each version, when, in which entry.
        ids = {a.status()["peer_id"]: "a", b.status()["peer_id"]: "b"}
        for node in (a, b):
            history = rows(node, HISTORY)
            assert [(op, json.loads(data), ids[author]) for op, data, _, author, *_ in history] == [
                ("insert", {"id": 1, "name": "apple", "qty": 3}, "a"),
                ("update", {"id": 1, "name": "apple", "qty": 5}, "b"),
                ("delete", {}, "a"),
            ]
            assert [json.loads(changed) for _, _, changed, *_ in history][1] == ["qty"]
            clocks = [clock for *_, clock, _, _ in history]
            assert clocks == sorted(clocks) and len(set(clocks)) == 3
            walls = [wall for *_, wall in history]
            assert all(isinstance(w, datetime.datetime) for w in walls)
            assert walls[0] <= datetime.datetime.fromisoformat(before_update) <= walls[1]
        update_cid = rows(b, HISTORY)[1][5]

        # GET /v1/history: the same versions, as JSON.
        url = f"http://{b.http_address}/v1/history?db=shop&table=items&key=%5B1%5D"
        versions = json.loads(urllib.request.urlopen(url, timeout=5).read())["versions"]
        assert [(v["op"], ids[v["author"]], v["cid"]) for v in versions][1] == ("update", "b", update_cid)
        assert [v["key"] for v in versions] == [[1], [1], [1]]
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(f"http://{b.http_address}/v1/history?db=shop&table=items&key=1", timeout=5)
        assert bad.value.code == 400

        # Past versions, through PyMySQL: at a time, and at an entry; the schema is the version's.
        at_time = f"SELECT * FROM items FOR SYSTEM_TIME AS OF TIMESTAMP '{before_update}' ORDER BY id"
        for node in (a, b):
            assert rows(node, at_time) == [(1, "apple", 3), (2, "pear", 1)]
            assert rows(node, f"SELECT * FROM items FOR SYSTEM_TIME AS OF '{update_cid}' ORDER BY id") == [
                (1, "apple", 5),
                (2, "pear", 1),
            ]
            assert rows(node, "SELECT * FROM items ORDER BY id") == [(2, "pear", 1, None)]
        aliased = f"SELECT i.qty FROM items FOR SYSTEM_TIME AS OF '{update_cid}' AS i WHERE i.id = 1"
        assert rows(a, aliased) == [(5,)]

        # mysql-connector (C-less pure Python protocol) and a prepared statement's text protocol.
        conn = mysql.connector.connect(host="127.0.0.1", port=a.mysql_port, user="root", database="shop")
        try:
            cur = conn.cursor()
            cur.execute(at_time)
            assert cur.fetchall() == [(1, "apple", 3), (2, "pear", 1)]
            # Errors keep the connection: a form P2PDB does not support, a point before the table.
            with pytest.raises(mysql.connector.Error) as refused:
                cur.execute("SELECT * FROM items FOR SYSTEM_TIME ALL")
            assert refused.value.errno == 1235
            with pytest.raises(mysql.connector.Error) as missing:
                cur.execute("SELECT * FROM items FOR SYSTEM_TIME AS OF TIMESTAMP '2001-01-01 00:00:00'")
            assert missing.value.errno == 1146
            with pytest.raises(mysql.connector.Error) as wrong:
                cur.execute("SELECT * FROM items FOR SYSTEM_TIME AS OF TIMESTAMP 'yesterday'")
            assert wrong.value.errno == 1210
            cur.execute("SELECT count(*) FROM items")
            assert cur.fetchall() == [(1,)]
        finally:
            conn.close()

        # The session's time zone reads the timestamp: the same instant two hours ahead.
        with pymysql.connect(host="127.0.0.1", port=b.mysql_port, user="root", database="shop") as conn:
            cur = conn.cursor()
            cur.execute("SET time_zone = '+02:00'")
            shifted = (datetime.datetime.fromisoformat(before_update) + datetime.timedelta(hours=2)).strftime(
                "%Y-%m-%d %H:%M:%S.%f"
            )
            cur.execute(f"SELECT qty FROM items FOR SYSTEM_TIME AS OF TIMESTAMP '{shifted}' WHERE id = 1")
            assert cur.fetchall() == ((3,),)

        # What changed since then: from SQL (P2PDB_DIFF) and from the CLI (p2pdb diff).
        diff = rows(
            b,
            "SELECT TABLE_NAME, ROW_KEY, CHANGE, OLD_ROW, NEW_ROW, CHANGED_COLUMNS FROM information_schema.P2PDB_DIFF"
            f" WHERE FROM_POINT = '{before_update}' AND TABLE_SCHEMA = 'shop' ORDER BY ROW_KEY",
        )
        assert [(t, json.loads(k), c, json.loads(old or "null"), json.loads(new or "null"), json.loads(cols))
                for t, k, c, old, new, cols in diff] == [
            ("items", [1], "removed", {"id": 1, "name": "apple", "qty": 3}, None, ["id", "name", "qty"]),
            ("items", [2], "changed", {"id": 2, "name": "pear", "qty": 1},
             {"id": 2, "name": "pear", "qty": 1, "price": None}, ["price"]),
        ]  # fmt: skip
        between = rows(
            b,
            "SELECT ROW_KEY, CHANGE, CHANGED_COLUMNS FROM information_schema.P2PDB_DIFF"
            f" WHERE FROM_POINT = '{before_update}' AND TO_POINT = '{update_cid}' AND TABLE_SCHEMA = 'shop'",
        )
        assert between == [("[1]", "changed", '["qty"]')]
        with pytest.raises(pymysql.err.OperationalError) as usage:
            rows(b, "SELECT * FROM information_schema.P2PDB_DIFF")
        assert usage.value.args[0] == 1210 and "FROM_POINT" in usage.value.args[1]
        cli = p2pdb("diff", "--data-dir", str(a.data_dir), "shop", before_update)
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.splitlines() == [
            '- items [1] {"id": 1, "name": "apple", "qty": 3}',
            "~ items [2] price: (no such column) -> null",
            "0 added, 1 changed, 1 removed",
        ]
        cli = p2pdb("diff", "--data-dir", str(a.data_dir), "shop", before_update, update_cid, "--json")
        assert [json.loads(line) for line in cli.stdout.splitlines()] == [
            {"table": "items", "key": [1], "change": "changed", "columns": ["qty"],
             "old": {"id": 1, "name": "apple", "qty": 3}, "new": {"id": 1, "name": "apple", "qty": 5}},
        ]  # fmt: skip
        bad = p2pdb("diff", "--data-dir", str(a.data_dir), "shop", "yesterday")
        assert bad.returncode == 1 and "neither a time" in bad.stderr

        if MARIADB is not None:
            result = subprocess.run(
                [MARIADB, "-h", "127.0.0.1", "-P", str(b.mysql_port), "-u", "root", "-N", "-B", "shop",
                 "-e", f"SELECT name, qty FROM items FOR SYSTEM_TIME AS OF '{update_cid}' ORDER BY id"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert result.stdout == "apple\t5\npear\t1\n"
