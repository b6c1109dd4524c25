"""Properties of ACL evaluation over random histories: grants, revokes, owners, concurrent inits and
writes in a random causal DAG, delivered in any order.

Invariants:
- the verdict on every write (and the ACL at every point) is a function of the events and their
  causal order, never of the order events were learnt in;
- a key nobody ever granted anything is refused everywhere in a controlled database;
- a revocation in a write's past, with no grant of that privilege after it, refuses the write;
- a database that has an ``init`` always has an owner, and owners are always allowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.acl import ANYONE, Acl, AclBook, AclEvent, AclOp

KEYS = [bytes([n]) * 32 for n in (1, 2, 3, 4)]  # KEYS[0] creates; KEYS[3] is never granted anything
OUTSIDER = KEYS[3]
PRIVS = ["INSERT", "UPDATE", "DELETE"]
TABLES = ["a", "b"]
COLUMNS = ["x", "y"]
EXAMPLES = int(os.environ.get("P2PDB_PROPERTY_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Write:
    cid: bytes
    author: bytes
    privilege: str
    table: str
    columns: tuple[str, ...]
    past: frozenset[bytes]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[AclEvent], list[Write]]:
    count = draw(st.integers(2, 18))
    pasts: list[frozenset[bytes]] = []
    times: list[int] = []
    events: list[AclEvent] = []
    writes: list[Write] = []
    for n in range(count):
        cid = bytes([n + 1]) * 4
        parents = draw(st.lists(st.integers(0, max(0, n - 1)), max_size=2)) if n else []
        past: set[bytes] = set()
        for p in parents:
            past |= pasts[p] | {bytes([p + 1]) * 4}
        pasts.append(frozenset(past))
        author = draw(st.sampled_from(KEYS))
        time = 1 + max((times[p] for p in parents), default=0)
        times.append(time)
        kind = (
            "init"
            if n == 0
            else draw(st.sampled_from(["init", "grant", "revoke", "owner", "write", "write"]))
        )
        if kind == "write":
            table = draw(st.sampled_from(TABLES))
            columns = tuple(draw(st.lists(st.sampled_from(COLUMNS), unique=True, max_size=2)))
            writes.append(Write(cid, author, draw(st.sampled_from(PRIVS)), table, columns, frozenset(past)))
            continue
        if kind == "init":
            owners = tuple(sorted({author, *draw(st.lists(st.sampled_from(KEYS[:3]), max_size=1))}))
            op = AclOp("init", owners=owners, open=draw(st.booleans()))
        elif kind == "owner":
            op = AclOp("owner", owners=(draw(st.sampled_from(KEYS[:3])),))
        elif kind == "key":  # a content key (re)wrapped to some readers: rotations and additions
            readers = sorted(draw(st.lists(st.sampled_from(KEYS[:3]), min_size=1, max_size=3, unique=True)))
            key_id = bytes([draw(st.integers(1, 3))]) * 16
            op = AclOp("key", key_id=key_id, wraps=tuple((r, b"\0" * 80) for r in readers))
        else:
            to = draw(st.sampled_from([*KEYS[:3], ANYONE]))
            privileges = tuple(
                sorted(draw(st.lists(st.sampled_from(PRIVS), min_size=1, max_size=2, unique=True)))
            )
            table = draw(st.sampled_from([None, *TABLES]))
            columns: tuple[str, ...] = ()
            if table is not None and "DELETE" not in privileges and draw(st.booleans()):
                columns = tuple(sorted(draw(st.lists(st.sampled_from(COLUMNS), min_size=1, unique=True))))
            op = AclOp(kind, to=to, privileges=privileges, table=table, columns=columns)
        if kind in ("grant", "revoke") and op.to == OUTSIDER:
            continue
        events.append(AclEvent(cid, 0, author, time, op, frozenset(past)))
    return events, writes


def controlled_writes(events: list[AclEvent], writes: list[Write]) -> Iterator[tuple[Write, Acl, AclBook]]:
    """Each write of a database that has rules at that point, with those rules."""
    book = AclBook(events)
    for w in writes:
        acl = book.at(w.past)
        if acl.controlled:
            yield w, acl, book


def verdicts(book: AclBook, writes: list[Write]) -> list[object]:
    return [book.at(w.past).check(w.author, w.privilege, w.table, w.columns) for w in writes]


@FAST
@given(history=histories(), data=st.data())
def test_verdicts_do_not_depend_on_delivery_order(
    history: tuple[list[AclEvent], list[Write]], data: st.DataObject
) -> None:
    events, writes = history
    in_order = AclBook(events)
    shuffled = AclBook()
    for event in data.draw(st.permutations(events)):
        shuffled.add(event)
    assert verdicts(in_order, writes) == verdicts(shuffled, writes)
    assert in_order.current() == shuffled.current()
    assert [in_order.at(w.past).key_id for w in writes] == [shuffled.at(w.past).key_id for w in writes]
    # half delivered, queried, then the rest: the cache must not keep a stale answer
    order = data.draw(st.permutations(events))
    partial = AclBook()
    for event in order:
        partial.add(event)
        verdicts(partial, writes)
        partial.current()
    assert verdicts(partial, writes) == verdicts(in_order, writes)
    assert partial.current() == in_order.current()


@FAST
@given(history=histories())
def test_outsiders_are_refused_owners_allowed_and_owners_never_empty(
    history: tuple[list[AclEvent], list[Write]],
) -> None:
    events, writes = history
    for w, acl, _ in controlled_writes(events, writes):
        assert acl.owners, "a controlled database always has an owner"
        verdict = acl.check(w.author, w.privilege, w.table, w.columns)
        if w.author in acl.owners:
            assert verdict is None
        elif (
            w.author == OUTSIDER
            and not any(e.op.open for e in events if e.op.kind == "init" and e.cid in w.past)
            and not any(e.op.to == ANYONE for e in events if e.cid in w.past)
        ):
            assert verdict is not None


@FAST
@given(history=histories())
def test_a_revocation_seen_and_not_followed_by_a_grant_refuses(
    history: tuple[list[AclEvent], list[Write]],
) -> None:
    events, writes = history
    for w, acl, book in controlled_writes(events, writes):
        if w.author in acl.owners:
            continue
        seen = [e for e in events if e.cid in w.past and book.valid(e)]
        for r in seen:
            op = r.op
            if (
                op.kind != "revoke"
                or op.to != w.author
                or op.table is not None
                or w.privilege not in op.privileges
            ):
                continue
            grants_after = [
                g for g in seen if g.op.kind in ("grant", "init") and g.cid not in r.past and g.cid != r.cid
            ]
            # anyone ('*') holding the privilege, by a grant or an open init, is another way in
            anyone = any(e.op.to == ANYONE or (e.op.kind == "init" and e.op.open) for e in seen)
            if not grants_after and not anyone:
                assert acl.check(w.author, w.privilege, w.table, w.columns) is not None
