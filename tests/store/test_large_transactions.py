"""Transactions larger than one log entry (p2pdb.store.parts, docs/crdt.md).

A transaction whose changes do not fit one entry is committed atomically on its node and logged as
a chain of entries: schema changes, updates and deletes first, new rows after. Replicas that take
the chain entry by entry end where the writer is, and never meet a conflict on the way.
"""

from __future__ import annotations

from typing import Any

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.crdt import RowChange
from p2pdb.log import Entry, Identity, Manifest, create_entry, decode_entry
from p2pdb.log.errors import TransactionTooLarge
from p2pdb.store import Database, MemoryEngine
from p2pdb.store.ops import decode_ops
from p2pdb.store.parts import plan_parts

MANIFEST = Manifest("big")
SMALL = 16 * 1024  # an entry limit that a few hundred rows exceed (parts of 2 KiB)


def db_of(n: int, limit: int | None = SMALL) -> Database:
    db = Database(Identity.from_seed(bytes([n]) * 32), MANIFEST, MemoryEngine())
    if limit is not None:
        db.log.max_entry_size = limit
    return db


def new_entries(db: Database, since: int) -> list[Entry]:
    return [e for e in db.log.traverse() if e.clock.time > since]


def rows_of(db: Database, table: str = "t") -> list[tuple[Any, ...]]:
    return list(db.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"))


def kinds(db: Database, entry: Entry) -> list[str]:
    return [
        "insert" if op.insert else ("delete" if op.cl % 2 == 0 else "update")
        for op in db.ops_of(entry, decode_ops(entry.ops))
        if isinstance(op, RowChange)
    ]


def test_new_rows_past_one_entry_are_logged_as_a_chain_that_replicas_take_one_by_one() -> None:
    writer, replica = db_of(1), db_of(2)
    writer.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, n INTEGER)"))
    writer.write(lambda c: c.execute("CREATE UNIQUE INDEX t_s ON t (s)"))
    # old rows with high ids: SQLite's changeset lists small ids first, so the old rows' changes
    # come after most new rows in it, and only the split's rule puts them in the first entry
    old = [(5000 + i, f"old{i}") for i in range(5)]
    writer.write(lambda c: c.executemany("INSERT INTO t VALUES (?, ?, 0)", old))
    replica.join([e.block for e in writer.log.traverse()])
    since = max(e.clock.time for e in writer.log.traverse())

    def bulk(conn: apsw.Connection) -> None:
        conn.execute("DELETE FROM t WHERE id = 5000")
        # a UNIQUE value moves from an old row to a new one: the update must come before the insert
        conn.execute("UPDATE t SET s = 'moved' WHERE id = 5001")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"value {i:06d}", i) for i in range(10, 800)])
        conn.execute("INSERT INTO t VALUES (5, 'old1', 5)")
        conn.execute("UPDATE t SET n = -1 WHERE id = 5002")

    result = writer.write(bulk)
    chain = new_entries(writer, since)
    assert len(chain) > 3 and all(len(e.block) <= SMALL for e in chain)
    assert result.entry == chain[-1] and writer.log.heads == (chain[-1].cid,)
    assert [e.clock.time for e in chain] == list(range(since + 1, since + 1 + len(chain)))
    # the first entry holds every change to an existing row; the others hold new rows only
    first = kinds(writer, chain[0])
    assert first.count("delete") == 1 and first.count("update") == 2
    assert all(set(kinds(writer, e)) == {"insert"} for e in chain[1:])
    assert sum(len(kinds(writer, e)) for e in chain) == 3 + 791

    # a replica taking the chain one entry at a time shows a part of it, never a conflict
    for i, entry in enumerate(chain):
        outcome = replica.join([entry.block])
        assert outcome.applied == [entry] and not outcome.rejected_ops
        assert replica.conflicts.rows() == []
        assert replica.conn.execute("SELECT id FROM t WHERE s = 'moved'").fetchall() == [(5001,)]
        if i < len(chain) - 1:
            assert len(rows_of(replica)) < len(rows_of(writer))
    assert rows_of(replica) == rows_of(writer)
    assert replica.state_hash() == writer.state_hash()
    # each row's merge state carries the clock of the entry that holds it, on both sides
    for table, pk in (("t", (10,)), ("t", (799,)), ("t", (5002,)), ("t", (5,))):
        assert writer.rows.get(table, pk) == replica.rows.get(table, pk)


def test_the_change_feed_tells_each_row_under_the_entry_that_carries_it() -> None:
    writer = db_of(1)
    writer.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)"))
    since = max(e.clock.time for e in writer.log.traverse())
    writer.write(lambda c: c.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 40) for i in range(600)]))
    chain = new_entries(writer, since)
    events = [c for c in writer.changes.read(0, limit=10**6) if c.table == "t" and c.op != "ddl"]
    assert len(events) == 600
    cids = [str(e.cid) for e in chain]
    assert sorted({c.cid for c in events}, key=cids.index) == cids
    per_entry = {cid: sum(1 for c in events if c.cid == cid) for cid in cids}
    assert per_entry == {str(e.cid): len(kinds(writer, e)) for e in chain}


