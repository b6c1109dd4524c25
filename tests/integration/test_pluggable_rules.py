"""Conflict rules from installed packages (entry point group ``p2pdb.rules``), on real nodes.

The example package ``tests/rule_package`` provides rule ``max``. It is made installed for one node
only by putting the package and its ``.dist-info`` (with the entry point) on that node's
``PYTHONPATH``, as ``pip install`` would lay them out. A node without the rule holds the table's
entries back, says so, and merges them by the rule once it is installed and restarted: it never
merges them any other way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.integration.cluster import NodeProcess, wait_until

PACKAGE = Path(__file__).resolve().parent.parent / "rule_package" / "p2pdb_max_rule"


def installed(site: Path) -> dict[str, str]:
    """A directory holding the example rule package as pip installs it; the env that puts it on a
    node's path."""
    shutil.copytree(PACKAGE, site / "p2pdb_max_rule")
    info = site / "p2pdb_max_rule-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: p2pdb-max-rule\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[p2pdb.rules]\nmax = p2pdb_max_rule:MaxRule\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def scores(node: NodeProcess) -> list[tuple[Any, ...]]:
    return node.query("SELECT player, best, last_seen FROM scores ORDER BY player", "game")


def test_a_rule_from_a_package_merges_and_a_node_without_it_waits_until_it_has_it(tmp_path: Path) -> None:
    env = installed(tmp_path / "site")
    a = NodeProcess(tmp_path / "a", env=env).start()
    b = NodeProcess(tmp_path / "b", ["--bootstrap", a.p2p_address], env=env).start()
    bare = NodeProcess(tmp_path / "bare", ["--bootstrap", a.p2p_address]).start()  # no plugin
    try:
        a.query("CREATE DATABASE game")
        a.query(
            "CREATE TABLE scores (player VARCHAR(20) PRIMARY KEY, best INT, last_seen VARCHAR(20))"
            " COMMENT='p2pdb:max(best)'",
            "game",
        )
        a.query("INSERT INTO scores VALUES ('ann', 10, 'a')", "game")
        wait_until(lambda: b.query("SHOW DATABASES LIKE 'game'") != [] and scores(b) == [("ann", 10, "a")],
                   30, "the row on b")  # fmt: skip
        # Concurrent updates: the greater score wins everywhere, whatever the order; last_seen is LWW.
        a.query("UPDATE scores SET best = 50, last_seen = 'a' WHERE player = 'ann'", "game")
        b.query("UPDATE scores SET best = 30, last_seen = 'b' WHERE player = 'ann'", "game")
        wait_until(lambda: scores(a) == scores(b) and scores(a)[0][1] == 50, 30, "a and b agree on the max")
        b.query("UPDATE scores SET best = 20 WHERE player = 'ann'", "game")  # lower: the max stays
        a.query("INSERT INTO scores VALUES ('bob', 7, 'a')", "game")
        a.query("CREATE TABLE plain (id INT PRIMARY KEY)", "game")  # a table merged by the built-in rule
        a.query("INSERT INTO plain VALUES (1)", "game")
        wait_until(lambda: scores(a) == scores(b) and len(scores(a)) == 2, 30, "a and b agree")
        assert scores(a)[0][1] == 50

        # The node without the rule: the table exists, its entries wait; other tables replicate.
        wait_until(lambda: bare.query("SHOW DATABASES LIKE 'game'") != [] and
                   bare.query("SELECT id FROM plain", "game") == [(1,)], 30, "the plain table on bare")  # fmt: skip
        wait_until(lambda: (bare.status()["databases"] or [{}])[0].get("missing_rules") is not None, 10,
                   "the missing rule in p2pdb status")  # fmt: skip
        game = next(d for d in bare.status()["databases"] if d["name"] == "game")
        assert set(game["missing_rules"]) == {"max"} and game["missing_rules"]["max"] >= 4
        # Never merged by another rule: the table itself waits (its creation names the rule), and says so.
        with pytest.raises(pymysql.err.ProgrammingError) as waiting:
            scores(bare)
        assert (
            waiting.value.args[0] == 1146
            and "conflict rule 'max', which is not installed" in waiting.value.args[1]
        )
        text = subprocess.run(
            [sys.executable, "-m", "p2pdb", "status", "--data-dir", str(bare.data_dir)],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        assert "RULES    game: conflict rule 'max' is not installed here" in text
        assert "not installed here" in bare.log()  # said loudly in the node's log too
        with pytest.raises(pymysql.err.MySQLError) as refused:  # and it cannot write that table
            bare.query("INSERT INTO scores VALUES ('cid', 1, 'x')", "game")
        assert "max" in str(refused.value) and "not installed" in str(refused.value)
        assert bare.query("SELECT count(*) FROM plain", "game") == [(1,)]  # the connection stays usable

        # Installed and restarted: it merges what waited, by the rule, and agrees with the others.
        assert bare.stop() == 0
        bare.env = env
        bare.start()
        wait_until(lambda: scores(bare) == scores(a), 30, "bare agrees once it has the rule")
        assert scores(bare)[0][1] == 50
        wait_until(lambda: not next(d for d in bare.status()["databases"] if d["name"] == "game").get("missing_rules"),
                   10, "nothing waits any more")  # fmt: skip

        # A node that had the rule, restarted without it: that table refuses writes, not the others.
        assert b.stop() == 0
        b.env = {}
        b.start()
        b.query("INSERT INTO plain VALUES (2)", "game")
        with pytest.raises(pymysql.err.MySQLError) as refused:
            b.query("UPDATE scores SET best = 99 WHERE player = 'ann'", "game")
        assert "max" in str(refused.value) and "not installed" in str(refused.value)
        assert scores(b)[0][1] == 50  # still read as before
        wait_until(
            lambda: a.query("SELECT id FROM plain ORDER BY id", "game") == [(1,), (2,)], 30, "b's write on a"
        )
    finally:
        for node in (bare, b, a):
            node.stop()


def test_a_node_refuses_to_create_a_table_with_a_rule_it_does_not_have(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "n").start()
    try:
        node.query("CREATE DATABASE game")
        with pytest.raises(pymysql.err.MySQLError) as refused:
            node.query("CREATE TABLE s (id INT PRIMARY KEY, v INT) COMMENT='p2pdb:max(v)'", "game")
        assert "max" in str(refused.value)
        assert node.query("SHOW TABLES", "game") == []
    finally:
        node.stop()
