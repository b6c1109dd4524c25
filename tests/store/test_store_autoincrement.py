"""AUTO_INCREMENT across peers: id classes given out through the log keep concurrent inserts apart."""

from __future__ import annotations

import apsw
import pytest

from p2pdb.store import Database, IdRangeExhausted, NoIdRange
from p2pdb.store.autoinc import FANOUT, IdClass

from .conftest import MakeDB
from .helpers import exchange, sync

ROWS_PER_PEER = 40


def insert_auto(db: Database, label: str) -> int:
    """Insert one row with the next AUTO_INCREMENT id, as the SQL layer does; return the id."""

    def fn(conn: apsw.Connection) -> int:
        new_id = db.next_auto_id("t", "id")
        conn.execute("INSERT INTO t (id, who) VALUES (?, ?)", (new_id, label))
        return new_id

    return db.write(fn).value


def test_a_lone_node_numbers_rows_like_mysql(db: Database) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    assert [insert_auto(db, "x") for _ in range(3)] == [1, 2, 3]
    cls = db.id_class()
    assert cls is not None and (cls.offset, cls.modulus) == (1, 1)
    db.write(lambda c: c.execute("INSERT INTO t VALUES (10, 'explicit')"))
    assert insert_auto(db, "y") == 11


def test_ids_handed_out_are_not_reused_before_they_are_inserted(db: Database) -> None:
    # Two sessions may each hold an allocated id in an open transaction: they must differ.
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    first, second = db.next_auto_id("t", "id"), db.next_auto_id("t", "id")
    batch = db.next_auto_ids("t", "id", 3)
    assert [first, second, *batch] == [1, 2, 3, 4, 5]
    assert db.next_auto_id("t", "id") == 6


def test_a_node_without_a_class_must_ask(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
    insert_auto(a, "a")  # a takes the root class
    sync(b, a)
    with pytest.raises(NoIdRange):
        b.next_auto_id("t", "id")
    assert a.grant_ids(b.identity.public_key)
    assert not a.grant_ids(b.identity.public_key)  # b holds one already
    sync(b, a)
    a_cls, b_cls = a.id_class(), b.id_class()
    assert a_cls is not None and b_cls is not None
    assert (a_cls.offset, a_cls.modulus) == (1, FANOUT) and (b_cls.offset, b_cls.modulus) == (2, FANOUT)
    # b generates above a's watermark, from its own class.
    assert insert_auto(b, "b") == 2
    assert insert_auto(a, "a") == 1 + FANOUT


def test_concurrent_auto_ids_never_collide(make_db: MakeDB) -> None:
    peers = [make_db(i) for i in range(1, 6)]
    root = peers[0]
    root.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
    insert_auto(root, "root")
    for peer in peers[1:]:
        sync(peer, root)
        assert root.grant_ids(peer.identity.public_key)
    # The second peer hands a part of its own class to a newcomer (grants are hierarchical).
    late = make_db(9)
    sync(late, root)
    for peer in peers[1:]:
        sync(peer, root)
    assert peers[1].grant_ids(late.identity.public_key)
    sync(late, peers[1])
    everyone = [*peers, late]
    ids: dict[int, list[int]] = {i: [] for i in range(len(everyone))}
    for round_ in range(4):
        for _ in range(ROWS_PER_PEER // 4):
            for i, peer in enumerate(everyone):
                ids[i].append(insert_auto(peer, str(i)))
        if round_ % 2:
            exchange(*everyone)
    exchange(*everyone)
    assert len({db.state_hash() for db in everyone}) == 1
    rows = root.query("SELECT id, who FROM t ORDER BY id")
    assert len(rows) == 1 + len(everyone) * ROWS_PER_PEER  # no two inserts merged into one row
    classes = [db.id_class() for db in everyone]
    assert all(c is not None for c in classes)
    for i, cls in enumerate(classes):
        assert cls is not None
        assert all(v % cls.modulus == cls.offset % cls.modulus for v in ids[i])
    assert root.conflicts.rows() == []


def test_ids_stay_within_the_column_type(db: Database) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    db.catalog.note_extras("t", {})  # no-op: the column type comes from the SQL layer's extras
    db.write(lambda c: c.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, who TEXT)"))
    spec = db.catalog.table("small")
    assert spec is not None
    # A TINYINT column (as the SQL layer declares it) ends at 127.
    db.write(lambda c: c.execute("INSERT INTO small VALUES (127, 'last')"))
    object.__setattr__(spec.columns[0], "extra", {"mt": "tinyint", "ai": True})
    with pytest.raises(IdRangeExhausted):
        db.next_auto_id("small", "id")


def test_first_above_follows_the_class() -> None:
    cls = IdClass(3, 16, {})
    assert cls.first_above(0) == 3
    assert cls.first_above(3) == 19
    assert cls.first_above(18) == 19
    assert cls.first_above(19) == 35
    assert IdClass(16, 16, {}).first_above(0) == 16
