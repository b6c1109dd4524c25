"""Schema replication: DDL travels as entries and concurrent definitions merge deterministically."""

from __future__ import annotations

import apsw
import pytest

from p2pdb.log import Clock
from p2pdb.store import Column, Database, UnsupportedChange

from .conftest import MakeDB
from .helpers import Forger, blocks_of, ddl_ops, exchange, execute, sync


def sql_columns(db: Database, table: str) -> list[tuple[str, str, int, str | None, int]]:
    """What SQLite itself says about a table: (name, type, notnull, default, pk position)."""
    return [(r[1], r[2], r[3], r[4], r[5]) for r in db.query(f'PRAGMA table_info("{table}")')]


def sql_indexes(db: Database) -> list[tuple[str, str]]:
    return db.query(
        "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND name NOT LIKE '\\_p2pdb\\_%' ESCAPE '\\' ORDER BY 1"
    )


def conflicts(db: Database) -> list[tuple[str, str, str, int, bytes]]:
    """(kind, table, subject, time, author) of every conflict record, sorted."""
    return sorted(
        (kind, tbl, subject, time, author)
        for kind, tbl, _, subject, _, _, _, time, author in db.conflicts.rows()
    )


def test_create_table_replicates(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    src.write(
        lambda c: c.execute(
            "CREATE TABLE person (id INTEGER NOT NULL, name VARCHAR(20) NOT NULL DEFAULT 'x',"
            " born REAL, photo BLOB, PRIMARY KEY (id))"
        )
    )
    sync(dst, src)
    assert dst.tables() == src.tables()
    assert sql_columns(dst, "person") == sql_columns(src, "person")
    assert dst.state_hash() == src.state_hash()


def test_add_column_replicates_with_its_default(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    src.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"))
    src.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')"))
    sync(dst, src)
    entry = src.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 7")).entry
    assert entry is not None
    [op] = ddl_ops(entry)
    assert (op.kind, op.body["t"], op.body["col"]["n"]) == ("add_column", "t", "b")
    src.write(lambda c: c.execute("UPDATE t SET b = b * 2 WHERE id = 2"))
    sync(dst, src)
    assert sql_columns(dst, "t") == sql_columns(src, "t")
    assert dst.query("SELECT id, a, b FROM t ORDER BY id") == [(1, "one", 7), (2, "two", 14)]
    assert dst.state_hash() == src.state_hash()


def test_create_and_drop_index_replicate(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    src.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)"))
    src.write(lambda c: c.execute("CREATE UNIQUE INDEX t_a ON t (a)"))
    src.write(lambda c: c.execute("CREATE INDEX t_ab ON t (a, b)"))
    sync(dst, src)
    assert sql_indexes(dst) == [("t_a", "t"), ("t_ab", "t")]
    assert dst.query("PRAGMA index_info(t_ab)") == src.query("PRAGMA index_info(t_ab)")
    assert dst.query("SELECT \"unique\" FROM pragma_index_list('t') WHERE name = 't_a'") == [(1,)]
    entry = src.write(lambda c: c.execute("DROP INDEX t_ab")).entry
    assert entry is not None and [op.kind for op in ddl_ops(entry)] == ["drop_index"]
    sync(dst, src)
    assert sql_indexes(dst) == [("t_a", "t")]


def test_drop_table_is_refused_without_the_option(db: Database) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    db.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    length, state, specs = len(db.log), db.state_hash(), db.tables()
    with pytest.raises(UnsupportedChange):
        db.write(lambda c: c.execute("DROP TABLE t"))
    assert (len(db.log), db.state_hash(), db.tables()) == (length, state, specs)
    assert db.query("SELECT id FROM t") == [(1,)]


def test_drop_table_replicates_with_the_option(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    src.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"))
    src.write(lambda c: c.execute("CREATE INDEX t_a ON t (a)"))
    src.write(lambda c: c.execute("CREATE TABLE keep (id INTEGER PRIMARY KEY)"))
    src.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'x')"))
    sync(dst, src)
    entry = src.write(lambda c: c.execute("DROP TABLE t"), allow_drop=True).entry
    assert entry is not None and [op.kind for op in ddl_ops(entry)] == ["drop_table"]
    sync(dst, src)
    for db in (src, dst):
        assert [t.name for t in db.tables()] == ["keep"]
        assert db.query("SELECT name FROM sqlite_schema WHERE name IN ('t', 't_a')") == []
    assert dst.state_hash() == src.state_hash()


def test_row_changes_concurrent_with_a_drop_are_void(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'x')"))
    sync(b, a)
    a.write(lambda c: c.execute("DROP TABLE t"), allow_drop=True)
    b.write(lambda c: c.execute("UPDATE t SET a = 'concurrent' WHERE id = 1"))
    b.write(lambda c: c.execute("INSERT INTO t VALUES (2, 'y')"))
    exchange(a, b)
    assert a.tables() == b.tables() == []
    assert a.state_hash() == b.state_hash()
    assert a.rejected() == b.rejected() == []


def test_concurrent_identical_create_table_merges(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    ddl = "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"
    a.write(lambda c: c.execute(ddl))
    b.write(lambda c: c.execute(ddl))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'from a')"))
    b.write(lambda c: c.execute("INSERT INTO t VALUES (2, 'from b')"))
    exchange(a, b)
    assert a.tables() == b.tables() and len(a.tables()) == 1
    assert a.query("SELECT * FROM t ORDER BY id") == [(1, "from a"), (2, "from b")]
    assert a.state_hash() == b.state_hash()
    assert conflicts(a) == conflicts(b) == []


def test_concurrent_compatible_create_table_gives_the_union(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, shared INTEGER)"))
    b.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b REAL, shared INTEGER)"))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'a1', 10)"))
    b.write(lambda c: c.execute("INSERT INTO t VALUES (2, 2.5, 20)"))
    exchange(a, b)
    for db in (a, b):
        [spec] = db.tables()
        assert sorted(spec.column_names) == ["a", "b", "id", "shared"]
        assert spec.pk == ("id",)
        assert db.query("SELECT id, a, b, shared FROM t ORDER BY id") == [
            (1, "a1", None, 10),
            (2, None, 2.5, 20),
        ]
        assert db.rejected() == []
    assert a.state_hash() == b.state_hash()
    assert conflicts(a) == conflicts(b) == []


