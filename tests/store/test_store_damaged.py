"""One damaged database never takes the node down (issue 10): the others open, the damaged one is set
aside, started afresh and rebuilt from whatever blocks of it still verify; the rest comes from peers."""

from __future__ import annotations

from pathlib import Path

import apsw

from p2pdb.log import Identity
from p2pdb.store.registry import Registry, file_name

from .helpers import execute


def setup(data: Path, identity: Identity) -> bytes:
    """Two databases of six entries each; returns the CID of the fourth entry of ``bad`` (one with
    descendants: losing it breaks the stored history)."""
    registry = Registry(identity, data)
    middle = b""
    for name in ("good", "bad"):
        db = registry.create(name)
        db.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(5):
            db.write(execute("INSERT INTO t VALUES (?, ?)", (i, name)))
        middle = bytes(sorted(db.log.traverse(), key=lambda e: e.clock.time)[3].cid)
    registry.close()
    return middle


def test_a_missing_block_in_one_database_does_not_stop_the_others(tmp_path: Path) -> None:
    identity = Identity.generate()
    cid = setup(tmp_path, identity)
    path = tmp_path / "db" / file_name("bad")
    conn = apsw.Connection(str(path))
    # Lose one block in the middle of the history: the stored log no longer loads.
    assert conn.execute("DELETE FROM _p2pdb_blocks WHERE cid = ?", (cid,)) is not None
    assert conn.changes() == 1
    conn.close()
    registry = Registry(identity, tmp_path)
    try:
        good = registry.get("good")
        assert good is not None and good.query("SELECT count(*) FROM t") == [(5,)]
        assert "bad" in registry.damaged and "missing" in registry.damaged["bad"]
        bad = registry.get("bad")
        assert bad is not None
        # The lost block is what the repaired database waits for; peers send it like any missing entry.
        assert bad.log.missing() == {cid} or bad.log.pending_count > 0
        assert list((tmp_path / "db").glob("bad.sqlite.damaged-*"))
    finally:
        registry.close()


def test_an_unreadable_database_file_is_set_aside(tmp_path: Path) -> None:
    identity = Identity.generate()
    setup(tmp_path, identity)
    path = tmp_path / "db" / file_name("bad")
    path.write_bytes(b"this is not a database" * 100)
    registry = Registry(identity, tmp_path)
    try:
        assert registry.get("good") is not None
        bad = registry.get("bad")
        assert bad is not None and len(bad.log) == 0  # empty, to be filled from peers
        assert "bad" in registry.damaged
    finally:
        registry.close()
