"""AUTO_INCREMENT across peers: MySQL's increment/offset scheme keeps concurrent inserts apart."""

from __future__ import annotations

import apsw
import pytest

from p2pdb.store import Database

from .conftest import MakeDB
from .helpers import exchange, seeded_identity, sync

ROWS_PER_PEER = 40


def insert_auto(db: Database, label: str) -> int:
    """Insert one row with the next AUTO_INCREMENT id, as the SQL layer does; return the id."""

    def fn(conn: apsw.Connection) -> int:
        new_id = db.next_auto_id("t", "id")
        conn.execute("INSERT INTO t (id, who) VALUES (?, ?)", (new_id, label))
        return new_id

    return db.write(fn).value


@pytest.mark.parametrize("increment", [10, 1024])
def test_concurrent_auto_ids_never_collide(make_db: MakeDB, increment: int) -> None:
    a = make_db(1, auto_increment_increment=increment, auto_increment_offset=3)
    b = make_db(2, auto_increment_increment=increment, auto_increment_offset=7)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
    sync(b, a)
    ids: dict[str, list[int]] = {"a": [], "b": []}
    for round_ in range(4):
        # Each round both peers insert concurrently; every other round they exchange in between.
        for _ in range(ROWS_PER_PEER // 4):
            ids["a"].append(insert_auto(a, "a"))
            ids["b"].append(insert_auto(b, "b"))
        if round_ % 2:
            exchange(a, b)
    exchange(a, b)
    assert a.state_hash() == b.state_hash()
    rows = a.query("SELECT id, who FROM t ORDER BY id")
    assert len(rows) == 2 * ROWS_PER_PEER  # no two inserts merged into one row
    assert sorted(ids["a"] + ids["b"]) == [r[0] for r in rows]
    for who, offset in (("a", 3), ("b", 7)):
        assert all(i % increment == offset for i in ids[who])
        assert ids[who] == sorted(ids[who]) and len(set(ids[who])) == len(ids[who])
        assert {r[0] for r in rows if r[1] == who} == set(ids[who])


def test_next_auto_id_follows_the_offset_above_the_maximum(db: Database) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    step, offset = db.auto_increment_increment, db.auto_increment_offset
    assert db.next_auto_id("t", "id") == offset
    db.write(lambda c: c.execute("INSERT INTO t VALUES (?, 'x')", (offset,)))
    assert db.next_auto_id("t", "id") == offset + step
    db.write(lambda c: c.execute("INSERT INTO t VALUES (?, 'far')", (10 * step + offset + 1,)))
    assert db.next_auto_id("t", "id") == 11 * step + offset


def test_offset_is_derived_from_the_key_and_validated(make_db: MakeDB) -> None:
    a, again = make_db(1), make_db(1)
    assert 1 <= a.auto_increment_offset <= a.auto_increment_increment
    assert a.auto_increment_offset == again.auto_increment_offset
    assert make_db(2).auto_increment_offset != a.auto_increment_offset  # true for these two seeds
    with pytest.raises(ValueError):
        Database(seeded_identity(3), a.manifest, auto_increment_increment=10, auto_increment_offset=11)
    with pytest.raises(ValueError):
        Database(seeded_identity(3), a.manifest, auto_increment_offset=0)


def test_ids_handed_out_are_not_reused_before_they_are_inserted(db: Database) -> None:
    # Two sessions may each hold an allocated id in an open transaction: they must differ.
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    first, second = db.next_auto_id("t", "id"), db.next_auto_id("t", "id")
    batch = db.next_auto_ids("t", "id", 3)
    step, offset = db.auto_increment_increment, db.auto_increment_offset
    allocated = [first, second, *batch]
    assert allocated == [offset + i * step for i in range(5)]
    assert db.next_auto_id("t", "id") == offset + 5 * step
