"""Conformance: replicating a database by joining its blocks, on both engines."""

from __future__ import annotations

from pathlib import Path

import apsw

from p2pdb.log import Entry
from p2pdb.store import Database, FileEngine

from .conftest import MakeDB
from .helpers import MANIFEST, blocks_of, exchange, execute, internal_counts, seeded_identity, sync


def populate(db: Database) -> None:
    """A history touching every kind of change: DDL, inserts, updates, deletes, re-inserts."""
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT)"))
    db.write(lambda c: c.execute("CREATE TABLE kv (k TEXT, part INTEGER, v BLOB, PRIMARY KEY (k, part))"))
    for i in range(1, 21):
        db.write(execute("INSERT INTO t VALUES (?, ?, ?)", (i, i * i, f"s{i}")))
    db.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', 1, x'00ff'), ('a', 2, NULL), ('b', 1, x'')"))
    db.write(lambda c: c.execute("UPDATE t SET n = n + 1 WHERE id % 3 = 0"))
    db.write(lambda c: c.execute("DELETE FROM t WHERE id > 15"))
    db.write(lambda c: c.execute("INSERT INTO t VALUES (16, -1, 'back')"))
    db.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN f REAL DEFAULT 0.5"))
    db.write(lambda c: c.execute("UPDATE t SET f = 1.25, s = NULL WHERE id = 2"))
    db.write(lambda c: c.execute("CREATE INDEX t_n ON t (n)"))
    db.write(lambda c: c.execute("DELETE FROM kv WHERE part = 2"))

    def table_and_rows(conn: apsw.Connection) -> None:  # DDL and rows of the new table in one entry
        conn.execute("CREATE TABLE tags (name TEXT PRIMARY KEY, weight REAL NOT NULL DEFAULT 1.5)")
        conn.execute("INSERT INTO tags (name) VALUES ('red'), ('green')")
        conn.execute("CREATE UNIQUE INDEX tags_weight_name ON tags (weight, name)")
        conn.execute("UPDATE t SET s = 'tagged' WHERE id = 1")

    db.write(table_and_rows)


