"""Text columns compare as MySQL's default collation (docs/mysql-compatibility.md "Collation"): the
physical collation follows the replicated definition, and UNIQUE settlement treats values equal under
it ('a', 'A', 'a ') as one value, on every replica and in every delivery order."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import given
from hypothesis import strategies as st

import p2pdb
from p2pdb.store import Database, FileEngine
from p2pdb.store.collation import compare_ci, fold_key

from .conftest import MakeDB
from .helpers import MANIFEST, execute, seeded_identity, sync
from .test_store_divergences import entries_of, every_order


def ci_table(db: Database, *, co: str | None = None, key: str = "INTEGER") -> None:
    """``p (id, v)`` as the SQL layer makes it: ``v`` a VARCHAR (collation ``co``), UNIQUE."""
    extra: dict[str, Any] = {"mt": "varchar(20)"}
    if co is not None:
        extra["co"] = co

    def create(conn: apsw.Connection) -> None:
        id_type = "int" if key == "INTEGER" else "varchar(20)"
        db.catalog.note_extras("p", {"id": {"mt": id_type}, "v": extra})
        conn.execute(f"CREATE TABLE p (id {key} PRIMARY KEY, v TEXT)")  # the store settles the collation

    db.write(create)
    db.write(execute("CREATE UNIQUE INDEX p_v ON p (v)"))


def collation_of(db: Database, table: str, column: str) -> str:
    return str(db.conn.column_metadata("main", table, column)[1])


def test_physical_collation_follows_the_definition(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    ci_table(a)
    sync(b, a)
    for db in (a, b):
        assert collation_of(db, "p", "v") == "P2PDB_CI"
        assert collation_of(db, "p", "id") == "BINARY"
        assert db.query("SELECT count(*) FROM p WHERE v = 'x'") == [(0,)]


@pytest.mark.parametrize("variant", ["A", "a", "A  "])
def test_concurrent_case_variants_settle_like_equal_values(make_db: MakeDB, variant: str) -> None:
    a, b = make_db(1), make_db(2)
    ci_table(a)
    sync(b, a)
    b.write(execute("INSERT INTO p VALUES (9, 'w')"))  # b's next write has the later clock
    a.write(execute("INSERT INTO p VALUES (1, 'a')"))  # the first writer keeps the value
    b.write(execute("INSERT INTO p VALUES (2, ?)", (variant,)))
    final = every_order(make_db, entries_of(a, b))
    assert final.query("SELECT id, v FROM p ORDER BY id") == [(1, "a"), (2, None), (9, "w")]
    assert [(r.kind, r.key, r.subject) for r in final.conflict_records()] == [("unique", [2], "p_v")]
    sync(b, a)
    b.write(execute("DELETE FROM p WHERE id = 1"))  # the holder goes: the waiting variant comes back
    final = every_order(make_db, entries_of(a, b))
    assert final.query("SELECT id, v FROM p ORDER BY id") == [(2, variant), (9, "w")]
    assert final.conflict_records() == []


def test_local_case_variant_is_a_duplicate(make_db: MakeDB) -> None:
    db = make_db(1)
    ci_table(db)
    db.write(execute("INSERT INTO p VALUES (1, 'Alice')"))
    for value in ("alice", "ALICE ", "Alice"):
        with pytest.raises(apsw.ConstraintError):
            db.write(execute("INSERT INTO p VALUES (2, ?)", (value,)))
    db.write(execute("INSERT INTO p VALUES (2, 'Alicé')"))  # accents are not folded
    assert db.query("SELECT id FROM p WHERE v = 'ALICE' ORDER BY id") == [(1,)]


def test_binary_collation_keeps_case(make_db: MakeDB) -> None:
    a, b = make_db(1), make_db(2)
    ci_table(a, co="utf8mb4_bin")
    sync(b, a)
    assert collation_of(b, "p", "v") == "BINARY"
    a.write(execute("INSERT INTO p VALUES (1, 'a')"))
    b.write(execute("INSERT INTO p VALUES (2, 'A')"))
    final = every_order(make_db, entries_of(a, b))
    assert final.query("SELECT id, v FROM p ORDER BY id") == [(1, "a"), (2, "A")]
    assert final.conflict_records() == []


def test_text_primary_key_stays_exact(make_db: MakeDB) -> None:
    """Row identity is the exact key: 'a' and 'A' are two rows (a documented difference)."""
    db = make_db(1)
    ci_table(db, key="TEXT")
    assert collation_of(db, "p", "id") == "BINARY"
    db.write(execute("INSERT INTO p VALUES ('a', 'x')"))
    db.write(execute("INSERT INTO p VALUES ('A', 'y')"))
    assert db.query("SELECT id FROM p ORDER BY id") == [("A",), ("a",)]


def test_a_data_dir_of_the_binary_version_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables an older version made (no collation: 'a' and 'A' both shown) are rebuilt on open, so the
    replica shows what a fresh replica of the same log shows."""
    import p2pdb.schema._defs as defs
    import p2pdb.store.collation as collation

    with monkeypatch.context() as old_version:
        for module in (defs, collation):
            old_version.setattr(module, "column_collation", lambda extra, key: None)
        a = Database(seeded_identity(1), MANIFEST, FileEngine(tmp_path / "a.sqlite"))
        b = Database(seeded_identity(2), MANIFEST, FileEngine(tmp_path / "b.sqlite"))
        ci_table(a)
        sync(b, a)
        a.write(execute("INSERT INTO p VALUES (1, 'a')"))
        b.write(execute("INSERT INTO p VALUES (2, 'A')"))
        sync(a, b)
        assert a.query("SELECT id, v FROM p ORDER BY id") == [(1, "a"), (2, "A")]
        assert collation_of(a, "p", "v") == "BINARY"
        a.close()
        b.close()
    reopened = Database(seeded_identity(1), MANIFEST, FileEngine(tmp_path / "a.sqlite"))
    fresh = Database(seeded_identity(3), MANIFEST, FileEngine(tmp_path / "c.sqlite"))
    sync(fresh, reopened)
    try:
        assert collation_of(reopened, "p", "v") == "P2PDB_CI"
        for db in (reopened, fresh):
            shown = db.query("SELECT id, v FROM p ORDER BY id")
            assert len([v for _, v in shown if v is not None]) == 1, shown
        assert reopened.query("SELECT id, v FROM p ORDER BY id") == fresh.query(
            "SELECT id, v FROM p ORDER BY id"
        )
        assert reopened.settler.records() == fresh.settler.records()
        assert reopened.conflicts.rows() == fresh.conflicts.rows()
    finally:
        reopened.close()
        fresh.close()


