"""Conformance: local transactions become exactly one entry describing exactly what changed.

Every test runs on both engines (``db`` is parametrised in conftest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import apsw
import pytest

from p2pdb.crdt import RowChange, SqlValue
from p2pdb.log import CID, Entry
from p2pdb.store import Database, DDLOp, InvalidOps, UnsupportedChange, decode_ops

from .conftest import MakeDB
from .helpers import execute, internal_counts, row_ops

SCHEMA = "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, s TEXT)"


def run(db: Database, *statements: str) -> Entry:
    """Run ``statements`` as one transaction; assert it made exactly one entry, now the only head."""
    before = len(db.log)

    def fn(conn: apsw.Connection) -> None:
        for sql in statements:
            conn.execute(sql)

    entry = db.write(fn).entry
    assert entry is not None
    assert len(db.log) == before + 1
    assert db.log.heads == (entry.cid,)
    return entry


def changes(entry: Entry) -> dict[tuple[SqlValue, ...], RowChange]:
    """The entry's row changes by primary key (an entry holds at most one change per row)."""
    ops = row_ops(entry)
    by_pk = {op.pk: op for op in ops}
    assert len(by_pk) == len(ops), "two changes of one row in one entry"
    return by_pk


@pytest.fixture
def items(db: Database) -> Database:
    """``db`` with table ``items`` holding rows 1..4 (n = id, s = 'a'..'d')."""
    run(db, SCHEMA)
    run(db, "INSERT INTO items (id, n, s) VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c'), (4, 4, 'd')")
    return db


def test_create_table_is_one_ddl_op(db: Database) -> None:
    entry = run(db, SCHEMA)
    [op] = decode_ops(entry.ops)
    assert isinstance(op, DDLOp) and op.kind == "create_table"
    assert op.body["spec"]["name"] == "items"
    assert op.body["spec"]["pk"] == ["id"]
    assert [c["n"] for c in op.body["spec"]["cols"]] == ["id", "n", "s"]
    assert [t.name for t in db.tables()] == ["items"]


def test_single_row_insert(db: Database) -> None:
    run(db, SCHEMA)
    entry = run(db, "INSERT INTO items (id, n, s) VALUES (7, 70, 'x')")
    assert decode_ops(entry.ops) == [RowChange("items", (7,), 1, {"id": 7, "n": 70, "s": "x"}, insert=True)]
    state = db.row_state("items", (7,))
    assert state is not None and state.cl == 1 and state.alive


def test_insert_carries_defaults_of_omitted_columns(db: Database) -> None:
    run(db, SCHEMA)
    entry = run(db, "INSERT INTO items (id) VALUES (1)")
    assert decode_ops(entry.ops) == [RowChange("items", (1,), 1, {"id": 1, "n": 0, "s": None}, insert=True)]


def test_multi_row_insert(db: Database) -> None:
    run(db, SCHEMA)
    entry = run(db, "INSERT INTO items (id, n, s) VALUES (1, 10, 'a'), (2, 20, NULL), (3, 30, 'c')")
    assert changes(entry) == {
        (1,): RowChange("items", (1,), 1, {"id": 1, "n": 10, "s": "a"}, insert=True),
        (2,): RowChange("items", (2,), 1, {"id": 2, "n": 20, "s": None}, insert=True),
        (3,): RowChange("items", (3,), 1, {"id": 3, "n": 30, "s": "c"}, insert=True),
    }


def test_update_with_expression_carries_only_changed_rows_and_columns(items: Database) -> None:
    entry = run(items, "UPDATE items SET n = n + 10 WHERE id % 2 = 0")
    assert changes(entry) == {
        (2,): RowChange("items", (2,), 1, {"n": 12}),
        (4,): RowChange("items", (4,), 1, {"n": 14}),
    }
    assert items.query("SELECT id, n FROM items ORDER BY id") == [(1, 1), (2, 12), (3, 3), (4, 14)]


def test_update_of_two_columns_one_unchanged(items: Database) -> None:
    # s is set to the value it already has: only n changed on row 1.
    entry = run(items, "UPDATE items SET n = n * 5, s = 'a' WHERE id = 1")
    assert decode_ops(entry.ops) == [RowChange("items", (1,), 1, {"n": 5})]


def test_delete_with_where(items: Database) -> None:
    entry = run(items, "DELETE FROM items WHERE n >= 3")
    assert changes(entry) == {(3,): RowChange("items", (3,), 2), (4,): RowChange("items", (4,), 2)}
    state = items.row_state("items", (3,))
    assert state is not None and state.cl == 2 and not state.alive
    assert items.query("SELECT id FROM items ORDER BY id") == [(1,), (2,)]


def test_reinsert_after_delete_starts_a_new_life(items: Database) -> None:
    run(items, "DELETE FROM items WHERE id = 2")
    entry = run(items, "INSERT INTO items (id, n, s) VALUES (2, 99, 'again')")
    assert decode_ops(entry.ops) == [
        RowChange("items", (2,), 3, {"id": 2, "n": 99, "s": "again"}, insert=True)
    ]


