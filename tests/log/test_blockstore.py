"""One conformance suite for every block store, plus SQLite persistence and transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from p2pdb.log import CID, BlockStore, MemoryBlockStore, SQLiteBlockStore, cid_for_block


def block(n: int) -> tuple[CID, bytes]:
    data = f"block {n}".encode()
    return cid_for_block(data), data


#: The table of files made before blocks were kept in arrival order: they keep it.
OLD_BLOCKS = "CREATE TABLE _p2pdb_blocks (cid BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID"


@pytest.fixture(
    params=["memory", "sqlite-file", "sqlite-file-old-layout", "sqlite3-connection", "apsw-in-transaction"]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlockStore]:
    kind = request.param
    if kind == "memory":
        yield MemoryBlockStore()
    elif kind == "sqlite-file":
        yield SQLiteBlockStore(str(tmp_path / "blocks.db"))
    elif kind == "sqlite-file-old-layout":
        with sqlite3.connect(tmp_path / "blocks.db") as old:
            old.execute(OLD_BLOCKS)
        yield SQLiteBlockStore(str(tmp_path / "blocks.db"))
    elif kind == "sqlite3-connection":
        conn = sqlite3.connect(tmp_path / "blocks.db", isolation_level=None)
        yield SQLiteBlockStore(conn, autocommit=True)
        conn.close()
    else:
        # The caller owns the transaction: every call runs inside its BEGIN ... COMMIT.
        aconn = apsw.Connection(str(tmp_path / "blocks.db"))
        aconn.execute("BEGIN")
        yield SQLiteBlockStore(aconn, autocommit=False)
        aconn.execute("COMMIT")
        aconn.close()


def test_is_a_block_store(store: BlockStore) -> None:
    assert isinstance(store, BlockStore)


def test_empty(store: BlockStore) -> None:
    cid, _ = block(1)
    assert store.get(cid) is None
    assert not store.has(cid)
    assert len(store) == 0
    assert list(store.cids()) == []
    assert store.get_heads("log") == []


def test_put_get_has(store: BlockStore) -> None:
    cid, data = block(1)
    store.put(cid, data)
    got = store.get(cid)
    assert got == data
    assert type(got) is bytes
    assert store.has(cid)
    assert len(store) == 1
    other, _ = block(2)
    assert store.get(other) is None
    assert not store.has(other)


def test_put_is_idempotent(store: BlockStore) -> None:
    cid, data = block(1)
    store.put(cid, data)
    store.put(cid, data)
    store.put_many([(cid, data), (cid, data)])
    assert len(store) == 1
    assert store.get(cid) == data


def test_put_many_and_cids(store: BlockStore) -> None:
    blocks = [block(n) for n in range(50)]
    store.put_many(iter(blocks))  # any iterable, consumed once
    assert len(store) == 50
    assert set(store.cids()) == {cid for cid, _ in blocks}
    assert all(isinstance(cid, CID) for cid in store.cids())
    for cid, data in blocks:
        assert store.get(cid) == data
    store.put_many([])
    assert len(store) == 50


def test_delete(store: BlockStore) -> None:
    (c1, d1), (c2, d2) = block(1), block(2)
    store.put_many([(c1, d1), (c2, d2)])
    store.delete(c1)
    assert store.get(c1) is None
    assert not store.has(c1)
    assert store.get(c2) == d2
    assert len(store) == 1
    store.delete(c1)  # deleting a missing block is a no-op
    assert list(store.cids()) == [c2]
    store.put(c1, d1)  # and it can come back
    assert store.get(c1) == d1


def test_heads(store: BlockStore) -> None:
    cids = [block(n)[0] for n in range(4)]
    store.set_heads("a", [cids[2], cids[0], cids[1]])
    assert store.get_heads("a") == [cids[2], cids[0], cids[1]]  # the order given
    assert all(isinstance(c, CID) for c in store.get_heads("a"))
    store.set_heads("b", [cids[3]])
    store.set_heads("a", [cids[1]])  # replaces
    assert store.get_heads("a") == [cids[1]]
    assert store.get_heads("b") == [cids[3]]
    store.set_heads("a", [])
    assert store.get_heads("a") == []
    assert store.get_heads("c") == []
    assert len(store) == 0  # heads are not blocks


def test_new_files_keep_blocks_in_arrival_order_and_old_files_keep_their_table(tmp_path: Path) -> None:
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute(OLD_BLOCKS)
    for path in (new, old):
        store = SQLiteBlockStore(str(path))
        store.put_many([block(n) for n in range(3)])
        assert sorted(store.cids()) == sorted(block(n)[0] for n in range(3))
        del store

    def table_sql(path: Path) -> str:
        with sqlite3.connect(path) as conn:
            (sql,) = conn.execute("SELECT sql FROM sqlite_schema WHERE name = '_p2pdb_blocks'").fetchone()
        return str(sql)

    assert "id INTEGER PRIMARY KEY" in table_sql(new) and "WITHOUT ROWID" not in table_sql(new)
    assert table_sql(old) == OLD_BLOCKS
    with sqlite3.connect(new) as conn:  # rowids follow arrival
        assert [bytes(c) for (c,) in conn.execute("SELECT cid FROM _p2pdb_blocks ORDER BY id")] == [
            bytes(block(n)[0]) for n in range(3)
        ]


def test_sqlite_file_persists(tmp_path: Path) -> None:
    path = str(tmp_path / "blocks.db")
    first = SQLiteBlockStore(path)
    blocks = [block(n) for n in range(5)]
    first.put_many(blocks)
    first.set_heads("log", [blocks[4][0]])
    first.delete(blocks[0][0])
    second = SQLiteBlockStore(path)
    assert len(second) == 4
    assert second.get(blocks[3][0]) == blocks[3][1]
    assert second.get(blocks[0][0]) is None
    assert second.get_heads("log") == [blocks[4][0]]


def test_caller_transaction_commit_is_visible_elsewhere(tmp_path: Path) -> None:
    path = str(tmp_path / "blocks.db")
    conn = apsw.Connection(path)
    store = SQLiteBlockStore(conn, autocommit=False)
    cid, data = block(1)
    conn.execute("BEGIN")
    store.put(cid, data)
    store.set_heads("log", [cid])
    assert store.get(cid) == data  # visible inside the transaction
    conn.execute("COMMIT")
    other = SQLiteBlockStore(path)
    assert other.get(cid) == data
    assert other.get_heads("log") == [cid]


def test_caller_transaction_rollback_leaves_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "blocks.db")
    conn = apsw.Connection(path)
    store = SQLiteBlockStore(conn, autocommit=False)
    kept, kept_data = block(0)
    store.put(kept, kept_data)  # apsw autocommits outside an explicit transaction
    conn.execute("BEGIN")
    blocks = [block(n) for n in range(1, 4)]
    store.put_many(blocks)
    store.set_heads("log", [blocks[0][0]])
    store.delete(kept)
    assert len(store) == 3
    conn.execute("ROLLBACK")
    assert len(store) == 1
    assert store.get(kept) == kept_data
    assert store.get_heads("log") == []
    other = SQLiteBlockStore(path)
    assert set(other.cids()) == {kept}
    assert other.get_heads("log") == []


def test_autocommit_put_many_is_atomic(tmp_path: Path) -> None:
    store = SQLiteBlockStore(str(tmp_path / "blocks.db"))

    def failing() -> Iterator[tuple[CID, bytes]]:
        yield block(1)
        yield block(2)
        raise RuntimeError("source failed half way")

    with pytest.raises(RuntimeError):
        store.put_many(failing())
    assert len(store) == 0
    store.put_many([block(3)])  # the store is still usable
    assert len(store) == 1
