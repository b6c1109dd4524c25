"""Invariant 3 end to end: replicas of the store converge under any schedule of writes and deliveries.

3-5 replicas (``MemoryEngine``) run random local transactions on a small key space of two tables
(inserts, upserts, ``n = n + k`` updates, deletes and re-inserts, multi-row and multi-table
transactions, ADD COLUMN, identical or compatible concurrent CREATE TABLEs) while random deliveries hand some of one replica's blocks to another, in
random order, with duplicates, and often with ancestors missing (a delay). At the end everything is
delivered everywhere, and every replica, plus a newcomer given the whole log at once, must hold the
same rows (``state_hash``), the same per-row merge states and the same log, with nothing rejected.

Counter columns are not exercised: local SQL has no way to choose a table's conflict rule yet (only a
replicated create_table op can carry one), so every table here is last-writer-wins.
"""

from __future__ import annotations

from typing import Any

import apsw
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from p2pdb.log import Identity, Manifest
from p2pdb.store import Database, MemoryEngine

MANIFEST = Manifest("convergence")
TABLES = {
    "t": "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, s TEXT)",
    "kv": "CREATE TABLE kv (k TEXT NOT NULL, part INTEGER NOT NULL, v TEXT, PRIMARY KEY (k, part))",
}
# One definition per added column name: concurrent ADD COLUMNs of a name are identical (conflicting
# definitions are a known divergence, see tests/store/test_store_schema.py).
EXTRA_COLUMNS = {"c1": "INTEGER NOT NULL DEFAULT 0", "c2": "TEXT DEFAULT 'x'", "c3": "REAL"}

replica_index = st.integers(0, 4)
ids = st.integers(0, 3)
kv_keys = st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 1))
texts = st.none() | st.text(alphabet="xyz", max_size=3)
small = st.integers(-3, 3)


def identity(n: int) -> Identity:
    return Identity.from_seed(bytes([n + 1]) * 32)


def blocks_of(db: Database) -> list[bytes]:
    return [entry.block for entry in db.log.traverse()]


def columns(db: Database, table: str) -> set[str]:
    return {c for spec in db.tables() if spec.name == table for c in spec.column_names}


def run(db: Database, *statements: tuple[str, tuple[Any, ...]]) -> None:
    def fn(conn: apsw.Connection) -> None:
        for sql, params in statements:
            conn.execute(sql, params)

    db.write(fn)


