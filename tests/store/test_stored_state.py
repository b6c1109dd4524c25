"""Row states on disk (p2pdb.store.stored_state): local numbers for author keys, exact canonical
bytes back, older files read, numbers forgotten on rollback, and replicas that number keys in
different orders still agree on every hash."""

from __future__ import annotations

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.crdt import Cell, Contribution, RowState, StateDecodeError, decode_state, encode_state
from p2pdb.log import Clock, Identity, Manifest
from p2pdb.store import Database, MemoryEngine
from p2pdb.store.stored_state import Authors, load_state, store_state, to_canonical, to_stored

keys = st.binary(min_size=32, max_size=32)
times = st.integers(1, 2**63 - 1)
values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.binary(max_size=8))


@st.composite
def states(draw: st.DrawFn) -> RowState:
    cl = draw(st.integers(0, 2**40))
    if cl % 2 == 0:
        return RowState(cl)
    authors = draw(st.lists(keys, min_size=1, max_size=30, unique=True))
    cells = {
        f"c{i}": Cell(draw(values), Clock(draw(times), draw(st.sampled_from(authors))))
        for i in range(draw(st.integers(0, 5)))
    }
    contribs = {
        a: Contribution(draw(times), {"n": draw(st.integers(-5, 5))})
        for a in draw(st.lists(st.sampled_from(authors), max_size=3, unique=True))
    }
    origin = Clock(draw(times), draw(st.sampled_from(authors))) if draw(st.booleans()) else None
    return RowState(cl, cells, contribs, origin)


@settings(max_examples=300)
@given(state=states(), offset=st.integers(0, 2**40))
def test_stored_bytes_convert_back_to_the_canonical_ones_exactly(state: RowState, offset: int) -> None:
    numbers: dict[bytes, int] = {}
    canonical = encode_state(state)
    stored = to_stored(canonical, lambda k: numbers.setdefault(k, offset + len(numbers)))
    by_number = {n: k for k, n in numbers.items()}
    assert to_canonical(stored, by_number.__getitem__) == canonical
    assert len(stored) <= len(canonical)
    assert to_canonical(canonical, by_number.__getitem__) == canonical  # the older form is read as is


@st.composite
def one_write_states(draw: st.DrawFn) -> RowState:
    """Rows whose cells all come from one write, with or without that write as their origin."""
    version = Clock(draw(times), draw(keys))
    cells = {f"c{i}": Cell(draw(values), version) for i in range(draw(st.integers(1, 6)))}
    return RowState(2 * draw(st.integers(0, 2**40)) + 1, cells, {}, version if draw(st.booleans()) else None)


@settings(max_examples=300)
@given(state=st.one_of(states(), one_write_states()))
def test_every_stored_form_gives_back_the_state_and_its_canonical_bytes(state: RowState) -> None:
    conn = apsw.Connection(":memory:")
    authors = Authors(conn)
    stored = store_state(state, authors.number)
    assert load_state(stored, authors.key) == state
    assert to_canonical(stored, authors.key) == encode_state(state)
    assert len(stored) <= len(encode_state(state))


def test_a_row_written_by_one_write_is_stored_compact() -> None:
    conn = apsw.Connection(":memory:")
    authors = Authors(conn)
    key = Identity.generate().public_key
    version = Clock(100_000, key)
    cells = {"id": Cell(1, version), "a": Cell(7, version), "b": Cell("value 00000001", version)}
    insert = RowState(1, cells, origin=version)
    updated = RowState(1, {**cells, "a": Cell(8, Clock(100_001, key))}, origin=version)
    assert len(store_state(insert, authors.number)) < len(encode_state(insert)) - 50
    assert store_state(updated, authors.number)[1] == 2  # two versions: the general form
    for state in (insert, updated):
        assert load_state(store_state(state, authors.number), authors.key) == state


def test_a_state_is_stored_about_32_bytes_smaller_per_author() -> None:
    conn = apsw.Connection(":memory:")
    authors = Authors(conn)
    key = Identity.generate().public_key
    state = RowState(1, {"id": Cell(1, Clock(7, key)), "v": Cell("x", Clock(7, key))}, origin=Clock(7, key))
    canonical = encode_state(state)
    stored = to_stored(canonical, authors.number)
    assert len(canonical) - len(stored) == 33
    assert decode_state(to_canonical(stored, authors.key)) == state
    with pytest.raises(StateDecodeError):
        to_canonical(stored, Authors(apsw.Connection(":memory:")).key)  # another file's numbers


