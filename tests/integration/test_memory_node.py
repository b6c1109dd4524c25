"""``p2pdb start --memory``: a node whose databases live in memory only, replicating like any other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pymysql

from tests.integration.cluster import NodeProcess, cluster, wait_until
from tests.integration.conftest import NodeProcess as ConftestNode


def test_a_memory_node_replicates_keeps_no_database_file_and_catches_up_after_a_restart(
    tmp_path: Path,
) -> None:
    with cluster(tmp_path, 1) as (disk,):
        memory = NodeProcess(tmp_path / "memory", ["--memory", "--bootstrap", disk.p2p_address]).start()
        try:
            memory.query("CREATE DATABASE dev")
            memory.query("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", "dev")
            memory.query("INSERT INTO t VALUES (1, 'written in memory')", "dev")
            wait_until(lambda: disk.query("SHOW DATABASES LIKE 'dev'") != [] and
                       disk.query("SELECT v FROM t", "dev") == [("written in memory",)], 30, "the row on disk")  # fmt: skip
            disk.query("INSERT INTO t VALUES (2, 'written on disk')", "dev")
            wait_until(lambda: len(memory.query("SELECT * FROM t", "dev")) == 2, 30, "the row in memory")
            assert not list((memory.data_dir / "db").glob("*.sqlite")), "a memory node wrote a database file"
            # `p2pdb status` reads what the node file says of databases without a file (written every 2 s)
            wait_until(
                lambda: any(d["name"] == "dev" for d in memory.status()["databases"]), 10, "dev in status"
            )
            shown = memory.status()
            assert shown["storage"] == "memory"
            (dev,) = [d for d in shown["databases"] if d["name"] == "dev"]
            assert dev["entries"] >= 3 and dev["heads"]
            text = subprocess.run(
                [sys.executable, "-m", "p2pdb", "status", "--data-dir", str(memory.data_dir)],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout  # fmt: skip
            assert "storage  memory" in text and "dev" in text
            # Stopped, its databases are gone; started again, it catches up from its peer.
            assert memory.stop() == 0
            memory.start()
            memory.query("CREATE DATABASE IF NOT EXISTS dev")
            wait_until(
                lambda: memory.query("SELECT id FROM t ORDER BY id", "dev") == [(1,), (2,)], 30, "caught up"
            )
        finally:
            memory.stop()


def test_engine_memory_is_accepted_with_the_warning_mysql_gives_for_a_substituted_engine(
    node: ConftestNode,
) -> None:
    """ENGINE=MEMORY cannot mean "not kept" for a replicated table: the table is stored like every
    other, and the client is told so (warning 1266, as MySQL does when it substitutes an engine)."""
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("CREATE DATABASE engines")
        cur.execute("USE engines")
        cur.execute("CREATE TABLE m (id INT PRIMARY KEY) ENGINE=MEMORY")
        assert cur._result.warning_count == 1  # the OK packet's warning count
        cur.execute("SHOW WARNINGS")
        assert cur.fetchall() == (("Warning", 1266, "Using storage engine InnoDB for table 'm'"),)
        cur.execute("CREATE TABLE i (id INT PRIMARY KEY) ENGINE=InnoDB")
        assert cur._result.warning_count == 0
        cur.execute("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'engines' ORDER BY 1")
        assert cur.fetchall() == (("InnoDB",), ("InnoDB",))
    finally:
        conn.close()