def test_concurrent_incompatible_create_table_resolves_to_one_definition(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
    b.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)"))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 1)"))
    b.write(lambda c: c.execute("INSERT INTO t VALUES ('x', 2)"))
    # Both creates have time 1: the lower author key is the lower clock, whose definition wins.
    winner, loser = (a, b) if a.identity.public_key < b.identity.public_key else (b, a)
    winning_spec = winner.tables()
    exchange(a, b)
    assert a.tables() == b.tables() == winning_spec
    assert sql_columns(a, "t") == sql_columns(b, "t")
    assert a.state_hash() == b.state_hash()
    assert a.query("SELECT * FROM t") == winner.query("SELECT * FROM t")
    assert len(a.query("SELECT * FROM t")) == 1  # the winner's row; the loser's does not fit
    # Both replicas record the same conflicts: the losing definition (its clock) and the row written
    # against it, which no longer applies.
    assert conflicts(a) == conflicts(b)
    assert conflicts(a) == [
        ("lost_write", "t", "primary_key", 2, loser.identity.public_key),
        ("schema", "t", "primary_key:t", 1, loser.identity.public_key),
    ]


def test_row_change_waits_for_its_table(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    create = src.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")).entry
    insert = src.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'x')")).entry
    assert create is not None and insert is not None
    first = dst.join([insert.block])
    assert first.applied == [] and first.missing == {create.cid}
    assert dst.tables() == [] and dst.rejected() == []
    second = dst.join([create.block])
    assert [e.cid for e in second.applied] == [create.cid, insert.cid]
    assert dst.query("SELECT * FROM t") == [(1, "x")]
    assert dst.state_hash() == src.state_hash()


def test_add_column_and_rows_delivered_out_of_order(make_db: MakeDB) -> None:
    src, dst = make_db(1), make_db(2)
    src.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    src.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'd'"))
    src.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'set')"))
    src.write(lambda c: c.execute("INSERT INTO t (id) VALUES (2)"))
    result = dst.join(list(reversed(blocks_of(src))))
    assert len(result.applied) == 4 and not result.rejected_ops
    assert dst.query("SELECT * FROM t ORDER BY id") == [(1, "set"), (2, "d")]


def test_concurrent_add_column_and_insert(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"))
    sync(b, a)
    a.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 3"))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'a', 1)"))
    b.write(lambda c: c.execute("INSERT INTO t VALUES (2, 'b')"))
    b.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 3"))  # same definition
    exchange(a, b)
    assert a.query("SELECT id, a, n FROM t ORDER BY id") == [(1, "a", 1), (2, "b", 3)]
    assert a.state_hash() == b.state_hash()
    assert conflicts(a) == conflicts(b) == []


