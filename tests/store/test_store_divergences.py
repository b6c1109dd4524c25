"""The divergences found by review (issue 9), each delivered to fresh replicas in every order.

Each test builds a small concurrent history on two or three writers, then hands the union of their
entries to new replicas in every permutation (and all at once, newest first), and asserts that all of
them show the same tables, rows, conflict records, UNIQUE settlement and rejections, and the expected
outcome.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from p2pdb.log import Entry
from p2pdb.store import Database

from .conftest import MakeDB
from .helpers import blocks_of, exchange, execute, sync


def entries_of(*dbs: Database) -> list[Entry]:
    seen: dict[bytes, Entry] = {}
    for db in dbs:
        for entry in db.log.traverse():
            seen[bytes(entry.cid)] = entry
    return list(seen.values())


def outcome(db: Database) -> tuple[Any, ...]:
    return (
        db.state_hash(),
        [(t.to_ipld(), db.catalog.schema.tables[t.ident].indexes) for t in db.tables()],
        db.conflicts.rows(),
        db.settler.records(),
        sorted((bytes(c), r) for c, r in db.rejected()),
    )


def every_order(make_db: MakeDB, entries: list[Entry], *, limit: int = 120) -> Database:
    """Deliver ``entries`` to fresh replicas one by one in every order (up to ``limit`` orders; blocks
    whose parents are missing wait) and all at once; assert they agree; return one of them."""
    results = []
    first: Database | None = None
    for n, order in enumerate(itertools.permutations(entries)):
        if n >= limit:
            break
        db = make_db(20 + n % 5)
        for entry in order:
            db.join([entry.block])
        assert not db.log.missing()
        results.append(outcome(db))
        first = first or db
    batch = make_db(30)
    batch.join([e.block for e in reversed(entries)])
    results.append(outcome(batch))
    assert all(r == results[0] for r in results), "replicas differ by delivery order"
    assert first is not None
    return first


def unique_table(db: Database, *, not_null: bool = False) -> None:
    db.write(execute(f"CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT{' NOT NULL' if not_null else ''})"))
    db.write(execute("CREATE UNIQUE INDEX p_v ON p (v)"))


def feed_rows(db: Database, table: str) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for change in db.changes.read(0, limit=10**6):
        if change.table != table or change.op == "ddl":
            continue
        if change.op == "delete":
            rows.pop(json.dumps(change.pk), None)
        else:
            rows[json.dumps(change.pk)] = change.row
    return rows


@pytest.mark.parametrize("not_null", [False, True])
def test_unique_value_returns_to_the_first_row_when_the_clash_goes(make_db: MakeDB, not_null: bool) -> None:
    # A inserts (1,'v'); B concurrently inserts (2,'v') with a higher clock, then deletes row 2.
    a, b = make_db(1), make_db(2)
    unique_table(a, not_null=not_null)
    sync(b, a)
    b.write(execute("INSERT INTO p VALUES (9, 'w')"))  # b's clock runs ahead of a's
    b.write(execute("DELETE FROM p WHERE id = 9"))
    a.write(execute("INSERT INTO p VALUES (1, 'v')"))
    b.write(execute("INSERT INTO p VALUES (2, 'v')"))
    middle = make_db(3)
    for db in (a, b):
        sync(middle, db)
    assert middle.query("SELECT id, v FROM p ORDER BY id") == (
        [(1, "v")] if not_null else [(1, "v"), (2, None)]
    )
    assert [r.kind for r in middle.conflict_records()] == ["unique"]
    b.write(execute("DELETE FROM p WHERE id = 2"))
    final = every_order(make_db, entries_of(a, b))
    assert final.query("SELECT id, v FROM p ORDER BY id") == [(1, "v")]
    assert final.conflict_records() == []


@pytest.mark.parametrize("not_null", [False, True])
def test_a_hidden_value_comes_back_when_its_holder_goes(make_db: MakeDB, not_null: bool) -> None:
    a, b = make_db(1), make_db(2)
    unique_table(a, not_null=not_null)
    sync(b, a)
    b.write(execute("INSERT INTO p VALUES (9, 'w')"))  # b's next write has the later clock
    a.write(execute("INSERT INTO p VALUES (1, 'v')"))  # the first writer keeps the value
    b.write(execute("INSERT INTO p VALUES (2, 'v')"))
    exchange(a, b)
    for db in (a, b):
        expected = [(1, "v"), (9, "w")] if not_null else [(1, "v"), (2, None), (9, "w")]
        assert db.query("SELECT id, v FROM p ORDER BY id") == expected
    a.write(execute("DELETE FROM p WHERE id = 1"))
    exchange(a, b)
    final = every_order(make_db, entries_of(a, b))
    for db in (a, b, final):
        assert db.query("SELECT id, v FROM p ORDER BY id") == [(2, "v"), (9, "w")]
        # The change feed told the reveal: folded, it gives the table.
        assert feed_rows(db, "p") == {"[2]": {"id": 2, "v": "v"}, "[9]": {"id": 9, "v": "w"}}
        assert db.conflict_records() == []


def test_unique_clash_is_recorded_the_same_everywhere(make_db: MakeDB) -> None:
    a, b, c = make_db(1), make_db(2), make_db(3)
    unique_table(a)
    sync(b, a)
    sync(c, a)
    for i, db in enumerate((a, b, c), 1):
        db.write(execute("INSERT INTO p VALUES (?, 'v')", (i,)))
    final = every_order(make_db, entries_of(a, b, c))
    # Same Lamport time: the lowest author key writes first and keeps the value.
    first = min((a, b, c), key=lambda db: db.identity.public_key)
    keeper = [a, b, c].index(first) + 1
    losers = [i for i in (1, 2, 3) if i != keeper]
    records = final.conflict_records()
    assert sorted((r.kind, r.key, r.subject) for r in records) == [("unique", [i], "p_v") for i in losers]
    assert final.query("SELECT id, v FROM p ORDER BY id") == [
        (i, "v" if i == keeper else None) for i in (1, 2, 3)
    ]


def test_create_unique_index_racing_a_duplicate_insert(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT)"))
    a.write(execute("INSERT INTO p VALUES (1, 'v')"))
    sync(b, a)
    a.write(execute("CREATE UNIQUE INDEX p_v ON p (v)"))
    b.write(execute("INSERT INTO p VALUES (2, 'v')"))  # b had no index yet: a legal write
    final = every_order(make_db, entries_of(a, b))
    assert final.rejected() == []  # nobody rejects the index or the insert, in any order
    assert final.query("SELECT id, v FROM p ORDER BY id") == [(1, "v"), (2, None)]
    assert [i.name for i in final.catalog.schema.tables["p"].indexes] == ["p_v"]


def test_concurrent_create_table_with_different_keys_in_every_order(make_db: MakeDB) -> None:
    a, b, c = make_db(1), make_db(2), make_db(3)
    c.write(execute("CREATE TABLE other (id INTEGER PRIMARY KEY)"))
    c.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))  # time 2: not the first
    a.write(execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)"))
    b.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
    a.write(execute("INSERT INTO t VALUES ('x', 1)"))
    b.write(execute("INSERT INTO t VALUES (7, 2)"))
    c.write(execute("INSERT INTO t VALUES (8, 3)"))
    final = every_order(make_db, entries_of(a, b, c))
    spec = final.catalog.table("t")
    assert spec is not None
    winner = a if a.identity.public_key < b.identity.public_key else b
    assert spec.pk == winner.tables()[-1].pk
    assert sorted(r.kind for r in final.conflict_records()).count("lost_write") >= 1


def test_names_differing_in_case_are_one_table_with_both_rows(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE Users (id INTEGER PRIMARY KEY, name TEXT)"))
    b.write(execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"))
    a.write(execute("INSERT INTO Users VALUES (1, 'ann')"))
    b.write(execute("INSERT INTO users VALUES (2, 'bob')"))
    final = every_order(make_db, entries_of(a, b))
    assert [t.name for t in final.tables()] == [
        "Users" if a.identity.public_key < b.identity.public_key else "users"
    ]
    assert final.query("SELECT id, name FROM users ORDER BY id") == [(1, "ann"), (2, "bob")]
    exchange(a, b)
    assert a.state_hash() == b.state_hash() == final.state_hash()


def test_rows_of_a_dropped_table_never_come_back(make_db: MakeDB) -> None:
    a = make_db(1)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    a.write(execute("INSERT INTO t VALUES (1, 'old'), (2, 'old')"))
    a.write(execute("DROP TABLE t"), allow_drop=True)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    a.write(execute("INSERT INTO t VALUES (3, 'new')"))
    final = every_order(make_db, entries_of(a), limit=1)
    assert final.query("SELECT id, v FROM t") == [(3, "new")]
    assert final.query("SELECT count(*) FROM _p2pdb_rows") == [(1,)]


def test_writes_concurrent_with_a_drop_are_recorded_as_lost(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    a.write(execute("INSERT INTO t VALUES (1, 'x')"))
    sync(b, a)
    a.write(execute("DROP TABLE t"), allow_drop=True)
    b.write(execute("INSERT INTO t VALUES (2, 'concurrent')"))
    final = every_order(make_db, entries_of(a, b))
    assert final.tables() == []
    lost = [r for r in final.conflict_records() if r.kind == "lost_write"]
    assert [(r.key, r.subject, r.lost) for r in lost] == [([2], "dropped", {"id": 2, "v": "concurrent"})]


def test_drop_and_a_concurrent_recreate_keep_only_the_new_generation(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    a.write(execute("INSERT INTO t VALUES (1, 'old')"))
    sync(b, a)
    a.write(execute("DROP TABLE t"), allow_drop=True)
    b.write(execute("DROP TABLE t"), allow_drop=True)
    b.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w INTEGER)"))
    b.write(execute("INSERT INTO t VALUES (2, 'new', 5)"))
    final = every_order(make_db, entries_of(a, b))
    assert final.query("SELECT * FROM t") == [(2, "new", 5)]


def test_concurrent_inserts_of_one_key_are_recorded(make_db: MakeDB) -> None:
    a, b, c = make_db(1), make_db(2), make_db(3)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    sync(b, a)
    sync(c, a)
    for name, db in (("a", a), ("b", b), ("c", c)):
        db.write(execute("INSERT INTO t VALUES (1, ?)", (name,)))
    final = every_order(make_db, entries_of(a, b, c))
    records = [r for r in final.conflict_records() if r.kind == "duplicate_key"]
    shown = final.query("SELECT v FROM t")[0][0]
    assert len(records) == 2 and shown not in {r.lost["v"] for r in records}
    assert {r.lost["v"] for r in records} | {shown} == {"a", "b", "c"}


def test_concurrent_add_column_of_different_types_keeps_every_row(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
    sync(b, a)
    a.write(execute("ALTER TABLE t ADD COLUMN c INTEGER"))
    b.write(execute("ALTER TABLE t ADD COLUMN c VARCHAR(20)"))
    a.write(execute("INSERT INTO t VALUES (1, 'one', 10)"))
    b.write(execute("INSERT INTO t VALUES (2, 'two', 'twenty')"))
    b.write(execute("INSERT INTO t VALUES (3, 'three', '30')"))
    final = every_order(make_db, entries_of(a, b), limit=40)
    rows = final.query("SELECT id, name, c FROM t ORDER BY id")
    assert [r[:2] for r in rows] == [(1, "one"), (2, "two"), (3, "three")]  # no row vanished
    records = final.conflict_records()
    assert any(r.kind == "schema" for r in records)
    if final.catalog.table("t").column("c").type == "INTEGER":  # type: ignore[union-attr]
        assert rows[1][2] is None and rows[2][2] == 30
        assert [(r.key, r.lost) for r in records if r.kind == "value"] == [
            ([2], {"c": "twenty"}),
            ([3], {"c": "30"}),
        ]
    else:
        assert rows[0][2] == "10"


def test_keyless_rows_replicate_with_duplicates(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE log (level TEXT, msg TEXT)"))
    a.write(execute("INSERT INTO log VALUES ('info', 'x'), ('info', 'x'), ('warn', 'y')"))
    sync(b, a)
    b.write(execute("UPDATE log SET msg = 'z' WHERE level = 'warn'"))
    a.write(execute("DELETE FROM log WHERE rowid IN (SELECT min(rowid) FROM log WHERE level = 'info')"))
    final = every_order(make_db, entries_of(a, b))
    assert final.query("SELECT level, msg FROM log ORDER BY level") == [("info", "x"), ("warn", "z")]
    exchange(a, b)
    assert a.state_hash() == b.state_hash() == final.state_hash()
    assert blocks_of(a)


def test_a_row_known_only_by_a_later_change_shows_its_key(make_db: MakeDB) -> None:
    """A peer may send an update of a row whose insert nobody has (legal ops, odd history): the row's
    key columns come from its key, not from cells it never had, the same on every replica."""
    from .helpers import Forger

    a = make_db(1)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    forger = Forger()
    forger.see(blocks_of(a))
    entry = forger.sign([{"t": "t", "k": [5], "cl": 1, "v": {"v": "orphan"}}])
    final = every_order(make_db, [*entries_of(a), entry])
    assert final.query("SELECT id, v FROM t") == [(5, "orphan")]
    assert final.rejected() == []


def test_a_claim_that_changes_without_a_visible_change_is_settled_again(make_db: MakeDB) -> None:
    """Two concurrent inserts of one key with the same UNIQUE value: merging the later one changes no
    visible value but makes the row's claim newer, so another row may now hold the value first."""
    a, b, c = make_db(1), make_db(2), make_db(3)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)"))
    for db in (b, c):
        sync(db, a)
    b.write(execute("CREATE INDEX t_s ON t (s)"))  # concurrently: one writer's index is not unique,
    c.write(execute("CREATE UNIQUE INDEX t_s ON t (s)"))  # the other's is; the earliest definition wins
    b.write(execute("INSERT INTO t VALUES (1, NULL)"))
    a.write(execute("INSERT INTO t VALUES (0, 'r')"))
    b.write(execute("INSERT INTO t VALUES (0, 'r')"))
    a.write(execute("INSERT INTO t VALUES (1, 'r')"))
    final = every_order(make_db, entries_of(a, b, c), limit=200)
    shown = final.query("SELECT id, s FROM t ORDER BY id")
    assert (
        sorted(v for _, v in shown if v is not None) == ["r"]
        or final.catalog.schema.tables["t"].indexes[0].unique is False
    )


