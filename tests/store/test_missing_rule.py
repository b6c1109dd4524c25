"""A replica without a table's conflict rule holds the table's entries back and, once the rule is
installed, ends exactly where every replica that had it all along is: a property, with DDL, drops,
entries that touch two tables, and any delivery order."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.crdt import UnknownRule, _registry, is_known, register_rule
from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, MemoryEngine, StoreError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rule_package"))
from p2pdb_max_rule import MaxRule

MANIFEST = Manifest("rules")
if not is_known("max"):
    register_rule("max", MaxRule)


@contextlib.contextmanager
def without_rule(name: str) -> Iterator[None]:
    """The rule uninstalled for a while (what a replica without the package sees)."""
    factory = _registry._FACTORIES.pop(name)
    try:
        yield
    finally:
        _registry._FACTORIES[name] = factory


def db(seed: int) -> Database:
    return Database(Identity.from_seed(bytes([seed]) * 32), MANIFEST, MemoryEngine())


def run(target: Database, *statements: str) -> bool:
    """Run SQLite statements as one local transaction (the store's level: no MySQL syntax); False
    when the replica refuses it (no such table yet, say)."""

    def fn(conn: apsw.Connection) -> None:
        for statement in statements:
            if statement == MAX_TABLE:  # the SQL layer notes the rule of COMMENT='p2pdb:max(best)'
                target.catalog.note_rule("m", {"rule": "max", "columns": ["best"]})
            conn.execute(statement)

    try:
        target.write(fn, allow_drop=True)
    except (apsw.Error, ValueError, StoreError):
        return False
    return True


def outcome(target: Database) -> tuple[Any, ...]:
    return (
        target.state_hash(),
        target.merge_state_hash(),
        sorted(bytes(c) for c, _ in target.rejected()),
        [t.to_ipld() for t in target.tables()],
    )


MAX_TABLE = "CREATE TABLE m (id INTEGER PRIMARY KEY, best INTEGER, note TEXT)"
STATS: dict[str, int] = {"parked": 0, "examples": 0}
OPS = st.one_of(
    st.tuples(st.just("create_m"), st.integers(0, 1)),
    st.tuples(st.just("create_p"), st.integers(0, 1)),
    st.tuples(st.just("write_m"), st.integers(0, 1), st.integers(0, 3), st.integers(-5, 50)),
    st.tuples(st.just("write_p"), st.integers(0, 1), st.integers(0, 3), st.integers(-5, 50)),
    st.tuples(st.just("write_both"), st.integers(0, 1), st.integers(0, 3), st.integers(-5, 50)),
    st.tuples(st.just("drop_m"), st.integers(0, 1)),
    st.tuples(st.just("sync"), st.integers(0, 1)),
)


def apply(writers: list[Database], op: tuple[Any, ...]) -> None:
    kind, w = op[0], writers[op[1]]
    if kind == "create_m":
        if w.catalog.table("m") is None:
            run(w, MAX_TABLE)
    elif kind == "create_p":
        run(w, "CREATE TABLE IF NOT EXISTS p (id INTEGER PRIMARY KEY, v INTEGER)")
    elif kind == "write_m":
        run(
            w,
            f"INSERT INTO m VALUES ({op[2]}, {op[3]}, 'n{op[3]}') ON CONFLICT (id) DO UPDATE SET best = {op[3]}",
        )
    elif kind == "write_p":
        run(w, f"INSERT INTO p VALUES ({op[2]}, {op[3]}) ON CONFLICT (id) DO UPDATE SET v = {op[3]}")
    elif kind == "write_both":  # one transaction, one entry, touching both tables
        run(w, f"INSERT INTO p VALUES ({op[2]}, {op[3]}) ON CONFLICT (id) DO UPDATE SET v = {op[3]}",
            f"INSERT INTO m VALUES ({op[2]}, {op[3]}, 'b') ON CONFLICT (id) DO UPDATE SET best = {op[3]}")  # fmt: skip
    elif kind == "drop_m":
        run(w, "DROP TABLE IF EXISTS m")
    elif kind == "sync":  # the two writers exchange what they have
        other = writers[1 - op[1]]
        w.join([e.block for e in other.log.since(w.log.heads)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=25), order=st.randoms(use_true_random=False))
def test_a_replica_without_the_rule_ends_where_the_others_are_once_it_has_it(
    ops: list[Any], order: Any
) -> None:
    writers = [db(1), db(2)]
    bare, full = db(3), db(4)
    try:
        for op in ops:
            apply(writers, op)
        everything = [e.block for w in writers for e in w.log.traverse()]
        order.shuffle(everything)
        with without_rule("max"):
            for i in range(0, len(everything), 3):  # in pieces, ancestors often missing at first
                bare.join(everything[i : i + 3])
            bare.join(everything)
            assert not bare.log.missing()
            STATS["parked"] += sum(bare.parked().values())
            STATS["examples"] += 1
            # Nothing of a table it cannot merge was merged any other way: m is absent or empty.
            if any(t.name == "m" for t in bare.tables()):
                assert bare.query("SELECT count(*) FROM m") == [(0,)]
        full.join(everything)
        assert bare.open_parked() >= 0
        assert not bare.parked() and not bare.parked_tables
        assert outcome(bare) == outcome(full)
        for w in writers:  # and the writers, once they have exchanged everything
            w.join(everything)
            assert outcome(w) == outcome(full)
    finally:
        for d in (*writers, bare, full):
            d.close()


def test_the_property_above_did_hold_entries_back() -> None:
    """Not vacuous: over its examples, entries waited for the rule (run after the property)."""
    assert STATS["examples"] == 0 or STATS["parked"] > 0, STATS


def test_a_restarted_replica_applies_what_waited_for_a_rule_installed_meanwhile(tmp_path: Path) -> None:
    from p2pdb.store import FileEngine

    writer = db(1)
    assert run(writer, MAX_TABLE, "INSERT INTO m VALUES (1, 10, 'a')")
    assert run(writer, "UPDATE m SET best = 30 WHERE id = 1")
    assert run(writer, "UPDATE m SET best = 20 WHERE id = 1")  # lower: the max stays
    assert run(writer, "CREATE TABLE p (id INTEGER PRIMARY KEY)", "INSERT INTO p VALUES (1)")
    blocks = [e.block for e in writer.log.traverse()]
    path = tmp_path / "bare.sqlite"
    with without_rule("max"):
        bare = Database(Identity.from_seed(b"\x05" * 32), MANIFEST, FileEngine(path))
        bare.join(blocks)
        assert bare.parked() == {"max": 3} and bare.query("SELECT id FROM p") == [(1,)]
        bare.close()
        again = Database(Identity.from_seed(b"\x05" * 32), MANIFEST, FileEngine(path))  # still without it
        assert again.parked() == {"max": 3}
        again.close()
    restarted = Database(Identity.from_seed(b"\x05" * 32), MANIFEST, FileEngine(path))  # installed now
    try:
        assert not restarted.parked()
        assert restarted.query("SELECT id, best FROM m") == [(1, 30)]
        assert outcome(restarted) == outcome(writer)
    finally:
        restarted.close()
        writer.close()


def test_a_node_restarted_without_a_rule_still_writes_the_tables_that_do_not_use_it(tmp_path: Path) -> None:
    """The package of one table's rule gone after a restart: that table refuses local writes (nothing
    here may merge it), every other table of the database takes them as before."""
    from p2pdb.store import FileEngine

    path = tmp_path / "node.sqlite"
    me = Identity.from_seed(b"\x06" * 32)
    node = Database(me, MANIFEST, FileEngine(path))
    assert run(node, MAX_TABLE, "INSERT INTO m VALUES (1, 10, 'a')")
    assert run(node, "CREATE TABLE p (id INTEGER PRIMARY KEY, v INTEGER)")
    node.close()
    with without_rule("max"):
        node = Database(me, MANIFEST, FileEngine(path))
        try:
            assert {t.name for t in node.tables()} == {"m", "p"}
            assert run(node, "INSERT INTO p VALUES (1, 1)")
            assert run(node, "UPDATE p SET v = 2 WHERE id = 1")
            with pytest.raises(UnknownRule, match="'max' is not installed"):
                node.write(lambda conn: conn.execute("UPDATE m SET best = 50 WHERE id = 1"))
            with pytest.raises(UnknownRule, match="'max' is not installed"):
                node.write(lambda conn: conn.execute("INSERT INTO m VALUES (2, 1, 'b')"))
            assert node.query("SELECT id, v FROM p") == [(1, 2)]
            assert node.query("SELECT id, best FROM m") == [(1, 10)]
            assert len(node.log) == 4  # m with its row, p, and p's two writes
        finally:
            node.close()
