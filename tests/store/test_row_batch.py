"""Remote entries read their rows' states in one query and write them in one statement
(``RowStates.batch``). Applying them must give exactly what applying each change on its own gives:
the same states, rows, change events and conflict records, for any entries in any delivery order,
including entries that touch one row several times, delete and re-insert it, or clash on a UNIQUE
value; and an entry that fails halfway must leave none of its states behind."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any
from unittest import mock

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.store import Database, MemoryEngine
from p2pdb.store import apply as apply_module
from p2pdb.store.apply import Materializer
from p2pdb.store.rows import RowStates, SqlRows
from p2pdb.store.stored_state import canonical_reader

from .helpers import MANIFEST, Forger, blocks_of, execute, internal_counts, seeded_identity

SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, u VARCHAR(8))"
INDEX = "CREATE UNIQUE INDEX t_u ON t (u)"
KEYS = [1, 2, 3, 4]


@contextlib.contextmanager
def _no_batch(self: RowStates, *args: Any, **kwargs: Any) -> Iterator[None]:
    yield


def _change(kind: str, key: int, life: int, n: int, u: str | None) -> dict[str, Any]:
    if kind == "delete":
        return {"t": "t", "k": [key], "cl": 2 * life, "v": {}}
    if kind == "insert":
        return {"t": "t", "k": [key], "cl": 2 * life - 1, "v": {"id": key, "n": n, "u": u}, "i": True}
    return {"t": "t", "k": [key], "cl": 2 * life - 1, "v": {"n": n}}


changes = st.builds(
    _change,
    st.sampled_from(["insert", "insert", "update", "delete"]),
    st.sampled_from(KEYS),
    st.integers(1, 2),
    st.integers(0, 9),
    st.sampled_from([None, "a", "b", "c"]),
)
# (author 0 or 1, the entry's changes): several changes of one key in one entry are common.
entries = st.lists(st.tuples(st.integers(0, 1), st.lists(changes, min_size=1, max_size=6)), max_size=8)


def _origin(unique: bool = True) -> Database:
    db = Database(seeded_identity(1), MANIFEST, MemoryEngine())
    db.write(execute(SCHEMA))
    if unique:
        db.write(execute(INDEX))
    return db


@contextlib.contextmanager
def _general_path() -> Iterator[None]:
    """Apply every change by the general merge, row by row: no batch of states, no first-insert
    shortcut (``first_insert``, p2pdb.crdt), no deferred SQL rows."""
    with (
        mock.patch.object(RowStates, "batch", _no_batch),
        mock.patch.object(apply_module, "first_insert", lambda *_: None),
        mock.patch.object(SqlRows, "deferred", _no_batch),
    ):
        yield


def _observe(db: Database, *, cids: bool = True) -> tuple[Any, ...]:
    """State hash, rows, row states, change events (with the entries' CIDs unless ``cids`` is
    False: two nodes writing the same statements sign different entries), conflicts, rejections."""
    canonical = canonical_reader(db.conn)
    feed = "tbl, op, pk, row, changed" + (", cid" if cids else "")
    return (
        db.state_hash(),
        db.query("SELECT id, n, u FROM t ORDER BY id"),
        # Stored states use local numbers given in the order they are written: compare canonical bytes.
        [
            (t, k, canonical(s))
            for t, k, s in db.query("SELECT tbl, pk, state FROM _p2pdb_rows ORDER BY tbl, pk")
        ],
        db.query(f"SELECT {feed} FROM _p2pdb_changes ORDER BY id"),
        db.query("SELECT kind, tbl, pk, subject, cid FROM _p2pdb_conflicts ORDER BY 1, 2, 3, 4, 5"),
        sorted(db.rejected()),
    )


def _replay(base: list[bytes], blocks: list[bytes], cuts: list[int], batched: bool) -> tuple[Any, ...]:
    """A fresh replica joins the origin's schema (``base``), then ``blocks`` cut at ``cuts``."""
    db = Database(seeded_identity(2), MANIFEST, MemoryEngine())
    assert not db.join(base).rejected_ops
    with contextlib.nullcontext() if batched else _general_path():
        start = 0
        for cut in [*cuts, len(blocks)]:
            db.join(blocks[start:cut])
            start = cut
    return _observe(db)