def test_every_connection_is_opened_with_the_collations() -> None:
    """SQLite refuses a statement on a P2PDB_CI column on a connection that lacks the collation, so
    every connection the project opens goes through p2pdb.store.collation.connect."""
    root = Path(p2pdb.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "store" / "collation.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Connection"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "apsw"
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


_TEXT = st.text(alphabet=st.sampled_from("aAbB ßsSéE\t"), max_size=5)


@given(_TEXT, _TEXT, _TEXT)
def test_the_collation_is_a_total_preorder_whose_ties_are_equal_fold_keys(a: str, b: str, c: str) -> None:
    assert (compare_ci(a, b) == 0) == (fold_key(a) == fold_key(b))
    assert compare_ci(a, b) == -compare_ci(b, a)
    if compare_ci(a, b) <= 0 and compare_ci(b, c) <= 0:
        assert compare_ci(a, c) <= 0
    assert fold_key(fold_key(a)) == fold_key(a)
    assert compare_ci(fold_key(a), a) == 0


def _pad_space_order(a: str, b: str) -> int:
    """The definition: folded keys, the shorter one padded with spaces, compared by code point."""
    fa, fb = fold_key(a), fold_key(b)
    width = max(len(fa), len(fb))
    fa, fb = fa.ljust(width), fb.ljust(width)
    return (fa > fb) - (fa < fb)


@given(_TEXT, _TEXT, st.integers(0, 300))
def test_the_collation_orders_folded_keys_padded_with_spaces(a: str, b: str, length: int) -> None:
    # Values on both sides of the length whose folds are remembered, compared twice (cached or not).
    prefix = "Q" * length
    for x, y in ((a, b), (prefix + a, prefix + b), (prefix + a, b), (a, prefix + b)):
        assert compare_ci(x, y) == _pad_space_order(x, y)
        assert compare_ci(x, y) == _pad_space_order(x, y)


def test_the_collation_sorts_like_its_definition_past_the_cache_size() -> None:
    import functools

    from p2pdb.store import collation

    words = [f"{'Ab' * (i % 7)}{i:05d}{' ' * (i % 3)}" for i in range(2 * collation._CACHED_VALUES)]
    ours = sorted(words, key=functools.cmp_to_key(compare_ci))
    reference = sorted(words, key=functools.cmp_to_key(_pad_space_order))
    assert [fold_key(w) for w in ours] == [fold_key(w) for w in reference]
    assert len(collation._folds) <= collation._CACHED_VALUES