def test_a_large_transaction_is_atomic_on_its_node() -> None:
    writer = db_of(1)
    writer.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)"))
    size = len(writer.log)

    def fails(conn: apsw.Connection) -> None:
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 40) for i in range(600)])
        conn.execute("INSERT INTO t VALUES (1, 'duplicate')")

    with pytest.raises(apsw.ConstraintError):
        writer.write(fails)
    assert rows_of(writer) == [] and len(writer.log) == size
    # and a later one that fails in the log (a change to existing rows too large) leaves nothing
    writer.write(lambda c: c.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x") for i in range(300)]))
    before, size = rows_of(writer), len(writer.log)
    heads = writer.log.heads
    with pytest.raises(TransactionTooLarge):
        writer.write(lambda c: c.execute("UPDATE t SET s = ?", ("y" * 100,)))
    assert rows_of(writer) == before and len(writer.log) == size and writer.log.heads == heads
    writer.write(lambda c: c.execute("UPDATE t SET s = 'z' WHERE id < 3"))  # the database goes on
    assert len(writer.log) == size + 1


def test_keyless_rows_and_schema_changes_in_a_large_transaction() -> None:
    writer, replica = db_of(1), db_of(2)
    since = 0

    def bulk(conn: apsw.Connection) -> None:
        conn.execute("CREATE TABLE kl (a INTEGER, b TEXT)")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)")
        conn.executemany("INSERT INTO kl VALUES (?, ?)", [(i % 7, f"row {i}") for i in range(500)])
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(300)])

    writer.write(bulk)
    chain = new_entries(writer, since)
    assert len(chain) > 2
    # the schema is in the first entry
    assert (
        writer.log.get(chain[0].cid) is not None and writer.ops_of(chain[0])[0].__class__.__name__ == "DDLOp"
    )
    rids = [pk for (pk,) in writer.conn.execute("SELECT pk FROM _p2pdb_rows WHERE tbl = 'kl'")]
    assert len(set(rids)) == 500
    replica.join([e.block for e in reversed(chain)])  # any order: the log waits for the parents
    assert replica.state_hash() == writer.state_hash()
    assert sorted(replica.conn.execute("SELECT a, b FROM kl")) == sorted(
        writer.conn.execute("SELECT a, b FROM kl")
    )


def test_a_large_transaction_in_one_entry_has_the_bytes_it_always_had() -> None:
    # (at ENCODE_EACH changes or more, each change is encoded alone and the bytes joined)
    writer = db_of(1, None)
    writer.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, x REAL, b BLOB)"))
    rows = [(i, f"row {i}" * (i % 3), i / 7, bytes([i % 256]) * (i % 5)) for i in range(2_000)]
    entry = writer.write(lambda c: c.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)).entry
    assert entry is not None and len(decode_ops(entry.ops)) == 2_000
    again = create_entry(
        writer.identity, writer.log.id, entry.clock, entry.parents, entry.ops, wall=entry.wall
    )
    assert again.block == entry.block and again.cid == entry.cid
    assert decode_entry(entry.block).ops == entry.ops


def test_the_default_limits_split_a_transaction_by_size_and_by_data_items() -> None:
    writer, replica = db_of(1, None), db_of(2, None)
    writer.write(
        lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c INTEGER)")
    )
    since = len(writer.log)
    # 80,000 rows of small integers: 2.6 MB, under 4 MiB, but more than 2**20 data items
    writer.write(lambda c: c.executemany("INSERT INTO t VALUES (?, 1, 2, 3)", [(i,) for i in range(80_000)]))
    chain = new_entries(writer, since)
    assert len(chain) >= 2
    writer.write(
        lambda c: c.executemany("INSERT INTO t VALUES (?, ?, 0, 0)", [(100_000 + i, i) for i in range(10)])
    )
    replica.join([e.block for e in writer.log.traverse()])
    assert replica.state_hash() == writer.state_hash()
    assert replica.conn.execute("SELECT COUNT(*) FROM t").fetchall() == [(80_010,)]


sizes = st.lists(st.integers(1, 60), max_size=40)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), sizes=sizes, fixed=st.integers(0, 50), budget=st.integers(1, 100))
def test_plan_parts_keeps_every_change_once_in_order_and_within_the_budget(
    data: st.DataObject, sizes: list[int], fixed: int, budget: int
) -> None:
    movable = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)))
    parts = plan_parts(sizes, movable, fixed, budget)
    flat = [i for part in parts for i in part]
    assert sorted(flat) == list(range(len(sizes)))  # every change exactly once
    assert all(part == sorted(part) for part in parts)  # in order within a part
    assert [i for i in flat if movable[i]] == sorted(i for i in flat if movable[i])  # new rows in order
    assert all(parts[1:]) and (not parts or parts[0] or fixed)  # no empty part but a first with ``fixed``
    held = sum(not free for free in movable) or fixed
    if held:  # the first part holds what may not move, and new rows only if all of it fits the budget
        assert parts and all(i in parts[0] for i, free in enumerate(movable) if not free)
        moved = [i for i in parts[0] if movable[i]]
        assert not moved or fixed + sum(sizes[i] for i in parts[0]) <= budget
    for part in parts[1:] if held else parts:  # each other part within the budget, or one change alone
        assert len(part) == 1 or sum(sizes[i] for i in part) <= budget
