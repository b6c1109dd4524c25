"""The change feed records every applied change, local or remote, in commit order."""

from __future__ import annotations

import contextlib

from p2pdb.log import Identity, Manifest
from p2pdb.store import Database


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