def test_a_write_lost_to_a_key_contest_and_then_dropped_by_its_author_is_not_lost(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))  # time 1: this key wins
    b.write(execute("CREATE TABLE other (id INTEGER PRIMARY KEY)"))
    b.write(execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)"))  # time 2
    b.write(execute("INSERT INTO t VALUES ('k0', 'x')"))  # void wherever a's create is known
    sync(b, a)
    b.write(execute("DROP TABLE t"), allow_drop=True)  # saw both creates and its own write
    final = every_order(make_db, entries_of(a, b))
    assert final.tables()[0].name == "other" and len(final.tables()) == 1
    assert final.conflict_records() == [] or all(r.kind == "schema" for r in final.conflict_records())


def test_a_local_delete_ends_the_records_of_concurrent_inserts(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    sync(b, a)
    a.write(execute("INSERT INTO t VALUES (1, 'a')"))
    b.write(execute("INSERT INTO t VALUES (1, 'b')"))
    exchange(a, b)
    assert [r.kind for r in a.conflict_records()] == ["duplicate_key"]
    a.write(execute("DELETE FROM t WHERE id = 1"))  # the row life ends: so do its records
    exchange(a, b)
    assert a.conflict_records() == b.conflict_records() == []


def test_a_local_write_to_a_row_that_hides_a_value_tells_the_feed_what_sql_shows(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)"))
    a.write(execute("CREATE UNIQUE INDEX p_v ON p (v)"))
    sync(b, a)
    b.write(execute("INSERT INTO p VALUES (9, 'w', 0)"))  # b's next write has the later clock
    a.write(execute("INSERT INTO p VALUES (1, 'v', 0)"))
    b.write(execute("INSERT INTO p VALUES (2, 'v', 0)"))
    exchange(a, b)
    assert b.query("SELECT id, v FROM p WHERE id = 2") == [(2, None)]
    b.write(execute("UPDATE p SET n = 5 WHERE id = 2"))  # the row still hides 'v'
    assert feed_rows(b, "p")["[2]"] == {"id": 2, "v": None, "n": 5}


def test_cells_of_a_column_that_disappeared_show_when_it_is_defined_again(make_db: MakeDB) -> None:
    a, b, d = make_db(1), make_db(2), make_db(4)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))  # generation 1
    b.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))  # generation 2, concurrent
    a.write(execute("ALTER TABLE t ADD COLUMN c INTEGER"))  # applies to generation 1 only
    sync(d, a)  # d knows generation 1 and c
    exchange(a, b)
    b.write(execute("INSERT INTO t VALUES (3, 0, 7)"))  # a cell for c
    d.write(execute("DROP TABLE t"), allow_drop=True)  # drops generation 1: c goes, the row stays
    b.write(execute("ALTER TABLE t ADD COLUMN z INTEGER"))  # unrelated
    exchange(b, d)
    assert b.tables()[0].column("c") is None and b.query("SELECT id FROM t") == [(3,)]
    b.write(execute("ALTER TABLE t ADD COLUMN c REAL"))  # c again: the row's cell shows
    final = every_order(make_db, entries_of(a, b, d), limit=60)
    assert final.query("SELECT id, c FROM t") == [(3, 7.0)]
    assert b.query("SELECT id, c FROM t") == [(3, 7.0)]