def test_replica_converges_to_the_source(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    populate(src)
    result = sync(dst, src)
    assert [e.cid for e in result.applied] == [e.cid for e in src.log.traverse()]
    assert not result.rejected_ops and not result.missing and not result.rejected_blocks
    assert dst.state_hash() == src.state_hash()
    assert dst.tables() == src.tables()
    for table in ("t", "kv", "tags"):
        assert dst.query(f"SELECT * FROM {table} ORDER BY 1, 2") == src.query(
            f"SELECT * FROM {table} ORDER BY 1, 2"
        )
    assert dst.query("SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 't_n'") == [("t_n",)]
    for pk in [(i,) for i in range(1, 21)]:
        assert dst.row_state("t", pk) == src.row_state("t", pk)


def test_state_hash_sees_every_difference(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    populate(a)
    sync(b, a)
    assert a.state_hash() == b.state_hash()
    # Bypass the store on purpose: one changed cell must change the hash.
    b.conn.execute("UPDATE t SET s = 's4 ' WHERE id = 4")
    assert a.state_hash() != b.state_hash()
    b.conn.execute("UPDATE t SET s = 's4' WHERE id = 4")
    assert a.state_hash() == b.state_hash()
    b.conn.execute("UPDATE t SET s = x'7334' WHERE id = 4")  # the bytes of 's4', but a BLOB
    assert a.state_hash() != b.state_hash()
    b.conn.execute("UPDATE t SET s = 's4' WHERE id = 4")
    b.conn.execute("DELETE FROM tags WHERE name = 'red'")  # a whole row, in another table
    assert a.state_hash() != b.state_hash()


def test_applying_never_captures(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    populate(src)
    seen: list[tuple[Entry, bool]] = []
    dst.listeners.append(lambda entry, local: seen.append((entry, local)))
    sync(dst, src)
    assert len(dst.log) == len(src.log)
    assert dst.log.heads == src.log.heads
    assert {e.author for e in dst.log.traverse()} == {src.identity.public_key}
    assert len(seen) == len(src.log) and not any(local for _, local in seen)
    # Its next local entry names the source's head: nothing else was appended in between.
    entry = dst.write(lambda c: c.execute("INSERT INTO t (id, n) VALUES (100, 0)")).entry
    assert entry is not None and entry.parents == src.log.heads


def test_rejoining_the_same_blocks_is_a_noop(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    populate(src)
    sync(dst, src)
    state, counts, heads = dst.state_hash(), internal_counts(dst), dst.log.heads
    for blocks in (blocks_of(src), list(reversed(blocks_of(src))), blocks_of(src) * 2):
        result = dst.join(blocks)
        assert not result.applied and not result.rejected_ops and not result.missing
        assert (dst.state_hash(), internal_counts(dst), dst.log.heads) == (state, counts, heads)


def test_delivery_order_and_duplicates_do_not_matter(make_db: MakeDB) -> None:
    src, in_order, shuffled = make_db(1), make_db(2), make_db(3)
    populate(src)
    blocks = blocks_of(src)
    sync(in_order, src)
    # Newest first, each block twice, in two batches: every entry waits for its ancestors.
    reverse = list(reversed(blocks))
    first = shuffled.join(reverse[: len(reverse) // 2] * 2)
    assert not first.applied and first.missing
    second = shuffled.join(reverse[len(reverse) // 2 :])
    assert len(second.applied) == len(blocks) and not second.missing
    assert shuffled.state_hash() == in_order.state_hash() == src.state_hash()


def test_concurrent_writers_converge(make_db: MakeDB) -> None:
    a, b, c = make_db(1), make_db(2), make_db(3)
    a.write(lambda conn: conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT)"))
    a.write(lambda conn: conn.execute("INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')"))
    sync(b, a)
    sync(c, a)
    a.write(lambda conn: conn.execute("UPDATE t SET n = 10, s = 'from a' WHERE id = 1"))
    b.write(lambda conn: conn.execute("UPDATE t SET s = 'from b' WHERE id = 1"))
    b.write(lambda conn: conn.execute("DELETE FROM t WHERE id = 2"))
    c.write(lambda conn: conn.execute("UPDATE t SET n = n + 5 WHERE id = 2"))
    c.write(lambda conn: conn.execute("INSERT INTO t VALUES (4, 4, 'c4')"))
    exchange(a, b, c)
    assert a.state_hash() == b.state_hash() == c.state_hash()
    rows = a.query("SELECT id, n, s FROM t ORDER BY id")
    # Row 1: n only written by a; s written by a at time 3 and by b at time 3: the higher key wins.
    s_winner = "from a" if a.identity.public_key > b.identity.public_key else "from b"
    # Row 2: the delete is not older than the concurrent update: it wins.
    assert rows == [(1, 10, s_winner), (3, 3, "c"), (4, 4, "c4")]
    assert len(a.log) == len(b.log) == len(c.log) == 7


def test_reader_sees_committed_data(db: Database) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)"))
    db.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'one')"))
    reader = db.engine.reader()
    assert list(reader.execute("SELECT id, s FROM t")) == [(1, "one")]
    assert db.engine.location  # both engines say where they keep data


def test_file_reader_reads_while_a_write_is_open(tmp_path: Path) -> None:
    engine = FileEngine(tmp_path / "wal.sqlite")
    db = Database(seeded_identity(1), MANIFEST, engine)
    try:
        assert db.query("PRAGMA journal_mode") == [("wal",)]
        db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)"))
        db.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'one')"))
        reader = engine.reader()
        reader.setbusytimeout(0)  # a reader that had to wait for the writer would fail at once
        seen: list[list[tuple[int, str]]] = []

        def fn(conn: apsw.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (2, 'two')")
            # The write transaction is open and has written: the reader sees the last commit.
            seen.append([tuple(r) for r in reader.execute("SELECT id, s FROM t ORDER BY id")])

        db.write(fn)
        assert seen == [[(1, "one")]]
        assert [tuple(r) for r in reader.execute("SELECT id, s FROM t ORDER BY id")] == [
            (1, "one"),
            (2, "two"),
        ]
        # A second database object on the same file (a restart) sees everything, log included.
        db.close()  # closing twice (again in finally) is harmless
        again = Database(seeded_identity(1), MANIFEST, FileEngine(tmp_path / "wal.sqlite"))
        try:
            assert again.query("SELECT count(*) FROM t") == [(2,)]
            assert len(again.log) == 3 and [t.name for t in again.tables()] == ["t"]
        finally:
            again.close()
    finally:
        db.close()