def test_concurrent_conflicting_add_column_converges(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    sync(b, a)
    a.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN c INTEGER"))
    b.write(lambda c: c.execute("ALTER TABLE t ADD COLUMN c TEXT"))
    a.write(lambda c: c.execute("INSERT INTO t VALUES (1, '5')"))
    b.write(lambda c: c.execute("INSERT INTO t VALUES (2, '6')"))
    exchange(a, b)
    assert a.tables() == b.tables()
    assert a.state_hash() == b.state_hash()
    # Both rows stay; the first definition (lower clock) wins, the other is a schema conflict, and a
    # value written under the losing TEXT definition shows as the winning type shows it.
    winner = a if a.identity.public_key < b.identity.public_key else b
    assert a.tables()[0].column("c") == winner.tables()[0].column("c")
    assert a.query("SELECT id, c FROM t ORDER BY id") == b.query("SELECT id, c FROM t ORDER BY id")
    assert len(a.query("SELECT id, c FROM t")) == 2
    assert conflicts(a) == conflicts(b)
    assert next(kind for kind, *_ in conflicts(a)) == "schema"


def test_table_without_primary_key_replicates(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(lambda c: c.execute("CREATE TABLE loose (a INTEGER, b TEXT)"))
    a.write(lambda c: c.execute("INSERT INTO loose VALUES (1, 'x'), (1, 'x'), (2, 'y')"))
    sync(b, a)
    b.write(lambda c: c.execute("UPDATE loose SET b = 'z' WHERE a = 2"))
    a.write(lambda c: c.execute("DELETE FROM loose WHERE rowid = (SELECT min(rowid) FROM loose)"))
    exchange(a, b)
    for db in (a, b):
        assert db.tables()[0].pk == ()
        assert db.query("SELECT a, b FROM loose ORDER BY a, b") == [(1, "x"), (2, "z")]
    assert a.state_hash() == b.state_hash()


def test_changing_existing_columns_is_refused(db: Database) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)"))
    length = len(db.log)
    for statement in ("ALTER TABLE t DROP COLUMN b", "ALTER TABLE t RENAME COLUMN a TO z"):
        with pytest.raises(UnsupportedChange):
            db.write(execute(statement))
    assert len(db.log) == length
    assert [c.name for c in db.tables()[0].columns] == ["id", "a", "b"]


def test_counter_table_from_a_replicated_definition_adds_increments(make_db: MakeDB) -> None:
    # No local SQL chooses a conflict rule yet; a replicated create_table naming one is honoured.
    a, b = make_db(1), make_db(2)
    spec = {
        "name": "hits",
        "cols": [
            {"n": "page", "t": "TEXT", "nn": True, "dv": None},
            {"n": "n", "t": "INTEGER", "nn": True, "dv": "0"},
            {"n": "label", "t": "TEXT", "nn": False, "dv": None},
        ],
        "pk": ["page"],
        "rule": {"rule": "counter", "columns": ["n"]},
    }
    create = Forger().sign([{"ddl": "create_table", "spec": spec}])
    for db in (a, b):
        assert db.join([create.block]).applied == [create]
    a.write(lambda c: c.execute("INSERT INTO hits (page) VALUES ('home')"))
    sync(b, a)
    a.write(lambda c: c.execute("UPDATE hits SET n = n + 1, label = 'a'"))
    b.write(lambda c: c.execute("UPDATE hits SET n = n + 2, label = 'b'"))
    b.write(lambda c: c.execute("UPDATE hits SET n = n + 3"))
    exchange(a, b)
    label = "a" if Clock(3, a.identity.public_key) > Clock(3, b.identity.public_key) else "b"
    assert a.query("SELECT page, n, label FROM hits") == b.query("SELECT page, n, label FROM hits")
    assert a.query("SELECT page, n, label FROM hits") == [("home", 6, label)]
    assert a.tables()[0].rule == {"rule": "counter", "columns": ["n"]}
    assert isinstance(a.tables()[0].columns[0], Column)


def test_drop_and_a_newer_concurrent_create_converge(make_db: MakeDB) -> None:
    x, y, z = make_db(1), make_db(2), make_db(3)
    x.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"))
    sync(y, x)
    y.write(lambda c: c.execute("DROP TABLE t"), allow_drop=True)  # time 2
    z.write(lambda c: c.execute("CREATE TABLE other (id INTEGER PRIMARY KEY)"))
    for i in range(3):
        z.write(execute("INSERT INTO other VALUES (?)", (i,)))
    z.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)"))  # time 5, never saw x's
    drop_first, create_first = make_db(4), make_db(5)
    for db in (x, y, z):
        sync(drop_first, db)
    for db in (x, z, y):
        sync(create_first, db)
    assert [t.name for t in drop_first.tables()] == [t.name for t in create_first.tables()]