def test_a_restarted_replica_reads_entries_against_their_past_schema(tmp_path: Any) -> None:
    """After a restart, the schema of every entry's causal past is rebuilt from the log's control
    sets, so entries concurrent with old schema changes are judged as before."""
    from p2pdb.store import FileEngine

    from .helpers import MANIFEST, seeded_identity

    a = Database(seeded_identity(1), MANIFEST, FileEngine(tmp_path / "a.sqlite"))
    b = Database(seeded_identity(2), MANIFEST, FileEngine(tmp_path / "b.sqlite"))
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    sync(b, a)
    a.write(execute("ALTER TABLE t ADD COLUMN w INTEGER"))
    a.write(execute("DROP TABLE t"), allow_drop=True)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    b.write(execute("INSERT INTO t VALUES (1, 'concurrent with the drop')"))
    before = (a.state_hash(), a.catalog.schema)
    a.close()
    again = Database(seeded_identity(1), MANIFEST, FileEngine(tmp_path / "a.sqlite"))
    assert (again.state_hash(), again.catalog.schema) == before
    again.join(blocks_of(b))
    assert again.query("SELECT * FROM t") == []  # b wrote to the dropped generation
    assert [r.kind for r in again.conflict_records()] == ["lost_write"]
    fresh = Database(seeded_identity(3), MANIFEST, FileEngine(tmp_path / "c.sqlite"))
    fresh.join(blocks_of(again))
    assert fresh.state_hash() == again.state_hash()
    for db in (again, b, fresh):
        db.close()