def test_a_number_given_in_a_rolled_back_transaction_is_forgotten() -> None:
    db = Database(Identity.generate(), Manifest("s"), MemoryEngine())
    db.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    stranger = Identity.generate().public_key
    db.conn.execute("BEGIN")
    number = db.rows.authors.number(stranger)
    db._rollback(reload_log=False)
    assert db.conn.execute("SELECT count(*) FROM _p2pdb_authors WHERE key = ?", (stranger,)).fetchall() == [
        (0,)
    ]
    with pytest.raises(StateDecodeError):
        db.rows.authors.key(number)  # forgotten, not served from a stale cache
    other = Identity.generate().public_key
    db.conn.execute("BEGIN")
    again = db.rows.authors.number(other)
    db.conn.execute("COMMIT")
    assert db.rows.authors.key(again) == other


def test_replicas_that_number_authors_differently_agree_on_every_hash() -> None:
    manifest = Manifest("s")
    writers = [Database(Identity.generate(), manifest, MemoryEngine()) for _ in range(3)]
    writers[0].write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    for w in writers[1:]:
        w.join([e.block for e in writers[0].log.traverse()])
    for i, w in enumerate(writers):
        w.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, 'x')", (i,)))
        w.write(lambda c, i=i: c.execute("UPDATE t SET v = ? WHERE id = 0", (f"by {i}",)))
    a, b = (Database(Identity.generate(), manifest, MemoryEngine()) for _ in range(2))
    for w in writers:  # a meets the writers in one order, b in the other
        a.join([e.block for e in w.log.traverse()])
    for w in reversed(writers):
        b.join([e.block for e in w.log.traverse()])
    numbering = [
        dict(a.conn.execute("SELECT key, id FROM _p2pdb_authors")),
        dict(b.conn.execute("SELECT key, id FROM _p2pdb_authors")),
    ]
    assert numbering[0] != numbering[1]  # the files differ...
    assert a.merge_state_hash() == b.merge_state_hash()  # ...the merge state does not
    assert a.state_hash() == b.state_hash()


def test_column_names_are_stored_once_per_file_not_once_per_row() -> None:
    conn = apsw.Connection(":memory:")
    authors = Authors(conn)
    version = Clock(100_000, Identity.generate().public_key)

    def stored(names: list[str]) -> bytes:
        return store_state(
            RowState(1, {n: Cell(i, version) for i, n in enumerate(names)}, origin=version), authors.number
        )

    short = stored(["a", "b", "c"])
    long = stored(["customer_identifier", "shipping_address_line", "created_at_timestamp"])
    assert len(long) == len(short)  # the names live in the file's table, by number
    assert load_state(long, authors.key).cells.keys() == {
        "customer_identifier",
        "shipping_address_line",
        "created_at_timestamp",
    }
    assert stored(["c", "a", "b"])[:-4] == short[:-4]  # one set (sorted), whatever the cells' order


def test_the_previous_compact_form_is_still_read() -> None:
    """Files written before column sets hold ``[3, cl, author, time, {column: value}, origin]``."""
    import cbor2

    conn = apsw.Connection(":memory:")
    authors = Authors(conn)
    key = Identity.generate().public_key
    version = Clock(42, key)
    old = cbor2.dumps([3, 5, authors.number(key), 42, {"id": 1, "v": "x"}, 1], canonical=True)
    state = RowState(5, {"id": Cell(1, version), "v": Cell("x", version)}, origin=version)
    assert load_state(old, authors.key) == state
    assert to_canonical(old, authors.key) == encode_state(state)


def test_a_compact_state_whose_values_do_not_match_its_column_set_is_refused() -> None:
    import cbor2

    conn = apsw.Connection(":memory:")
    authors = Authors(conn)
    key = Identity.generate().public_key
    names = authors.number(cbor2.dumps(["a", "b"], canonical=True))
    bad = cbor2.dumps([4, 1, authors.number(key), 7, names, [1], 1], canonical=True)
    with pytest.raises(StateDecodeError):
        load_state(bad, authors.key)
    not_names = cbor2.dumps([4, 1, authors.number(key), 7, authors.number(key), [1], 1], canonical=True)
    with pytest.raises(StateDecodeError):
        load_state(not_names, authors.key)  # a number that names a key, not a column set