def test_replace_of_existing_row_is_an_update_of_changed_columns(items: Database) -> None:
    entry = run(items, "REPLACE INTO items (id, n, s) VALUES (2, 2, 'z')")
    assert decode_ops(entry.ops) == [RowChange("items", (2,), 1, {"s": "z"})]


def test_replace_of_new_row_is_an_insert(items: Database) -> None:
    entry = run(items, "REPLACE INTO items (id, n, s) VALUES (9, 9, 'i')")
    assert decode_ops(entry.ops) == [RowChange("items", (9,), 1, {"id": 9, "n": 9, "s": "i"}, insert=True)]


def test_upsert(items: Database) -> None:
    entry = run(
        items,
        "INSERT INTO items (id, n, s) VALUES (1, 100, 'new'), (5, 5, 'e')"
        " ON CONFLICT (id) DO UPDATE SET n = n + excluded.n",
    )
    assert changes(entry) == {
        (1,): RowChange("items", (1,), 1, {"n": 101}),
        (5,): RowChange("items", (5,), 1, {"id": 5, "n": 5, "s": "e"}, insert=True),
    }


def test_several_statements_on_one_row_make_one_net_change(items: Database) -> None:
    entry = run(
        items,
        "INSERT INTO items (id, n, s) VALUES (6, 1, 'f')",
        "UPDATE items SET n = n + 1 WHERE id = 6",
        "UPDATE items SET s = 'changed' WHERE id = 1",
        "UPDATE items SET s = 'a' WHERE id = 1",  # back to its old value: no change of row 1
        "DELETE FROM items WHERE id = 4",
    )
    assert changes(entry) == {
        (6,): RowChange("items", (6,), 1, {"id": 6, "n": 2, "s": "f"}, insert=True),
        (4,): RowChange("items", (4,), 2),
    }


def test_ddl_and_rows_in_one_transaction(db: Database) -> None:
    entry = run(
        db, SCHEMA, "INSERT INTO items (id) VALUES (1)", "ALTER TABLE items ADD COLUMN z INTEGER DEFAULT 4"
    )
    ops = decode_ops(entry.ops)
    assert [op.kind for op in ops if isinstance(op, DDLOp)] == ["create_table"]
    assert [c.name for c in db.tables()[0].columns] == ["id", "n", "s", "z"]
    assert row_ops(entry) == [RowChange("items", (1,), 1, {"id": 1, "n": 0, "s": None, "z": 4}, insert=True)]


def test_write_returns_the_callback_value(items: Database) -> None:
    result = items.write(lambda conn: conn.execute("SELECT count(*) FROM items").fetchall()[0][0])
    assert result.value == 4
    assert result.entry is None


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM items",
        "UPDATE items SET n = n + 1 WHERE id > 100",
        "UPDATE items SET s = s",
        "DELETE FROM items WHERE id < 0",
        "INSERT OR IGNORE INTO items (id, n, s) VALUES (1, 50, 'ignored')",
    ],
)
def test_noop_transaction_creates_no_entry(items: Database, statement: str) -> None:
    length, heads, counts = len(items.log), items.log.heads, internal_counts(items)
    assert items.write(lambda conn: conn.execute(statement).fetchall()).entry is None
    assert (len(items.log), items.log.heads, internal_counts(items)) == (length, heads, counts)


def _raise_after(*statements: str) -> Callable[[apsw.Connection], None]:
    def fn(conn: apsw.Connection) -> None:
        for sql in statements:
            conn.execute(sql)
        raise RuntimeError("the application gave up")

    return fn


@pytest.mark.parametrize(
    "statements",
    [
        ("INSERT INTO items (id, n, s) VALUES (10, 1, 'x')",),
        ("UPDATE items SET n = n + 1", "DELETE FROM items WHERE id = 1"),
        ("CREATE TABLE other (k TEXT PRIMARY KEY)", "INSERT INTO other VALUES ('a')"),
        ("ALTER TABLE items ADD COLUMN extra TEXT", "UPDATE items SET extra = 'e'"),
        ("CREATE INDEX items_s ON items (s)",),
    ],
)
def test_raising_transaction_leaves_no_trace(items: Database, statements: tuple[str, ...]) -> None:
    length, heads, counts = len(items.log), items.log.heads, internal_counts(items)
    specs, state = items.tables(), items.state_hash()
    with pytest.raises(RuntimeError, match="gave up"):
        items.write(_raise_after(*statements))
    assert (len(items.log), items.log.heads, internal_counts(items)) == (length, heads, counts)
    assert items.tables() == specs
    assert items.state_hash() == state
    assert items.query("SELECT name FROM sqlite_schema WHERE name IN ('other', 'items_s')") == []
    # The database still works, and its next entry follows the heads left before the failure.
    entry = run(items, "INSERT INTO items (id) VALUES (11)")
    assert entry.parents == heads