def test_a_failing_listener_does_not_fail_a_committed_write(db: Database) -> None:
    """Listeners run after COMMIT: a link that closed meanwhile must not turn an acknowledged
    commit into an error."""

    def broken(*_: Any) -> None:
        raise ConnectionError("link closed")

    db.listeners.append(broken)
    db.changes.listeners.append(broken)
    db.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    db.write(execute("INSERT INTO t VALUES (1)"))
    assert db.query("SELECT id FROM t") == [(1,)]


def note(kind: str, table: str, payload: Any) -> Any:
    """A ``Database.write`` callback making a schema change SQLite cannot express (as ALTER TABLE does)."""

    def fn(conn: Any) -> None:
        fn.db.catalog.note_change(kind, table, payload)  # type: ignore[attr-defined]

    return fn


def altered(db: Database, kind: str, table: str, payload: Any) -> None:
    fn = note(kind, table, payload)
    fn.db = db
    db.write(fn)


def test_drop_column_concurrent_with_writes_and_a_re_add_in_every_order(make_db: MakeDB) -> None:
    from p2pdb.schema import Column

    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, c INTEGER)"))
    a.write(execute("INSERT INTO t VALUES (1, 'one', 10)"))
    sync(b, a)
    altered(a, "drop_column", "t", "c")  # a drops c
    b.write(execute("INSERT INTO t VALUES (2, 'two', 20)"))  # b still writes c
    assert a.query("SELECT * FROM t") == [(1, "one")]
    sync(b, a)
    assert b.query("SELECT * FROM t ORDER BY id") == [(1, "one"), (2, "two")]
    b.write(execute("ALTER TABLE t ADD COLUMN d INTEGER"))
    altered(a, "add_column", "t", Column("c", "TEXT"))  # concurrent with b's d: both stay
    final = every_order(make_db, entries_of(a, b), limit=60)
    assert [c.name for c in final.tables()[0].columns] == ["id", "name", "d", "c"] or [
        c.name for c in final.tables()[0].columns
    ] == ["id", "name", "c", "d"]
    assert final.query("SELECT id, name, d FROM t ORDER BY id") == [(1, "one", None), (2, "two", None)]