def losing_and_winning(a: Database, b: Database) -> tuple[Database, Database]:
    """(loser, winner) of two concurrent CREATE TABLEs at the same time: the lower key wins."""
    return (b, a) if a.identity.public_key < b.identity.public_key else (a, b)


@pytest.mark.parametrize("fits", [True, False])
def test_indexes_of_a_rebuilt_table_match_the_winner(make_db: MakeDB, fits: bool) -> None:
    loser, winner = losing_and_winning(make_db(1), make_db(2))
    loser.write(execute("CREATE TABLE u (id INTEGER PRIMARY KEY, n INTEGER, m INTEGER)"))
    loser.write(execute(f"CREATE INDEX u_i ON u ({'n' if fits else 'm'})"))
    winner.write(execute("CREATE TABLE u (k TEXT PRIMARY KEY, n INTEGER)"))
    exchange(loser, winner)
    expected = [("u_i", "u")] if fits else []
    assert sql_indexes(loser) == sql_indexes(winner) == expected
    assert loser.catalog.indexes == winner.catalog.indexes
    # The rebuilt replica's next schema change replicates only itself (no DROP INDEX of u_i).
    entry = loser.write(execute("CREATE TABLE other (id INTEGER PRIMARY KEY)")).entry
    assert entry is not None and [op.kind for op in ddl_ops(entry)] == ["create_table"]
    exchange(loser, winner)
    assert sql_indexes(loser) == sql_indexes(winner) == expected


def test_transaction_on_a_losing_table_and_another_converges(make_db: MakeDB) -> None:
    loser, winner = losing_and_winning(make_db(1), make_db(2))
    for db in (loser, winner):
        db.write(execute("CREATE TABLE v (id INTEGER PRIMARY KEY, n INTEGER)"))
    loser.write(execute("CREATE TABLE u (id INTEGER PRIMARY KEY, n INTEGER)"))
    winner.write(execute("CREATE TABLE u (k TEXT PRIMARY KEY, n INTEGER)"))

    def both(conn: apsw.Connection) -> None:
        conn.execute("INSERT INTO u VALUES (1, 1)")
        conn.execute("INSERT INTO v VALUES (1, 1)")

    loser.write(both)
    exchange(loser, winner)
    assert loser.state_hash() == winner.state_hash()


def test_concurrent_inserts_under_a_unique_index_converge(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    a.write(execute("CREATE TABLE p (id INTEGER PRIMARY KEY, email TEXT)"))
    a.write(execute("CREATE UNIQUE INDEX p_email ON p (email)"))
    sync(b, a)
    a.write(execute("INSERT INTO p VALUES (1, 'x@example.org')"))
    b.write(execute("INSERT INTO p VALUES (2, 'x@example.org')"))
    exchange(a, b)
    assert a.state_hash() == b.state_hash()
    # Both rows survive; the later write (higher clock, then author key) keeps the unique value.
    rows = a.query("SELECT id, email FROM p ORDER BY id")
    assert len(rows) == 2 and sorted(r[1] is None for r in rows) == [False, True]
    assert a.rejected() == [] and b.rejected() == []


def test_unique_clash_on_a_not_null_column_converges_in_any_order(make_db: MakeDB) -> None:
    a, b, c = make_db(1), make_db(2), make_db(3)
    a.write(execute("CREATE TABLE p (id INTEGER PRIMARY KEY, email TEXT NOT NULL)"))
    a.write(execute("CREATE UNIQUE INDEX p_email ON p (email)"))
    sync(b, a)
    sync(c, a)
    a.write(execute("INSERT INTO p VALUES (1, 'x@example.org')"))
    b.write(execute("INSERT INTO p VALUES (2, 'x@example.org')"))
    c.write(execute("INSERT INTO p VALUES (3, 'x@example.org')"))
    first, second = make_db(4), make_db(5)
    for db in (a, b, c):
        sync(first, db)
    for db in (c, a, b):
        sync(second, db)
    assert first.state_hash() == second.state_hash()
    # One row shows the value; the others cannot show NULL in a NOT NULL column and stay hidden.
    assert len(first.query("SELECT id FROM p")) == 1
    assert first.rejected() == [] and second.rejected() == []