class StoreConvergence(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.replicas: list[Database] = []

    def pick(self, index: int) -> Database:
        return self.replicas[index % len(self.replicas)]

    @initialize(count=st.integers(3, 5), creators=st.sets(st.integers(0, 4), min_size=1, max_size=3))
    def start(self, count: int, creators: set[int]) -> None:
        self.replicas = [Database(identity(i), MANIFEST, MemoryEngine()) for i in range(count)]
        # Table t is created by one or several replicas concurrently (identical definitions merge);
        # table kv only when a rule creates it, so early writes to it are simply not possible.
        for index in {i % count for i in creators}:
            run(self.pick(index), (TABLES["t"], ()))

    # -- local transactions -------------------------------------------------------------------

    @rule(r=replica_index, table=st.sampled_from(sorted(TABLES)), with_c2=st.booleans())
    def create_table(self, r: int, table: str, with_c2: bool) -> None:
        """Concurrent creates of one table are identical or compatible (same key, more columns)."""
        db = self.pick(r)
        if not columns(db, table):
            ddl = TABLES[table]
            if with_c2:
                ddl = ddl.replace(" PRIMARY KEY (", f" c2 {EXTRA_COLUMNS['c2']}, PRIMARY KEY (")
                ddl = ddl.replace(", s TEXT)", f", s TEXT, c2 {EXTRA_COLUMNS['c2']})")
            run(db, (ddl, ()))

    @rule(r=replica_index, key=ids, n=small, s=texts)
    def upsert(self, r: int, key: int, n: int, s: str | None) -> None:
        db = self.pick(r)
        if columns(db, "t"):
            sql = "INSERT INTO t (id, n, s) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET s = excluded.s"
            run(db, (sql, (key, n, s)))

    @rule(r=replica_index, low=ids, k=small)
    def increment(self, r: int, low: int, k: int) -> None:
        db = self.pick(r)
        if columns(db, "t"):
            run(db, ("UPDATE t SET n = n + ? WHERE id >= ?", (k, low)))

    @rule(r=replica_index, parity=st.integers(0, 1), s=texts)
    def set_text(self, r: int, parity: int, s: str | None) -> None:
        db = self.pick(r)
        if columns(db, "t"):
            run(db, ("UPDATE t SET s = ? WHERE id % 2 = ?", (s, parity)))

    @rule(r=replica_index, key=ids)
    def delete(self, r: int, key: int) -> None:
        db = self.pick(r)
        if columns(db, "t"):
            run(db, ("DELETE FROM t WHERE id = ?", (key,)))

    @rule(r=replica_index, key=ids, n=small)
    def replace(self, r: int, key: int, n: int) -> None:
        db = self.pick(r)
        if columns(db, "t"):
            run(db, ("REPLACE INTO t (id, n, s) VALUES (?, ?, 'replaced')", (key, n)))

    @rule(r=replica_index, key=ids, n=small)
    def delete_then_insert(self, r: int, key: int, n: int) -> None:
        db = self.pick(r)
        if columns(db, "t"):
            run(db, ("DELETE FROM t WHERE id = ?", (key,)), ("INSERT INTO t (id, n) VALUES (?, ?)", (key, n)))

    @rule(r=replica_index, key=kv_keys, v=texts, delete=st.booleans())
    def write_kv(self, r: int, key: tuple[str, int], v: str | None, delete: bool) -> None:
        db = self.pick(r)
        if not columns(db, "kv"):
            return
        if delete:
            run(db, ("DELETE FROM kv WHERE k = ? AND part = ?", key))
        else:
            run(db, ("INSERT OR REPLACE INTO kv (k, part, v) VALUES (?, ?, ?)", (*key, v)))

    @rule(r=replica_index, key=ids, kv_key=kv_keys, k=small)
    def two_tables_in_one_transaction(self, r: int, key: int, kv_key: tuple[str, int], k: int) -> None:
        db = self.pick(r)
        if columns(db, "t") and columns(db, "kv"):
            run(
                db,
                ("UPDATE t SET n = n + ? WHERE id = ?", (k, key)),
                ("INSERT OR IGNORE INTO kv (k, part, v) VALUES (?, ?, 'tx')", kv_key),
                ("UPDATE kv SET v = v || ? WHERE part = ?", (str(k), kv_key[1])),
            )

    @rule(
        r=replica_index, table=st.sampled_from(sorted(TABLES)), column=st.sampled_from(sorted(EXTRA_COLUMNS))
    )
    def add_column(self, r: int, table: str, column: str) -> None:
        db = self.pick(r)
        have = columns(db, table)
        if have and column not in have:
            run(db, (f"ALTER TABLE {table} ADD COLUMN {column} {EXTRA_COLUMNS[column]}", ()))

    @rule(r=replica_index, column=st.sampled_from(sorted(EXTRA_COLUMNS)), low=ids, value=small)
    def set_added_column(self, r: int, column: str, low: int, value: int) -> None:
        db = self.pick(r)
        if column in columns(db, "t"):
            run(db, (f"UPDATE t SET {column} = ? WHERE id >= ?", (value, low)))

    # -- delivery -----------------------------------------------------------------------------

    @rule(src=replica_index, dst=replica_index, data=st.data())
    def deliver_some(self, src: int, dst: int, data: st.DataObject) -> None:
        """Some of src's blocks, in any order, with duplicates; missing ancestors delay the rest."""
        source, target = self.pick(src), self.pick(dst)
        blocks = blocks_of(source)
        if not blocks:
            return
        picks = data.draw(st.lists(st.integers(0, len(blocks) - 1), max_size=2 * len(blocks)), label="picks")
        target.join([blocks[i] for i in picks])

    @rule(src=replica_index, dst=replica_index)
    def deliver_all(self, src: int, dst: int) -> None:
        source, target = self.pick(src), self.pick(dst)
        target.join(list(reversed(blocks_of(source))))

    @precondition(lambda self: bool(self.replicas))
    @invariant()
    def nothing_honest_is_rejected(self) -> None:
        for db in self.replicas:
            assert db.rejected() == []

    # -- the end: deliver everything everywhere ----------------------------------------------

    def teardown(self) -> None:
        newcomer = Database(identity(9), MANIFEST, MemoryEngine())
        try:
            if not self.replicas:
                return
            everything = [block for db in self.replicas for block in blocks_of(db)]
            for db in self.replicas:
                result = db.join(everything)
                assert not result.missing and not result.rejected_blocks
            newcomer.join(list(reversed(everything)))
            everyone = [*self.replicas, newcomer]
            assert len({len(db.log) for db in everyone}) == 1
            assert len({db.log.heads for db in everyone}) == 1
            hashes = [db.state_hash() for db in everyone]
            assert len(set(hashes)) == 1, hashes
            states = [db.query("SELECT tbl, pk, state FROM _p2pdb_rows ORDER BY tbl, pk") for db in everyone]
            assert all(s == states[0] for s in states)
            for db in everyone:
                assert db.rejected() == []
                assert {t.name: sorted(t.column_names) for t in db.tables()} == {
                    t.name: sorted(t.column_names) for t in newcomer.tables()
                }
        finally:
            newcomer.close()
            for db in self.replicas:
                db.close()


StoreConvergence.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_store_convergence = StoreConvergence.TestCase
