"""Entries with a valid signature whose ops do not fit: rejected whole, recorded, and harmless."""

from __future__ import annotations

import random
from typing import Any

import pytest

from p2pdb.log import AccessDenied, InvalidSignature, Manifest
from p2pdb.store import Database

from .conftest import MakeDB
from .helpers import Forger, blocks_of, internal_counts

MAX_VALUE = 100


def spec(**overrides: Any) -> dict[str, Any]:
    """A valid create_table spec of table ``extra``, with fields overridden."""
    base: dict[str, Any] = {
        "name": "extra",
        "cols": [{"n": "id", "t": "INTEGER", "nn": False, "dv": None}],
        "pk": ["id"],
        "rule": {"rule": "lww"},
    }
    return {**base, **overrides}


def col(name: str, ctype: str = "TEXT", dv: str | None = None) -> dict[str, Any]:
    return {"n": name, "t": ctype, "nn": False, "dv": dv}


def row(k: list[Any], v: dict[str, Any], cl: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"t": "t", "k": k, "cl": cl, "v": v, **extra}


GOOD_ROW = row([2], {"id": 2, "n": 2, "s": "two", "code": "ab"})

# (case id, ops, a fragment of the reason)
BAD_OPS: list[tuple[str, Any, str]] = [
    ("unknown table", [{"t": "nope", "k": [1], "cl": 1, "v": {"id": 1}}], "unknown table"),
    ("unknown column", [row([2], {"id": 2, "n": 2, "zzz": 1})], "unknown column"),
    ("text into INTEGER", [row([2], {"id": 2, "n": "many"})], "INTEGER"),
    ("text primary key into INTEGER", [row(["two"], {"id": "two", "n": 1})], "INTEGER"),
    ("blob into INTEGER", [row([2], {"id": 2, "n": b"\x01"})], "INTEGER"),
    ("value over max_value_size", [row([2], {"id": 2, "n": 2, "s": "x" * (MAX_VALUE + 1)})], "limit"),
    ("blob over max_value_size", [row([2], {"id": 2, "n": 2, "s": b"x" * (MAX_VALUE + 1)})], "limit"),
    ("VARCHAR(3) overflow", [row([2], {"id": 2, "n": 2, "code": "abcd"})], "too long"),
    ("pk of wrong arity", [row([2, 3], {"id": 2, "n": 2})], "primary key"),
    ("empty pk", [row([], {"id": 2, "n": 2})], "key must be"),
    ("NOT NULL violated", [row([2], {"id": 2, "n": None})], "cannot be NULL"),
    ("deltas on a last-writer-wins table", [row([1], {}, d={"n": 1})], "counter"),
    ("delete carrying values", [row([1], {"n": 5}, cl=2)], "delete"),
    ("cl of zero", [row([2], {"id": 2, "n": 2}, cl=0)], "causal length"),
    ("cl not an int", [row([2], {"id": 2, "n": 2}, cl="1")], "causal length"),
    ("bool value", [row([2], {"id": 2, "n": True})], "SQL values"),
    ("list value", [row([2], {"id": 2, "n": [1]})], "SQL values"),
    ("ops not a list", {"t": "t"}, "ops must be a list"),
    ("op not a map", [5], "must be a map"),
    ("row change without cl", [{"t": "t", "k": [2], "v": {"id": 2}}], "row change is a map"),
    ("row change with an unknown field", [row([2], {"id": 2, "n": 2}, x=1)], "row change is a map"),
    ("k not a list", [{"t": "t", "k": 2, "cl": 1, "v": {"id": 2, "n": 2}}], "key must be"),
    ("v not a map", [{"t": "t", "k": [2], "cl": 1, "v": [2]}], "must be (non-empty) maps"),
    ("table name not an identity", [{"t": "T", "k": [2], "cl": 1, "v": {"id": 2}}], "identity"),
    ("integer beyond 64 bits", [row([2], {"id": 2, "n": 2**63})], "SQL values"),
    ("insert missing a column", [row([2], {"id": 2, "n": 2}, i=True)], "carries every column"),
    ("unknown schema change", [{"ddl": "truncate", "t": "t"}], "unknown schema change"),
    (
        "internal table name",
        [{"ddl": "create_table", "spec": spec(name="_p2pdb_rows")}],
        "reserved",
    ),
    (
        "type smuggling SQL",
        [{"ddl": "create_table", "spec": spec(cols=[col("id", "INTEGER); DROP TABLE t; --")])}],
        "not one a replicated column may have",
    ),
    (
        "default that is not a literal",
        [{"ddl": "create_table", "spec": spec(cols=[col("id", "INTEGER", "(SELECT 1)")])}],
        "not a literal",
    ),
    ("pk naming an unknown column", [{"ddl": "create_table", "spec": spec(pk=["nope"])}], "primary key"),
    ("table spec with missing fields", [{"ddl": "create_table", "spec": {"name": "x"}}], "table spec"),
    (
        "add_column to an unknown table",
        [{"ddl": "add_column", "t": "nope", "col": col("c")}],
        "unknown table",
    ),
    ("add_column with a bad column", [{"ddl": "add_column", "t": "t", "col": {"n": "c"}}], "column spec"),
    (
        "create_index on an unknown column",
        [{"ddl": "create_index", "spec": {"name": "i", "t": "t", "cols": ["nope"], "unique": False}}],
        "unknown columns",
    ),
    (
        "index named like a table",
        [{"ddl": "create_index", "spec": {"name": "t", "t": "t", "cols": ["n"], "unique": False}}],
        "already",
    ),
    ("drop_index without a name", [{"ddl": "drop_index"}], "drop_index takes exactly"),
    (
        "column type with a UNIQUE inside",
        [{"ddl": "add_column", "t": "t", "col": col("c", "TEXT UNIQUE")}],
        "not one a replicated column may have",
    ),
    (
        "MySQL type with a COLLATE inside",
        [{"ddl": "add_column", "t": "t", "col": {**col("c"), "x": {"mt": "varchar(3) collate x"}}}],
        "MySQL type",
    ),
    (
        "unknown column extra",
        [{"ddl": "add_column", "t": "t", "col": {**col("c"), "x": {"gen": "a+1"}}}],
        "extras",
    ),
    ("create of an existing table", [{"ddl": "create_table", "spec": spec(name="T")}], "already exists"),
    ("add of an existing column", [{"ddl": "add_column", "t": "t", "col": col("N")}], "already exists"),
    ("drop of an unknown table", [{"ddl": "drop_table", "t": "nope"}], "unknown table"),
    # The first op is fine; the second is not: the entry is rejected whole.
    ("valid op then bad op", [GOOD_ROW, row([3], {"id": 3, "n": "x"})], "INTEGER"),
    (
        "valid DDL then bad op",
        [{"ddl": "create_table", "spec": spec()}, row([2], {"zzz": 1})],
        "unknown column",
    ),
]