def test_sql_error_rolls_back_the_whole_transaction(items: Database) -> None:
    length, state = len(items.log), items.state_hash()

    def fn(conn: apsw.Connection) -> None:
        conn.execute("INSERT INTO items (id) VALUES (20)")
        conn.execute("INSERT INTO items (id) VALUES (1)")  # duplicate primary key

    with pytest.raises(apsw.ConstraintError):
        items.write(fn)
    assert len(items.log) == length and items.state_hash() == state
    assert items.row_state("items", (20,)) is None


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE bad (a INTEGER CHECK (a > 0))",
        "CREATE TABLE bad (a INTEGER REFERENCES items (id))",
        "CREATE TABLE bad (a TEXT COLLATE NOCASE)",
        "CREATE TABLE bad (a INTEGER, b INTEGER AS (a + 1))",
        "CREATE TABLE bad (a INTEGER UNIQUE)",
        "CREATE TABLE bad (a INTEGER PRIMARY KEY) WITHOUT ROWID",
        "CREATE TABLE bad (a DATETIME)",
        "CREATE INDEX bad ON items (n DESC)",
        "CREATE INDEX bad ON items (n) WHERE n > 0",
    ],
)
def test_unreplicable_change_rolls_back(items: Database, ddl: str) -> None:
    length, state = len(items.log), items.state_hash()
    with pytest.raises(UnsupportedChange):
        items.write(lambda conn: conn.execute(ddl))
    assert len(items.log) == length and items.state_hash() == state
    assert items.query("SELECT name FROM sqlite_schema WHERE name = 'bad'") == []


def test_internal_tables_are_hidden(items: Database) -> None:
    run(items, "CREATE INDEX items_n ON items (n)", "DELETE FROM items WHERE id = 1")
    internal = [n for (n,) in items.query("SELECT name FROM sqlite_schema") if n.startswith("_p2pdb_")]
    assert {"_p2pdb_rows", "_p2pdb_blocks", "_p2pdb_heads", "_p2pdb_schema", "_p2pdb_rejected"} <= set(
        internal
    )
    assert [t.name for t in items.tables()] == ["items"]


def test_entries_chain_with_lamport_times(items: Database) -> None:
    first = run(items, "UPDATE items SET n = 0 WHERE id = 1")
    second = run(items, "UPDATE items SET n = 1 WHERE id = 1")
    assert second.parents == (first.cid,)
    assert second.clock.time == first.clock.time + 1
    assert second.author == items.identity.public_key


def test_failed_statement_does_not_rebuild_the_log_index(
    items: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rebuilding the index walks the whole log: a duplicate key must not cost that.
    reloads: list[int] = []
    reload = items.log.reload

    def counting_reload() -> None:
        reloads.append(1)
        reload()

    monkeypatch.setattr(items.log, "reload", counting_reload)
    with pytest.raises(apsw.ConstraintError):
        items.write(execute("INSERT INTO items (id) VALUES (1)"))
    assert reloads == []


def test_failure_inside_append_restores_the_log(items: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    length, heads, state = len(items.log), items.log.heads, items.state_hash()
    store = items.log.store

    class LosesHeads:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def set_heads(self, log_id: str, cids: Iterable[CID]) -> None:
            raise OSError("disk gone")

    monkeypatch.setattr(items.log, "store", LosesHeads())
    with pytest.raises(OSError, match="disk gone"):
        items.write(execute("INSERT INTO items (id) VALUES (50)"))
    monkeypatch.undo()
    assert (len(items.log), items.log.heads, items.state_hash()) == (length, heads, state)
    entry = run(items, "INSERT INTO items (id) VALUES (50)")
    assert entry.parents == heads


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO strict (id, n) VALUES (1, 'not a number')",
        "INSERT INTO strict (id, code) VALUES (1, 'abcd')",
        "INSERT INTO strict (id, big) VALUES (1, 'x' || printf('%.20c', 'x'))",
        "INSERT INTO strict (id, big) VALUES (1, zeroblob(21))",
    ],
    ids=["text into INTEGER", "VARCHAR(3) overflow", "text over max_value_size", "blob over max_value_size"],
)
def test_local_values_that_peers_would_refuse_are_refused(make_db: MakeDB, statement: str) -> None:
    db = make_db(1, max_value_size=20)
    db.write(execute("CREATE TABLE strict (id INTEGER PRIMARY KEY, n INTEGER, code VARCHAR(3), big BLOB)"))
    length, state = len(db.log), db.state_hash()
    with pytest.raises(InvalidOps):
        db.write(execute(statement))
    assert (len(db.log), db.state_hash()) == (length, state)
    assert db.query("SELECT count(*) FROM strict") == [(0,)]