def test_a_drop_column_leaves_a_concurrent_add_of_the_same_column(make_db: MakeDB) -> None:
    from p2pdb.schema import Column

    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER)"))
    sync(b, a)
    b.write(execute("CREATE TABLE u (id INTEGER PRIMARY KEY)"))
    altered(a, "drop_column", "t", "c")
    a.write(execute("ALTER TABLE t ADD COLUMN z TEXT"))
    altered(b, "modify_column", "t", Column("c", "TEXT"))  # concurrent with the drop: the drop wins
    final = every_order(make_db, entries_of(a, b), limit=60)
    assert final.catalog.table("t").column_names == ("id", "z")  # type: ignore[union-attr]


def test_concurrent_modify_column_keeps_the_latest_and_records_the_other(make_db: MakeDB) -> None:
    from p2pdb.schema import Column

    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT)"))
    a.write(execute("INSERT INTO t VALUES (1, '12')"))
    sync(b, a)
    altered(a, "modify_column", "t", Column("c", "INTEGER"))
    altered(b, "modify_column", "t", Column("c", "VARCHAR(1)", True, "'x'"))
    altered(b, "modify_column", "t", Column("c", "VARCHAR(1)", True, "'y'"))  # supersedes b's first
    b.write(execute("INSERT INTO t VALUES (2, 'z')"))
    final = every_order(make_db, entries_of(a, b), limit=60)
    column = final.catalog.table("t").column("c")  # type: ignore[union-attr]
    schema_records = [r for r in final.conflict_records() if r.kind == "schema"]
    assert len(schema_records) == 1
    if column == Column("c", "INTEGER"):
        assert final.query("SELECT id, c FROM t ORDER BY id") == [(1, 12), (2, None)]
    else:
        assert column == Column("c", "VARCHAR(1)", True, "'y'")
        assert final.query("SELECT id, c FROM t ORDER BY id") == [(1, "1"), (2, "z")]