@pytest.fixture
def victim(make_db: MakeDB) -> Database:
    db = make_db(1, max_value_size=MAX_VALUE)
    db.write(
        lambda c: c.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT, code VARCHAR(3))"
        )
    )
    db.write(lambda c: c.execute("INSERT INTO t VALUES (1, 1, 'one', 'x')"))
    return db


@pytest.fixture
def forger(victim: Database) -> Forger:
    forger = Forger()
    forger.see(blocks_of(victim))
    return forger


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a rejected entry must leave alone (the log itself grows: the entry stays in it)."""
    counts = internal_counts(db)
    for table in ("_p2pdb_rejected", "_p2pdb_blocks", "_p2pdb_heads"):
        counts.pop(table)
    return (
        db.state_hash(),
        db.tables(),
        counts,
        db.query("SELECT tbl, pk, state FROM _p2pdb_rows ORDER BY tbl, pk"),
        db.query("SELECT type, name, sql FROM sqlite_schema ORDER BY name"),
    )


@pytest.mark.parametrize(("ops", "reason"), [c[1:] for c in BAD_OPS], ids=[c[0] for c in BAD_OPS])
def test_bad_ops_are_rejected_whole(victim: Database, forger: Forger, ops: Any, reason: str) -> None:
    before = snapshot(victim)
    entry = forger.sign(ops)
    result = victim.join([entry.block])
    assert result.applied == []
    assert [cid for cid, _ in result.rejected_ops] == [entry.cid]
    assert reason in result.rejected_ops[0][1]
    assert victim.rejected() == result.rejected_ops
    assert snapshot(victim) == before
    # The entry is part of the log (it is validly signed); its descendants are not blocked.
    assert entry.cid in victim.log
    child = forger.sign([GOOD_ROW])
    assert victim.join([child.block]).applied == [child]
    assert victim.query("SELECT id, n, s, code FROM t ORDER BY id") == [
        (1, 1, "one", "x"),
        (2, 2, "two", "ab"),
    ]


def test_good_entries_of_the_same_batch_still_apply(victim: Database, forger: Forger) -> None:
    good1 = forger.sign([row([2], {"id": 2, "n": 2, "s": None, "code": None})])
    bad1 = forger.sign([row([3], {"id": 3, "n": 3, "zzz": 1})])
    good2 = forger.sign([row([4], {"id": 4, "n": 4, "s": None, "code": None}), row([1], {"n": 10})])
    bad2 = forger.sign([row([5], {"id": 5, "n": 5}), {"t": "nope", "k": [1], "cl": 1, "v": {}}])
    good3 = forger.sign([row([2], {"s": "later"})])
    blocks = [e.block for e in (good1, bad1, good2, bad2, good3)]
    random.Random(7).shuffle(blocks)
    result = victim.join(blocks)
    assert result.applied == [good1, good2, good3]  # causal order, whatever the delivery order
    assert [cid for cid, _ in result.rejected_ops] == [bad1.cid, bad2.cid]
    assert {cid for cid, _ in victim.rejected()} == {bad1.cid, bad2.cid}
    assert victim.query("SELECT id, n, s FROM t ORDER BY id") == [
        (1, 10, "one"),
        (2, 2, "later"),
        (4, 4, None),
    ]
    assert len(victim.log) == 2 + 5


def test_rejection_is_the_same_on_every_replica(make_db: MakeDB, victim: Database, forger: Forger) -> None:
    other = make_db(2, max_value_size=MAX_VALUE)
    entries = [forger.sign(ops) for _, ops, _ in BAD_OPS[:12]] + [forger.sign([GOOD_ROW])]
    victim.join([e.block for e in entries])
    other.join(list(reversed(blocks_of(victim))))
    assert other.state_hash() == victim.state_hash()
    assert sorted(other.rejected()) == sorted(victim.rejected())


def test_block_with_a_bad_signature_is_not_stored(victim: Database, forger: Forger) -> None:
    entry = forger.sign([GOOD_ROW])
    forged = bytearray(entry.block)
    forged[entry.block.index(entry.sig) + 10] ^= 0x01  # one bit of the signature
    length, before = len(victim.log), snapshot(victim)
    result = victim.join([bytes(forged)])
    assert not result.applied and not result.rejected_ops
    assert len(result.rejected_blocks) == 1
    assert isinstance(result.rejected_blocks[0], InvalidSignature)
    assert len(victim.log) == length and snapshot(victim) == before
    assert victim.rejected() == []


def test_author_without_write_access_is_refused(make_db: MakeDB) -> None:
    owner_only = Manifest("shop", writers=(Forger(1).identity.public_key,))
    db = make_db(1, manifest=owner_only)
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
    # The outsider's own replica is open to anyone (its log would refuse to append otherwise).
    outsider = Forger(9, Manifest("shop"))
    outsider.see(blocks_of(db))
    entry = outsider.sign([row([1], {"id": 1, "n": 1})])
    result = db.join([entry.block])
    assert [type(e) for e in result.rejected_blocks] == [AccessDenied]
    assert entry.cid not in db.log and db.query("SELECT count(*) FROM t") == [(0,)]


def test_a_value_no_column_can_hold_rejects_its_entry_alone(make_db: MakeDB) -> None:
    """An integer past 64 bits used to raise OverflowError deep in apply, roll back the whole batch
    (honest entries included) and kill the link, again at every resend."""
    source, victim = make_db(1), make_db(2)
    source.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
    forger = Forger()
    forger.see(blocks_of(source))
    poison = forger.sign([row([2], {"id": 2, "n": 2**63}, i=True)])
    source.write(lambda c: c.execute("INSERT INTO t VALUES (3, 3)"))
    batch = [*blocks_of(source), poison.block]
    result = victim.join(batch)
    assert [cid for cid, _ in result.rejected_ops] == [poison.cid]
    assert victim.query("SELECT id, n FROM t") == [(3, 3)]
    again = victim.join(batch)  # a resend changes nothing and raises nothing
    assert again.rejected_ops == [] and victim.query("SELECT id, n FROM t") == [(3, 3)]