@settings(
    max_examples=int(os.environ.get("P2PDB_BATCH_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(entries, st.randoms(use_true_random=False), st.lists(st.integers(0, 40), max_size=2), st.booleans())
def test_batched_apply_equals_change_by_change(
    script: list[tuple[int, list[dict[str, Any]]]], rnd: random.Random, cuts: list[int], unique: bool
) -> None:
    """Batched states, the first-insert shortcut and deferred SQL rows (tables without a UNIQUE
    index: ``unique`` False) give what the general merge gives change by change."""
    base = blocks_of(_origin(unique))
    forgers = [Forger(seed=7), Forger(seed=8)]
    for forger in forgers:
        forger.see(base)
    signed = [forgers[author].sign(ops) for author, ops in script]
    blocks = [entry.block for entry in signed]
    rnd.shuffle(blocks)
    cuts = sorted(min(c, len(blocks)) for c in cuts)
    assert _replay(base, blocks, cuts, batched=True) == _replay(base, blocks, cuts, batched=False)


def test_one_entry_writing_one_row_three_times() -> None:
    """Insert, update and delete of one key in one entry: each change sees the state the previous
    one wrote, although none is in the table until the entry ends."""
    base = blocks_of(_origin())
    forger = Forger(seed=7)
    forger.see(base)
    entry = forger.sign(
        [
            {"t": "t", "k": [1], "cl": 1, "v": {"id": 1, "n": 1, "u": "a"}, "i": True},
            {"t": "t", "k": [1], "cl": 2, "v": {}},
            {"t": "t", "k": [1], "cl": 3, "v": {"id": 1, "n": 3, "u": "b"}, "i": True},
            {"t": "t", "k": [2], "cl": 1, "v": {"id": 2, "n": 2, "u": "a"}, "i": True},
        ]
    )
    batched = _replay(base, [entry.block], [], batched=True)
    assert batched == _replay(base, [entry.block], [], batched=False)
    assert batched[5] == []  # nothing rejected
    assert batched[1] == [(1, 3, "b"), (2, 2, "a")]


def test_an_entry_failing_halfway_leaves_no_state(monkeypatch: pytest.MonkeyPatch) -> None:
    db = _origin()
    forger = Forger(seed=7)
    forger.see(blocks_of(db))
    before = (internal_counts(db), db.state_hash())
    failing = forger.sign(
        [{"t": "t", "k": [k], "cl": 1, "v": {"id": k, "n": k, "u": None}, "i": True} for k in (1, 2, 3)]
    )
    apply_row = Materializer.apply_row

    def fail_on_third(self: Materializer, change: Any, *args: Any) -> None:
        if change.pk == (3,):  # rows 1 and 2 are applied (their states and SQL rows still pending)
            raise RuntimeError("injected failure")
        apply_row(self, change, *args)

    monkeypatch.setattr(Materializer, "apply_row", fail_on_third)
    result = db.join([failing.block])
    assert [cid for cid, _ in result.rejected_ops] == [failing.cid]
    counts = internal_counts(db)
    counts.pop("_p2pdb_rejected"), counts.pop("_p2pdb_blocks"), counts.pop("_p2pdb_heads")
    expected = dict(before[0])
    for table in ("_p2pdb_rejected", "_p2pdb_blocks", "_p2pdb_heads"):
        expected.pop(table)
    assert counts == expected
    assert db.state_hash() == before[1]
    monkeypatch.setattr(Materializer, "apply_row", apply_row)
    later = forger.sign([{"t": "t", "k": [5], "cl": 1, "v": {"id": 5, "n": 5, "u": None}, "i": True}])
    assert db.join([later.block]).applied == [later]
    assert db.query("SELECT id FROM t") == [(5,)]
    assert len(db.query("SELECT * FROM _p2pdb_rows")) == 1


statements = st.lists(
    st.one_of(
        st.lists(
            st.tuples(st.sampled_from(KEYS), st.integers(0, 9), st.sampled_from([None, "a", "b"])),
            min_size=1,
            max_size=4,
        ).map(
            lambda rows: (
                "INSERT OR REPLACE INTO t VALUES " + ", ".join("(?, ?, ?)" for _ in rows),
                [v for r in rows for v in r],
            )
        ),
        st.tuples(st.integers(0, 9), st.sampled_from(KEYS)).map(
            lambda a: ("UPDATE t SET n = ? WHERE id <= ?", list(a))
        ),
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from(KEYS)).map(
            lambda a: ("UPDATE OR IGNORE t SET u = ? WHERE id >= ?", list(a))
        ),
        st.sampled_from(KEYS).map(lambda k: ("DELETE FROM t WHERE id >= ?", [k])),
    ),
    min_size=1,
    max_size=8,
)


def _run_local(script: list[tuple[str, list[Any]]], batched: bool) -> tuple[Any, ...]:
    db = Database(seeded_identity(3), MANIFEST, MemoryEngine())
    db.write(execute(SCHEMA))
    db.write(execute(INDEX))
    patch = contextlib.nullcontext() if batched else mock.patch.object(RowStates, "batch", _no_batch)
    with patch:
        for sql, params in script:
            try:
                db.write(execute(sql, params))
            except apsw.ConstraintError as exc:  # a UNIQUE clash fails the same way on both
                errors.append(str(exc))
    return _observe(db, cids=False)


errors: list[str] = []


@settings(
    max_examples=int(os.environ.get("P2PDB_BATCH_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(statements, min_size=1, max_size=4))
def test_local_commits_of_several_rows_equal_change_by_change(
    script: list[list[tuple[str, list[Any]]]],
) -> None:
    """A local commit of several rows writes their states in one statement: the same states, rows
    and change events as one write per row, in every sequence of multi-row statements."""
    flat = [statement for group in script for statement in group]
    errors.clear()
    batched = _run_local(flat, batched=True)
    first = list(errors)
    errors.clear()
    assert batched == _run_local(flat, batched=False)
    assert first == errors
