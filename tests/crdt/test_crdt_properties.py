"""Merge laws (DESIGN.md §2.3) checked with Hypothesis against a reference model.

A *history* is a set of (change, clock) pairs from 2-5 authors on a few rows, with random clocks (each
author's times increase; different authors may share times, so author bytes break ties). The reference
model computes the final state of each row directly from the set (docs/crdt.md §3-§6); folding merge()
over any delivery order, with duplicates, must give exactly those states (same bytes) and, through the
MergeOutcome actions, the same SQL rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.crdt import (
    Cell,
    ConflictRule,
    Contribution,
    CounterRule,
    LWWRule,
    Number,
    RowChange,
    RowKey,
    RowState,
    SqlValue,
    decode_state,
    encode_state,
    first_insert,
    merge,
)
from p2pdb.crdt._values import value_key
from p2pdb.log.clock import Clock

AUTHORS = [bytes([i]) * 32 for i in (1, 2, 3)] + [b"\x01" * 31 + b"\x02", b"\xff" + b"\x00" * 31]
PKS = [(1,), (2,), ("k", 3)]
COLUMNS = ("a", "b", "c", "n")
COUNTER = CounterRule(["n"])
LWW = LWWRule()
Item = tuple[RowChange, Clock]

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Small pools: cheap to draw, and collisions (equal values, 1 vs 1.0, 0.0 vs -0.0) are frequent.
sql_values = st.sampled_from([None, 0, 1, -1, 2**70, 0.0, -0.0, 1.0, 2.5, 1e300, "", "x", "y", b"", b"x"])
deltas = st.sampled_from([-3, -1, 0, 1, 2, 5, 0.5, -0.25, 0.1, 1e10])


@st.composite
def histories(draw: st.DrawFn, counters: bool) -> list[Item]:
    authors = draw(st.lists(st.sampled_from(AUTHORS), min_size=2, max_size=5, unique=True))
    time = dict.fromkeys(authors, 0)
    out: list[Item] = []
    for _ in range(draw(st.integers(1, 16))):
        author = draw(st.sampled_from(authors))
        time[author] += draw(st.integers(1, 3))
        clock = Clock(time[author], author)
        # one log entry: at most one change per row
        for pk in draw(st.lists(st.sampled_from(PKS), min_size=1, max_size=2, unique=True)):
            cl = draw(st.integers(1, 5))
            if cl % 2 == 0:
                out.append((RowChange("t", pk, cl), clock))
                continue
            values = draw(st.dictionaries(st.sampled_from(COLUMNS), sql_values, max_size=3))
            incs = draw(st.dictionaries(st.just("n"), deltas, max_size=1)) if counters else {}
            incs = {c: d for c, d in incs.items() if c not in values}
            out.append((RowChange("t", pk, cl, values, incs), clock))
    return out


def reference(items: Sequence[Item]) -> dict[RowKey, RowState]:
    """The final state of every row, computed from the set of changes, in no particular order."""
    by_row: dict[RowKey, list[Item]] = defaultdict(list)
    for change, clock in items:  # histories hold no duplicates
        by_row[change.key].append((change, clock))
    out = {}
    for key, row_items in by_row.items():
        life = max(change.cl for change, _ in row_items)
        newest = [it for it in row_items if it[0].cl == life]
        cells: dict[str, Cell] = {}
        for col in COLUMNS:
            writes = [
                (clock, value_key(ch.values[col]), ch.values[col]) for ch, clock in newest if col in ch.values
            ]
            if writes:
                clock, _, value = max(writes, key=lambda w: (w[0], w[1]))
                cells[col] = Cell(value, clock)
        contribs: dict[bytes, Contribution] = {}
        for change, clock in sorted(newest, key=lambda it: it[1]):
            if change.deltas:
                prev = contribs.get(clock.id)
                sums: dict[str, Number] = dict(prev.sums) if prev else {}
                for col, d in change.deltas.items():
                    sums[col] = sums[col] + d if col in sums else d
                contribs[clock.id] = Contribution(clock.time, sums)
        out[key] = RowState(life, cells, contribs)
    return out


def replay(items: Sequence[Item], rule: ConflictRule) -> tuple[dict[RowKey, RowState], dict[RowKey, Any]]:
    """Merge ``items`` in order; drive a fake SQL table from the outcomes and check it after every step."""
    states: dict[RowKey, RowState] = {}
    table: dict[RowKey, dict[str, SqlValue]] = {}
    for change, clock in items:
        key = change.key
        out = merge(states.get(key), change, clock, rule)
        if not out.state_changed:
            assert out.state is (states.get(key) or out.state) and out.action == "none"
        if out.action == "insert":
            assert dict(out.changed) == dict(out.row)
            table[key] = dict(out.row)
        elif out.action == "update":
            assert out.changed and all(out.row[c] == v for c, v in out.changed.items())
            table[key].update(out.changed)
        elif out.action == "delete":
            del table[key]
        else:
            assert not out.changed
        states[key] = out.state
        expected = typed(rule.visible(out.state)) if out.state.alive else None
        assert (typed(table[key]) if key in table else None) == expected
    return states, {k: typed(v) for k, v in table.items()}


def typed(row: dict[str, SqlValue]) -> dict[str, str]:
    """Row values with their types, so that 1 and 1.0 (or 0.0 and -0.0) compare different."""
    return {col: f"{type(v).__name__}:{v!r}" for col, v in row.items()}


def encoded(states: dict[RowKey, RowState]) -> dict[RowKey, bytes]:
    return {k: encode_state(s) for k, s in states.items()}


def with_duplicates(data: st.DataObject, order: list[Item]) -> list[Item]:
    """``order`` with some items delivered again, each copy after its first delivery."""
    out = list(order)
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, len(out) - 1))
        j = data.draw(st.integers(i + 1, len(out)))
        out.insert(j, out[i])
    return out


def per_author_interleaving(data: st.DataObject, items: list[Item]) -> list[Item]:
    """A random interleaving that keeps each author's changes in that author's (clock) order."""
    slots = data.draw(st.permutations([clock.id for _, clock in items]))
    queues: dict[bytes, list[Item]] = defaultdict(list)
    for it in sorted(items, key=lambda it: it[1], reverse=True):
        queues[it[1].id].append(it)
    return [queues[author].pop() for author in slots]


@FAST
@given(items=histories(counters=False), data=st.data())
def test_lww_any_order_with_duplicates_matches_the_reference(items: list[Item], data: st.DataObject) -> None:
    want = encoded(reference(items))
    runs = []
    for _ in range(2):
        order = with_duplicates(data, data.draw(st.permutations(items)))
        states, table = replay(order, LWW)
        assert encoded(states) == want
        runs.append(table)
    assert runs[0] == runs[1]


@FAST
@given(items=histories(counters=True), data=st.data())
def test_counter_any_interleaving_with_duplicates_matches_the_reference(
    items: list[Item], data: st.DataObject
) -> None:
    want = encoded(reference(items))
    runs = []
    for _ in range(2):
        order = with_duplicates(data, per_author_interleaving(data, items))
        states, table = replay(order, COUNTER)
        assert encoded(states) == want
        runs.append(table)
    assert runs[0] == runs[1]


@FAST
@given(items=histories(counters=False), data=st.data())
def test_lww_replicas_with_different_partial_histories_converge(
    items: list[Item], data: st.DataObject
) -> None:
    """Associativity: two replicas see different halves first, then everything; they end identical."""
    cut = data.draw(st.integers(0, len(items)))
    first, second = items[:cut], items[cut:]
    one, _ = replay([*first, *data.draw(st.permutations(items))], LWW)
    two, _ = replay([*second, *first, *data.draw(st.permutations(second))], LWW)
    assert encoded(one) == encoded(two)


authors = st.sampled_from(AUTHORS)
clocks = st.builds(Clock, st.integers(0, 2**64), authors)
any_values = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.binary(max_size=5)
)
numbers = st.one_of(st.integers(), st.floats(allow_nan=False))
alive_states = st.builds(
    RowState,
    st.integers(0, 2**40).map(lambda n: 2 * n + 1),
    st.dictionaries(st.text(max_size=4), st.builds(Cell, any_values, clocks), max_size=5),
    st.dictionaries(
        authors,
        st.builds(
            Contribution, st.integers(0, 2**64), st.dictionaries(st.text(max_size=3), numbers, max_size=3)
        ),
        max_size=3,
    ),
)
states = st.one_of(st.integers(0, 2**40).map(lambda n: RowState(2 * n)), alive_states)


@settings(max_examples=300, deadline=None)
@given(state=states)
def test_encode_decode_round_trip(state: RowState) -> None:
    data = encode_state(state)
    back = decode_state(data)
    assert back == state
    assert encode_state(back) == data
    assert exact(back) == exact(state)  # value types and signs of zero survive too


def exact(state: RowState) -> object:
    cells = sorted((c, typed({"v": cell.value}), cell.version) for c, cell in state.cells.items())
    contribs = sorted((a, c.time, sorted(typed(dict(c.sums)).items())) for a, c in state.contribs.items())
    return (state.cl, cells, contribs)


@st.composite
def any_changes(draw: st.DrawFn) -> RowChange:
    counter = draw(st.booleans())
    cl = draw(st.integers(1, 9))
    if cl % 2 == 0:
        return RowChange("t", (1,), cl)
    values = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), sql_values, max_size=3))
    extra = {"n": draw(deltas)} if counter and draw(st.booleans()) else {}
    return RowChange("t", (1,), cl, values, extra, insert=draw(st.booleans()))


@settings(max_examples=500)
@given(
    state=st.one_of(st.none(), states),
    change=any_changes(),
    clock=clocks,
    rule=st.sampled_from([LWWRule(), CounterRule(frozenset({"n"}))]),
)
def test_first_insert_is_what_merge_makes_of_it(
    state: RowState | None, change: RowChange, clock: Clock, rule: ConflictRule
) -> None:
    """The shortcut local commits and remote applies take for new rows gives merge's state, and it
    is taken only where merge would make a new life from nothing."""
    shortcut = first_insert(state, change, clock, rule)
    if shortcut is None:
        assert state is not None or not change.insert or change.deltas or type(rule) is not LWWRule
        return
    outcome = merge(state, change, clock, rule)
    assert outcome.action == "insert"
    assert shortcut == outcome.state
    assert encode_state(shortcut) == encode_state(outcome.state)