def test_concurrent_table_meta_changes_keep_the_latest_per_key(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
    sync(b, a)
    altered(a, "table_meta", "t", ("cm", "from a"))
    altered(a, "table_meta", "t", ("ck:pos", {"e": "n > 0"}))
    altered(b, "table_meta", "t", ("cm", "from b"))
    altered(b, "table_meta", "t", ("ck:pos", None))  # b drops a check it never saw: nothing to drop
    b.write(execute("INSERT INTO t VALUES (1, -5)"))  # merges never enforce checks
    final = every_order(make_db, entries_of(a, b), limit=60)
    meta = final.catalog.table("t").meta  # type: ignore[union-attr]
    assert meta["cm"] in ("from a", "from b") and final.query("SELECT n FROM t") == [(-5,)]


def test_concurrent_column_moves_give_one_order_everywhere(make_db: MakeDB) -> None:
    from p2pdb.schema import Column

    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER, y TEXT)"))
    a.write(execute("INSERT INTO t VALUES (1, 2, 'three')"))
    sync(b, a)

    def placed(db: Database, kind: str, column: Column, at: str) -> None:
        def fn(conn: Any) -> None:
            db.catalog.note_change(kind, "t", column, at)

        db.write(fn)

    placed(a, "modify_column", Column("y", "TEXT"), "")  # y FIRST
    placed(b, "add_column", Column("z", "INTEGER"), "id")  # z AFTER id
    placed(b, "modify_column", Column("x", "INTEGER"), "y")  # x AFTER y
    final = every_order(make_db, entries_of(a, b), limit=60)
    names = final.catalog.table("t").column_names  # type: ignore[union-attr]
    assert sorted(names) == ["id", "x", "y", "z"]
    assert final.query(f"SELECT {', '.join(names)} FROM t") == [
        tuple({"id": 1, "x": 2, "y": "three", "z": None}[n] for n in names)
    ]


