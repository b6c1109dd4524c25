"""The change feed records every applied change, local or remote, in commit order."""

from __future__ import annotations

import contextlib
from pathlib import Path

import apsw

from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, FileEngine


def _pair() -> tuple[Database, Database]:
    manifest = Manifest("feed")
    return Database(Identity.generate(), manifest), Database(Identity.generate(), manifest)


def test_local_and_remote_changes_are_in_the_feed_with_increasing_ids() -> None:
    a, b = _pair()
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)"))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'x', x'00ff'), (2, 'y', NULL)"))
    a.write(lambda c: c.execute("UPDATE t SET name = 'z' WHERE id = 1"))
    a.write(lambda c: c.execute("DELETE FROM t WHERE id = 2"))
    local = [c.to_json() for c in a.changes.read(0)]
    assert [c["op"] for c in local] == ["ddl", "insert", "insert", "update", "delete"]
    assert [c["id"] for c in local] == sorted(c["id"] for c in local)
    assert local[1]["row"] == {"id": 1, "name": "x", "data": {"$base64": "AP8="}}
    assert local[3]["changed"] == ["name"] and local[3]["row"]["name"] == "z"
    assert local[4]["pk"] == [2] and local[4]["row"] == {}
    assert local[1]["author"] == a.identity.peer_id and local[1]["cid"].startswith("bafy")
    b.join([e.block for e in a.log.traverse()])
    remote = [c.to_json() for c in b.changes.read(0)]
    # The remote replica saw the same changes (the row 2 insert and its delete both applied).
    assert [(c["op"], c["pk"]) for c in remote] == [(c["op"], c["pk"]) for c in local]
    assert all(c["author"] == a.identity.peer_id for c in remote)


def test_rolled_back_changes_never_appear_and_listeners_hear_commits() -> None:
    a, _ = _pair()
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(3))"))
    before = a.changes.last_id()
    with contextlib.suppress(Exception):
        a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'too long')"))
    assert a.changes.last_id() == before
    seen: list[int] = []
    a.changes.listeners.append(seen.append)
    a.write(lambda c: c.execute("INSERT INTO t VALUES (2, 'ok')"))
    assert seen == [before + 1]
    assert [c.op for c in a.changes.read(before)] == ["insert"]
    assert a.changes.read(before, table="other") == []


def _file_db(path: Path, identity: Identity) -> Database:
    return Database(identity, Manifest("feed"), FileEngine(path))


def _ids(db: Database) -> list[int]:
    return [c.id for c in db.changes.read(0)]


def test_ids_never_go_back_when_the_newest_events_are_forgotten(tmp_path: Path) -> None:
    """Pruning may delete the newest events (a light node forgets those of pruned entries): the
    next ids still come above every id given, also after a restart."""
    me = Identity.generate()
    db = _file_db(tmp_path / "feed.sqlite", me)
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    db.write(lambda c: c.execute("INSERT INTO t VALUES (1), (2), (3)"))
    highest = db.changes.last_id()
    db.conn.execute("BEGIN IMMEDIATE")
    db.changes.forget("id > 0")
    db.conn.execute("COMMIT")
    assert db.changes.last_id() == 0
    db.write(lambda c: c.execute("INSERT INTO t VALUES (4)"))
    assert _ids(db) == [highest + 1]
    db.conn.execute("BEGIN IMMEDIATE")
    db.changes.forget("id > 0")
    db.conn.execute("COMMIT")
    db.close()
    again = _file_db(tmp_path / "feed.sqlite", me)
    again.write(lambda c: c.execute("INSERT INTO t VALUES (5)"))
    assert _ids(again) == [highest + 2]
    # New files number the feed themselves: no AUTOINCREMENT page to rewrite in every commit.
    tables = {name for (name,) in again.conn.execute("SELECT name FROM sqlite_schema")}
    assert "sqlite_sequence" not in tables
    again.close()


def test_a_feed_made_with_an_autoincrement_key_goes_on_above_its_sequence(tmp_path: Path) -> None:
    """A file from before keeps its AUTOINCREMENT table: the ids go on above its sqlite_sequence,
    even when its rows are gone."""
    path = tmp_path / "old.sqlite"
    conn = apsw.Connection(str(path))
    conn.execute(
        "CREATE TABLE _p2pdb_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL,"
        " op TEXT NOT NULL, pk TEXT NOT NULL, row TEXT NOT NULL, changed TEXT NOT NULL, cid BLOB NOT NULL,"
        " author BLOB NOT NULL, time INTEGER NOT NULL, wall INTEGER)"
    )
    conn.execute(
        "INSERT INTO _p2pdb_changes VALUES (40, 't', 'insert', '[1]', '{}', '[]', x'00', x'00', 1, NULL)"
    )
    conn.execute("DELETE FROM _p2pdb_changes")
    conn.close()
    db = _file_db(path, Identity.generate())
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    assert _ids(db) == [41]
    db.close()
