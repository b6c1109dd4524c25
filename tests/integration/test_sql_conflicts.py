"""``information_schema.P2PDB_CONFLICTS`` on real nodes: two nodes write the same key while apart,
then meet; both show the same conflict record through MySQL drivers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import mysql.connector
import pytest

from tests.integration.cluster import NodeProcess, wait_until

QUERY = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, KIND, ROW_KEY, SUBJECT, LOST_VALUES, ENTRY_CID, AUTHOR, CLOCK"
    " FROM information_schema.P2PDB_CONFLICTS WHERE TABLE_SCHEMA = 'shop' AND KIND = 'duplicate_key'"
)


@pytest.fixture
def apart(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """Two nodes that do not know each other (no bootstrap, no mDNS)."""
    nodes: list[NodeProcess] = []
    try:
        for name in ("a", "b"):
            nodes.append(NodeProcess(tmp_path / name).start())
        yield nodes[0], nodes[1]
    finally:
        codes = []
        for node in nodes:
            with contextlib.suppress(Exception):
                codes.append(node.stop())
        assert all(code == 0 for code in codes), codes


def test_concurrent_inserts_of_one_key_show_in_p2pdb_conflicts(
    apart: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = apart
    for node, value in ((a, "from-a"), (b, "from-b")):
        node.query("CREATE DATABASE shop")
        node.query("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "shop")
        node.query(f"INSERT INTO t VALUES (1, '{value}'), ({2 if node is a else 3}, 'own')", "shop")
        assert node.query("SELECT COUNT(*) FROM information_schema.P2PDB_CONFLICTS") == [(0,)]
    assert b.stop() == 0
    b.args = ["--bootstrap", a.p2p_address]
    b.start()
    wait_until(
        lambda: len(a.query(QUERY)) == 1 and len(b.query(QUERY)) == 1, 30, "the conflict on both nodes"
    )
    wait_until(lambda: a.query("SELECT * FROM t ORDER BY id", "shop") == b.query("SELECT * FROM t ORDER BY id", "shop"),
               30, "the same rows on both nodes")  # fmt: skip
    on_a, on_b = a.query(QUERY), b.query(QUERY)
    assert on_a == on_b
    ((schema, table, kind, key, subject, lost, cid, author, clock),) = on_a
    assert (schema, table, kind, json.loads(key)) == ("shop", "t", "duplicate_key", [1])
    assert subject and cid and author and clock > 0
    ((shown,),) = a.query("SELECT v FROM t WHERE id = 1", "shop")
    assert shown in ("from-a", "from-b")
    assert json.loads(lost) == {"id": 1, "v": "from-b" if shown == "from-a" else "from-a"}
    # another driver, from no current database; ROW_KEY and LOST_VALUES are JSON columns
    conn = mysql.connector.connect(host="127.0.0.1", port=b.mysql_port, user="root", password="")
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT KIND, ROW_KEY FROM information_schema.P2PDB_CONFLICTS WHERE KIND = %s", ("duplicate_key",)
        )
        rows = cursor.fetchall()
        assert [(kind, json.loads(str(key))) for kind, key in rows] == [("duplicate_key", [1])]
        assert cursor.description is not None and cursor.description[1][0] == "ROW_KEY"
    finally:
        conn.close()