def test_concurrent_view_definitions_keep_the_latest_and_a_table_hides_a_view(make_db: MakeDB) -> None:
    from p2pdb.schema import ViewSpec

    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    sync(b, a)
    altered(a, "create_view", "v", ViewSpec("v", "SELECT 1", ()))
    altered(b, "create_view", "v", ViewSpec("v", "SELECT 2", ()))
    altered(b, "create_view", "w", ViewSpec("w", "SELECT 3", ()))
    a.write(execute("CREATE TABLE w (id INTEGER PRIMARY KEY)"))  # concurrent with b's view w
    views = set()
    for order in itertools.permutations(entries_of(a, b)):
        db = make_db(40)
        for entry in order:
            db.join([entry.block])
        views.add(tuple(sorted((k, v.query) for k, v in db.catalog.schema.views.items())))
        assert [t.name for t in db.tables()] == ["t", "w"]
    assert len(views) == 1
    (found,) = views
    assert [k for k, _ in found] == ["v"]  # the table w hides the view w everywhere
    exchange(a, b)
    altered(a, "drop_view", "v", "v")
    sync(b, a)
    assert b.catalog.schema.views == {}


def test_a_dropped_column_whose_last_cell_was_deleted_leaves_equal_merge_states(make_db: MakeDB) -> None:
    """Which columns rows hold orphaned cells for is a hint kept as a superset (a rebuild recomputes it,
    an add does not), so it depends on the order of arrival; the merge-state hash must not (found by
    the convergence property: one replica had dropped the column and deleted its last row locally)."""
    a, b, c = make_db(1), make_db(2), make_db(3)
    for db in (a, c):
        db.write(execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, s TEXT)"))
    a.write(lambda conn: a.catalog.note_change("drop_column", "t", "s"))  # as the SQL layer drops one
    c.write(execute("REPLACE INTO t (id, n, s) VALUES (1, 0, 'r')"))
    sync(b, c)
    b.write(lambda conn: b.catalog.note_change("drop_column", "t", "s"))
    b.write(execute("DELETE FROM t WHERE id = 1"))
    exchange(a, b, c)
    assert len({db.merge_state_hash() for db in (a, b, c)}) == 1
    assert outcome(a) == outcome(b) == outcome(c)
