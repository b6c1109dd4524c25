"""`p2pdb verify` also checks the merge state behind the rows (issue 10, item 7): an edited row
state would otherwise pass and silently decide later merges of that row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import apsw

from p2pdb.crdt import Cell, RowState, decode_state, encode_state
from p2pdb.log import Clock
from p2pdb.store.stored_state import Authors, to_canonical, to_stored
from tests.integration.cluster import cluster


def _verify(data_dir: Path, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2pdb", "verify", "--data-dir", str(data_dir), database],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verify_detects_an_edited_merge_state(tmp_path: Path) -> None:
    with cluster(tmp_path, 1) as (node,):
        node.query("CREATE DATABASE shop")
        node.query("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "shop")
        node.query("INSERT INTO t VALUES (1, 'a')", "shop")
        assert _verify(node.data_dir, "shop").returncode == 0
        # Someone gives row 1's cell a version from the far future: later updates would lose to it.
        conn = apsw.Connection(str(node.data_dir / "db" / "shop.sqlite"))
        (pk, blob) = conn.execute("SELECT pk, state FROM _p2pdb_rows").fetchone()
        authors = Authors(conn)  # states are stored with local author numbers
        state = decode_state(to_canonical(blob, authors.key))
        cells = dict(state.cells)
        cells["v"] = Cell("a", Clock(10**9, cells["v"].version.id))
        forged = encode_state(RowState(state.cl, cells, state.contribs, state.origin))
        conn.execute("UPDATE _p2pdb_rows SET state = ? WHERE pk = ?", (to_stored(forged, authors.number), pk))
        conn.close()
        tampered = _verify(node.data_dir, "shop")
        assert tampered.returncode == 1, tampered.stdout + tampered.stderr
