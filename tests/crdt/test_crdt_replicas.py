"""Replicas running the store's side of the contract, end to end, on random schedules.

Each replica captures local transactions the way the store must (causal-length helpers, split_update,
coalesce, one entry per transaction with a Lamport clock), merges every entry (its own too) exactly once
in causal order, and drives a fake SQL table from the MergeOutcome actions. Whatever the schedule of
writes and partial syncs, after a full exchange every replica holds identical states and identical rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.crdt import (
    ConflictRule,
    CounterRule,
    LWWRule,
    RowChange,
    RowKey,
    RowState,
    SqlValue,
    coalesce,
    encode_state,
    merge,
    next_cl_for_delete,
    next_cl_for_insert,
)
from p2pdb.log.clock import Clock

PKS = [(1,), (2,)]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True, slots=True)
class Entry:
    clock: Clock
    changes: tuple[RowChange, ...]


class Replica:
    def __init__(self, author: bytes, rule: ConflictRule) -> None:
        self.author, self.rule = author, rule
        self.entries: dict[Clock, Entry] = {}
        self.states: dict[RowKey, RowState] = {}
        self.table: dict[RowKey, dict[str, SqlValue]] = {}

    def apply(self, entry: Entry) -> None:
        """Merge one entry, exactly once, and write its outcomes to the fake SQL table."""
        if entry.clock in self.entries:
            return
        self.entries[entry.clock] = entry
        for change in entry.changes:
            key = change.key
            out = merge(self.states.get(key), change, entry.clock, self.rule)
            if out.action == "insert":
                self.table[key] = dict(out.row)
            elif out.action == "update":
                self.table[key].update(out.changed)
            elif out.action == "delete":
                del self.table[key]
            self.states[key] = out.state

    def commit(self, txn: list[tuple[int, str, int]]) -> Entry:
        """Run a transaction of (pk index, op, number) locally and return its entry (already merged)."""
        work = {k: (s.cl, dict(self.table.get(k, {}))) for k, s in self.states.items()}
        changes = []
        for pk_i, op, n in txn:
            key: RowKey = ("t", PKS[pk_i])
            cl, row = work.get(key, (0, {}))
            new: dict[str, SqlValue]
            if cl % 2 == 0:  # missing: INSERT a full row
                cl, new = next_cl_for_insert(cl), {"a": n, "b": f"{self.author[:1].hex()}{n}", "n": n}
                changes.append(RowChange("t", key[1], cl, new))
            elif op == "delete":
                cl, new = next_cl_for_delete(cl), {}
                changes.append(RowChange("t", key[1], cl))
            else:  # UPDATE: "inc" adds n to the counter, "set" writes absolute values
                counter = row["n"]
                assert isinstance(counter, int)
                new = {**row, "n": counter + n} if op == "inc" else {**row, "a": n, "n": n}
                values, deltas = self.rule.split_update(row, new)
                changes.append(RowChange("t", key[1], cl, values, deltas))
            work[key] = (cl, new)
        time = 1 + max((c.time for c in self.entries), default=0)
        entry = Entry(Clock(time, self.author), tuple(coalesce(changes)))
        self.apply(entry)
        # Local writes always win here: the SQL rows are what the transaction wrote.
        for key, (cl, row) in work.items():
            assert self.table.get(key) == (row if cl % 2 else None)
        return entry

    def sync_from(self, other: Replica) -> None:
        # Clock order is a causal order: an entry's time is above all of its ancestors' times.
        for clock in sorted(other.entries.keys() - self.entries.keys()):
            self.apply(other.entries[clock])


ops = st.tuples(st.integers(0, len(PKS) - 1), st.sampled_from(["inc", "set", "delete"]), st.integers(-3, 5))
steps = st.one_of(
    st.tuples(st.just("commit"), st.integers(0, 3), st.lists(ops, min_size=1, max_size=3)),
    st.tuples(st.just("sync"), st.integers(0, 3), st.integers(0, 3)),
)


def run(rule: ConflictRule, n: int, schedule: list[tuple[str, int, object]]) -> list[Replica]:
    replicas = [Replica(bytes([0x10 * (i + 1)]) * 32, rule) for i in range(n)]
    for kind, i, arg in schedule:
        if kind == "commit":
            replicas[i % n].commit(arg)  # type: ignore[arg-type]
        else:
            replicas[i % n].sync_from(replicas[arg % n])  # type: ignore[operator]
    for _ in range(2):
        for r in replicas:
            for other in replicas:
                r.sync_from(other)
    return replicas


def assert_converged(replicas: list[Replica]) -> None:
    first = replicas[0]
    for r in replicas:
        assert r.entries.keys() == first.entries.keys()
        assert {k: encode_state(s) for k, s in r.states.items()} == {
            k: encode_state(s) for k, s in first.states.items()
        }
        assert r.table == first.table
        visible = {k: r.rule.visible(s) for k, s in r.states.items() if s.alive}
        assert r.table == visible


@SETTINGS
@given(n=st.integers(2, 4), schedule=st.lists(steps, max_size=25))
def test_lww_replicas_converge(n: int, schedule: list[tuple[str, int, object]]) -> None:
    assert_converged(run(LWWRule(), n, schedule))


@SETTINGS
@given(n=st.integers(2, 4), schedule=st.lists(steps, max_size=25))
def test_counter_replicas_converge(n: int, schedule: list[tuple[str, int, object]]) -> None:
    assert_converged(run(CounterRule(["n"]), n, schedule))


@SETTINGS
@given(
    n=st.integers(2, 4),
    schedule=st.lists(
        st.one_of(
            st.tuples(st.just("inc"), st.integers(0, 3), st.integers(-3, 5)),
            st.tuples(st.just("sync"), st.integers(0, 3), st.integers(0, 3)),
        ),
        max_size=25,
    ),
)
def test_concurrent_increments_all_count(n: int, schedule: list[tuple[str, int, int]]) -> None:
    replicas = [Replica(bytes([0x10 * (i + 1)]) * 32, CounterRule(["n"])) for i in range(n)]
    replicas[0].commit([(0, "inc", 7)])  # inserts the row with n = 7
    for r in replicas[1:]:
        r.sync_from(replicas[0])
    total = 7
    for kind, i, arg in schedule:
        if kind == "inc":
            replicas[i % n].commit([(0, "inc", arg)])
            total += arg
        else:
            replicas[i % n].sync_from(replicas[arg % n])
    for r in replicas:
        for other in replicas:
            r.sync_from(other)
    assert_converged(replicas)
    assert replicas[0].table[("t", (1,))]["n"] == total


def test_delete_wins_over_concurrent_update_across_replicas() -> None:
    a, b = Replica(b"\x01" * 32, LWWRule()), Replica(b"\x02" * 32, LWWRule())
    a.commit([(0, "set", 1)])
    b.sync_from(a)
    a.commit([(0, "delete", 0)])
    for _ in range(3):  # b's concurrent updates get higher clocks than the delete
        b.commit([(0, "set", 9)])
    a.sync_from(b)
    b.sync_from(a)
    assert_converged([a, b])
    assert a.table == {} and a.states[("t", (1,))] == RowState(2)
