"""The Merkle-CRDT log: append, the four join cases, missing ancestors, restarts, ordering,
ancestry, ``since``, and every rejection (nothing rejected is ever stored)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from p2pdb.log import (
    CID,
    AccessDenied,
    CIDMismatch,
    Clock,
    Entry,
    EntryError,
    EntryTooLarge,
    Identity,
    InvalidClock,
    InvalidSignature,
    Log,
    MalformedEntry,
    Manifest,
    MemoryBlockStore,
    SQLiteBlockStore,
    WrongDatabase,
    cid_for_block,
    codec,
    create_entry,
    decode_entry,
)
from p2pdb.log import log as log_module
from p2pdb.log.errors import TransactionTooLarge

from .helpers import ALICE, BOB, CAROL, CountingStore, blocks_of, order_of

SHOP = Manifest("shop")


def new_log(identity: Identity = ALICE, manifest: Manifest = SHOP, store: Any = None) -> Log:
    return Log(identity, manifest, store)


def cids(entries: Iterable[Entry]) -> list[CID]:
    return [entry.cid for entry in entries]


def chain(log: Log, n: int, tag: str = "op") -> list[Entry]:
    return [log.append({tag: i}) for i in range(n)]


def ancestors_or_self(log: Log, starts: Iterable[CID]) -> set[CID]:
    """Brute force: everything reachable from ``starts`` through parents, ``starts`` included."""
    seen: set[CID] = set()
    stack = [cid for cid in starts if cid in log]
    while stack:
        cid = stack.pop()
        if cid not in seen:
            seen.add(cid)
            stack.extend(log.parents_of(cid))
    return seen


# -- appending ---------------------------------------------------------------------------------


def test_append_builds_a_chain() -> None:
    log = new_log()
    e1, e2, e3 = chain(log, 3)
    assert (e1.clock, e2.clock, e3.clock) == (
        Clock(1, ALICE.public_key),
        Clock(2, ALICE.public_key),
        Clock(3, ALICE.public_key),
    )
    assert e1.parents == () and e2.parents == (e1.cid,) and e3.parents == (e2.cid,)
    assert e1.db == SHOP.address == log.id
    assert log.heads == (e3.cid,)
    assert len(log) == 3
    assert e1.cid in log and cid_for_block(b"x") not in log
    assert log.get(e2.cid) == e2
    assert log.get(cid_for_block(b"x")) is None
    assert log.clock_of(e3.cid) == e3.clock
    assert log.parents_of(e3.cid) == (e2.cid,)
    assert log.store.get_heads(log.id) == [e3.cid]
    assert log.store.get(e1.cid) == e1.block
    assert log.missing() == set()


def test_append_too_large_stores_nothing() -> None:
    log = Log(ALICE, SHOP, max_entry_size=200)
    with pytest.raises(ValueError):
        log.append({"blob": b"x" * 300})
    assert len(log) == 0 and len(log.store) == 0 and log.heads == ()


def test_append_of_more_data_items_than_a_value_may_hold_is_too_large_too() -> None:
    log = Log(ALICE, SHOP)
    ops = [0] * (codec.MAX_ITEMS + 1)  # 1 MB: within the size limit, over the item limit
    with pytest.raises(TransactionTooLarge) as caught:
        log.append(ops)
    assert caught.value.items == codec.MAX_ITEMS and caught.value.size > codec.MAX_ITEMS
    assert "data items" in str(caught.value)
    assert len(log) == 0 and len(log.store) == 0 and log.heads == ()
    log.append(ops[: codec.MAX_ITEMS - 100])  # what decoding takes, appends
    assert len(log) == 1


# -- the whitepaper's four join cases ---------------------------------------------------------


def test_join_same() -> None:
    a = new_log()
    entries = chain(a, 3)
    b = new_log(BOB)
    assert cids(b.join(blocks_of(a)).added) == cids(entries)
    again = b.join(blocks_of(a))
    assert again.added == [] and again.missing == set() and again.rejected == []
    assert a.join(blocks_of(b)).added == []
    assert a.heads == b.heads == (entries[-1].cid,)
    assert b.join_heads(a.heads).added == []


def test_join_contained() -> None:
    a = new_log()
    e1, e2, e3 = chain(a, 3)
    b = new_log(BOB)
    b.join([e1.block, e2.block])
    result = a.join(blocks_of(b))  # b's history is contained in a's
    assert result.added == [] and result.missing == set()
    assert a.heads == (e3.cid,)
    assert a.join_heads(b.heads).added == []
    assert a.heads == (e3.cid,)


def test_join_contains_fast_forward() -> None:
    a = new_log()
    e1, e2, e3, e4 = chain(a, 4)
    b = new_log(BOB)
    b.join([e1.block])
    result = b.join(blocks_of(a))  # a's history contains b's: b moves forward to a's head
    assert cids(result.added) == [e2.cid, e3.cid, e4.cid]
    assert b.heads == a.heads == (e4.cid,)
    nxt = b.append("after")
    assert nxt.parents == (e4.cid,) and nxt.clock.time == 5


def test_join_concurrent_then_merge_by_next_append() -> None:
    a, b = new_log(ALICE), new_log(BOB)
    root = a.append("root")
    b.join([root.block])
    x = a.append("x")
    y = b.append("y")
    assert x.clock.time == y.clock.time == 2
    assert cids(a.join([y.block]).added) == [y.cid]
    assert cids(b.join([x.block]).added) == [x.cid]
    assert a.heads == b.heads == tuple(sorted([x.cid, y.cid]))  # two heads coexist
    assert order_of(a) == order_of(b)
    merge = a.append("merge")
    assert merge.parents == tuple(sorted([x.cid, y.cid]))
    assert merge.clock.time == 3
    assert a.heads == (merge.cid,)
    b.join([merge.block])
    assert b.heads == (merge.cid,)
    assert order_of(a) == order_of(b)


def test_concurrent_entries_are_ordered_by_time_then_author_key() -> None:
    logs = [new_log(identity) for identity in (ALICE, BOB, CAROL)]
    root = logs[0].append("root")
    for log in logs[1:]:
        log.join([root.block])
    tips = [log.append(f"tip{i}") for i, log in enumerate(logs)]
    deeper = logs[2].append("deeper")  # time 3 by carol
    for log in logs:
        log.join([e.block for e in (*tips, deeper)])
    by_key = [e.cid for e in sorted(tips, key=lambda e: e.author)]
    for log in logs:
        assert order_of(log) == [root.cid, *by_key, deeper.cid]
        assert order_of(log)[::-1] == cids(log.traverse(reverse=True))


# -- missing ancestors ----------------------------------------------------------------------------


def test_missing_ancestors_are_reported_and_completed() -> None:
    a = new_log()
    e1, e2, e3, e4 = chain(a, 4)
    b = new_log(BOB)
    first = b.join([e4.block])
    assert first.added == [] and first.missing == {e3.cid}
    assert b.missing() == {e3.cid}
    assert e4.cid not in b and len(b) == 0 and not b.heads
    assert b.join([e3.block]).missing == {e2.cid}
    last = b.join([e2.block, e1.block])
    assert cids(last.added) == [e1.cid, e2.cid, e3.cid, e4.cid]  # causal order
    assert last.missing == set() and b.missing() == set()
    assert b.heads == (e4.cid,)


def test_a_merge_missing_both_parents() -> None:
    a, b = new_log(ALICE), new_log(BOB)
    x, y = a.append("x"), b.append("y")
    a.join([y.block])
    merge = a.append("merge")
    c = new_log(CAROL)
    assert c.join([merge.block]).missing == {x.cid, y.cid}
    second = c.join([x.block])
    assert second.missing == {y.cid}
    assert cids(second.added) == [x.cid]  # a root: integrated at once, the merge still waits
    assert c.heads == (x.cid,)
    assert cids(c.join([y.block]).added) == [y.cid, merge.cid]
    assert c.heads == (merge.cid,)


def test_join_heads_over_a_store_that_already_has_the_blocks() -> None:
    a = new_log()
    a_entries = chain(a, 5)
    store = MemoryBlockStore()
    store.put_many((e.cid, e.block) for e in a_entries)  # e.g. fetched before a restart
    b = new_log(BOB, store=store)
    assert len(b) == 0 and not b.heads
    result = b.join_heads(a.heads)
    assert cids(result.added) == cids(a_entries)
    assert result.missing == set()
    assert b.heads == a.heads and len(b) == 5


def test_join_heads_reports_what_to_fetch() -> None:
    a = new_log()
    entries = chain(a, 3)
    b = new_log(BOB)
    assert b.join_heads(a.heads).missing == {entries[-1].cid}
    assert b.missing() == {entries[-1].cid}
    assert b.join([e.block for e in entries]).missing == set()
    assert b.heads == a.heads


def test_pending_entries_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    a = new_log()
    e1, e2, e3, e4 = chain(a, 4)
    first = new_log(BOB, store=SQLiteBlockStore(path))
    assert first.join([e4.block, e3.block]).missing == {e2.cid}
    del first
    second = new_log(BOB, store=SQLiteBlockStore(path))  # restart: pending blocks are in the store
    assert len(second) == 0 and not second.heads
    assert second.join_heads([e4.cid]).missing == {e2.cid}  # found e4, e3 locally
    result = second.join([e1.block, e2.block])
    assert cids(result.added) == [e1.cid, e2.cid, e3.cid, e4.cid]
    assert second.heads == (e4.cid,)


def test_reopening_a_log_restores_heads_and_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "log.db")
    a = new_log(ALICE, store=SQLiteBlockStore(path))
    b = new_log(BOB)
    chain(a, 10)
    b.join(blocks_of(a))
    chain(b, 3, "b")
    chain(a, 2, "a")
    a.join(blocks_of(b))  # two heads
    assert len(a.heads) == 2
    reopened = new_log(ALICE, store=SQLiteBlockStore(path))
    assert reopened.heads == a.heads
    assert len(reopened) == len(a) == 15
    assert list(reopened.traverse()) == list(a.traverse())
    nxt = reopened.append("after restart")
    assert nxt.parents == a.heads
    assert nxt.clock.time == 1 + max(a.clock_of(h).time for h in a.heads)


# -- reading -------------------------------------------------------------------------------------


def random_history(seed: int, writers: int = 3, steps: int = 60) -> tuple[list[Log], Log]:
    """Logs of several writers that append and sometimes join each other; and one log with all."""
    rng = random.Random(seed)
    identities = [ALICE, BOB, CAROL][:writers]
    logs = [new_log(identity) for identity in identities]
    for step in range(steps):
        i = rng.randrange(writers)
        if rng.random() < 0.3:
            j = rng.randrange(writers)
            logs[i].join(blocks_of(logs[j]))
        else:
            logs[i].append({"step": step})
    full = new_log(CAROL)
    for log in logs:
        full.join(blocks_of(log))
    return logs, full


@pytest.mark.parametrize("seed", range(5))
def test_traversal_is_causal_then_lamport(seed: int) -> None:
    _, full = random_history(seed)
    entries = list(full.traverse())
    position = {e.cid: i for i, e in enumerate(entries)}
    for entry in entries:
        assert all(position[p] < position[entry.cid] for p in entry.parents)
        assert entry.clock.time == 1 + max((full.clock_of(p).time for p in entry.parents), default=0)
    keys = [(e.clock.time, e.author, e.cid) for e in entries]
    assert keys == sorted(keys)
    assert cids(full.traverse(reverse=True)) == cids(entries)[::-1]


@pytest.mark.parametrize("seed", range(5))
def test_is_ancestor_matches_brute_force(seed: int) -> None:
    _, full = random_history(seed, steps=40)
    all_cids = order_of(full)
    for descendant in all_cids:
        reachable = ancestors_or_self(full, full.parents_of(descendant))
        for ancestor in all_cids:
            assert full.is_ancestor(ancestor, descendant) == (ancestor in reachable)
    unknown = cid_for_block(b"unknown")
    assert not full.is_ancestor(unknown, all_cids[-1])
    assert not full.is_ancestor(all_cids[0], unknown)


@pytest.mark.parametrize("seed", range(6))
def test_since_matches_brute_force(seed: int) -> None:
    logs, full = random_history(seed)
    rng = random.Random(seed)
    all_cids = order_of(full)
    candidates: list[list[CID]] = [[], list(full.heads), [all_cids[0]]]
    candidates += [list(log.heads) for log in logs]  # what real peers would announce
    candidates += [rng.sample(all_cids, k=rng.randint(1, 4)) for _ in range(10)]
    candidates.append([cid_for_block(b"a head we do not know"), all_cids[0]])
    ours = ancestors_or_self(full, full.heads)
    for remote in candidates:
        expected = ours - ancestors_or_self(full, remote)
        lacking = full.since(remote)
        assert set(cids(lacking)) == expected
        assert cids(lacking) == [c for c in all_cids if c in expected]  # in total order
        assert full.count_since(remote, len(all_cids)) == len(expected)
        assert full.count_since(remote, 3) == min(3, len(expected))  # counted no further
    # What a real peer lacks, delivered to it, completes it.
    peer = logs[0]
    peer.join(e.block for e in full.since(peer.heads))
    assert peer.heads == full.heads


def test_is_ancestor_simple_cases() -> None:
    a, b = new_log(ALICE), new_log(BOB)
    e1, e2 = chain(a, 2)
    b.join(blocks_of(a))
    x, y = a.append("x"), b.append("y")
    a.join([y.block])
    merge = a.append("merge")
    assert a.is_ancestor(e1.cid, e2.cid) and a.is_ancestor(e1.cid, merge.cid)
    assert not a.is_ancestor(e2.cid, e1.cid)
    assert not a.is_ancestor(e2.cid, e2.cid)  # strictly
    assert not a.is_ancestor(x.cid, y.cid) and not a.is_ancestor(y.cid, x.cid)
    assert a.is_ancestor(x.cid, merge.cid) and a.is_ancestor(y.cid, merge.cid)


# -- rejections ------------------------------------------------------------------------------------


def forged(identity: Identity, log_id: str, time: int, parents: Iterable[CID], ops: Any = "forged") -> Entry:
    """A correctly signed entry with a hand-made (possibly wrong) Lamport time."""
    return create_entry(identity, log_id, Clock(time, identity.public_key), list(parents), ops)


@pytest.mark.parametrize("time", [1, 3, 7])  # the right time would be 2
def test_invalid_clock_is_rejected_and_not_stored(time: int) -> None:
    a = new_log()
    (e1,) = chain(a, 1)
    bad = forged(BOB, a.id, time, [e1.cid])
    child = forged(BOB, a.id, time + 1, [bad.cid])  # its own time is consistent with bad's
    store_before = set(a.store.cids())
    result = a.join([bad.block, child.block])
    assert result.added == []
    assert {type(err) for err in result.rejected} == {InvalidClock, EntryError}
    assert next(err for err in result.rejected if isinstance(err, InvalidClock)).cid == bad.cid
    assert {err.cid for err in result.rejected} == {bad.cid, child.cid}
    assert set(a.store.cids()) == store_before
    assert bad.cid not in a and child.cid not in a
    assert a.heads == (e1.cid,)
    good = forged(BOB, a.id, 2, [e1.cid])
    assert cids(a.join([good.block]).added) == [good.cid]


def test_invalid_root_clock_is_rejected() -> None:
    a = new_log()
    bad = forged(BOB, a.id, 2, [])
    result = a.join([bad.block])
    assert [type(err) for err in result.rejected] == [InvalidClock]
    assert len(a.store) == 0 and a.heads == ()


def test_invalid_clock_waiting_for_a_parent_is_removed_when_checked() -> None:
    a = new_log()
    (e1,) = chain(a, 1)
    b = new_log(BOB)
    bad = forged(CAROL, a.id, 5, [e1.cid])
    assert b.join([bad.block]).missing == {e1.cid}
    result = b.join([e1.block])
    assert cids(result.added) == [e1.cid]
    assert [type(err) for err in result.rejected] == [InvalidClock]
    assert b.store.get(bad.cid) is None
    assert set(b.store.cids()) == {e1.cid}
    assert b.heads == (e1.cid,)


def test_access_denied_stores_nothing() -> None:
    restricted = Manifest("shop", owners=(ALICE.public_key,), writers=(BOB.public_key,))
    a = new_log(ALICE, restricted)
    carol = new_log(CAROL, Manifest("shop"))  # same database, carol thinks it is open
    bob = new_log(BOB, restricted)
    intruder = carol.append("let me in")
    allowed = bob.append("hello")
    result = a.join([intruder.block, allowed.block])
    assert [type(err) for err in result.rejected] == [AccessDenied]
    assert result.rejected[0].cid == intruder.cid
    assert cids(result.added) == [allowed.cid]
    assert a.store.get(intruder.cid) is None and intruder.cid not in a
    assert set(a.store.cids()) == {allowed.cid}


def test_wrong_database_stores_nothing() -> None:
    a = new_log()
    other = new_log(BOB, Manifest("other"))
    foreign = other.append("x")
    result = a.join([foreign.block])
    assert [type(err) for err in result.rejected] == [WrongDatabase]
    assert result.rejected[0].cid == foreign.cid
    assert len(a.store) == 0 and a.heads == ()


def test_other_network_is_another_database() -> None:
    a = new_log()
    other = new_log(BOB, Manifest("shop", network_id="private"))
    result = a.join([other.append("x").block])
    assert [type(err) for err in result.rejected] == [WrongDatabase]


def test_bad_blocks_are_rejected_and_never_stored() -> None:
    a = new_log()
    b = new_log(BOB)
    good = b.append("good")
    tampered = bytearray(good.block)
    tampered[-40] ^= 0xFF  # inside the parents/author area or the signature
    other = b.append("other")
    wrong_sig = bytearray(other.block)
    index = other.block.index(other.sig)
    wrong_sig[index] ^= 0x01
    result = a.join(
        [
            b"\xff\x00garbage",
            bytes(tampered),
            bytes(wrong_sig),
            (cid_for_block(b"announced as something else"), good.block),
        ]
    )
    kinds = [type(err) for err in result.rejected]
    assert kinds[0] is MalformedEntry
    assert issubclass(kinds[1], EntryError)
    assert kinds[2] is InvalidSignature
    assert kinds[3] is CIDMismatch
    assert result.rejected[3].cid == cid_for_block(b"announced as something else")
    assert result.added == [] and len(a.store) == 0 and a.heads == ()
    # The genuine blocks are still accepted afterwards.
    assert cids(a.join([good.block, (other.cid, other.block)]).added) == [good.cid, other.cid]


def test_too_large_blocks_are_rejected() -> None:
    a = Log(ALICE, SHOP, max_entry_size=300)
    big = new_log(BOB).append({"blob": b"x" * 400})
    result = a.join([big.block])
    assert [type(err) for err in result.rejected] == [EntryTooLarge]
    assert len(a.store) == 0


def test_duplicates_in_one_batch() -> None:
    a = new_log()
    e1, e2 = chain(a, 2)
    b = new_log(BOB)
    result = b.join([e2.block, e1.block, e2.block, (e1.cid, e1.block), e1.block])
    assert cids(result.added) == [e1.cid, e2.cid]
    assert result.rejected == []


def test_shared_store_does_not_leak_another_database() -> None:
    store = MemoryBlockStore()
    shop = new_log(ALICE, SHOP, store)
    other = new_log(ALICE, Manifest("other"), store)
    foreign = other.append({"secret": 1})
    result = shop.join_heads([foreign.cid])  # announced by a peer; the block sits in our store
    assert result.added == [] and foreign.cid not in shop
    assert result.missing == {foreign.cid}
    assert [type(err) for err in shop.join([foreign.block]).rejected] == [WrongDatabase]
    assert other.heads == (foreign.cid,)  # the other log is untouched


# -- cost: joining never re-walks known history -----------------------------------------------


def test_joining_one_entry_on_a_long_log_is_constant_work(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = new_log(ALICE)
    chain(writer, 1000)
    store = CountingStore()
    reader = new_log(BOB, store=store)
    reader.join(blocks_of(writer))
    assert len(reader) == 1000
    decoded: list[int] = []
    real_decode = decode_entry

    def counting_decode(*args: Any, **kwargs: Any) -> Entry:
        decoded.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(log_module, "decode_entry", counting_decode)
    new = writer.append("one more")
    store.reset()
    result = reader.join([new.block])
    assert cids(result.added) == [new.cid]
    assert store.calls.get("get", 0) == 0
    assert store.calls.get("has", 0) == 0
    assert store.calls["put_many"] == 1 and store.calls["set_heads"] == 1
    assert len(decoded) == 1  # only the new entry is decoded and verified
    store.reset()
    decoded.clear()
    assert reader.join([new.block]).added == []  # known: nothing decoded at all
    assert reader.join_heads(writer.heads).added == []
    assert len(decoded) == 0 and store.calls.get("get", 0) == 0
    local = reader.append("local")
    assert local.parents == (new.cid,)
    assert store.calls.get("get", 0) == 0 and len(decoded) == 0


def test_joining_in_reverse_one_by_one_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries arriving newest first, one per join, must not rescan every pending entry."""
    writer = new_log(ALICE)
    entries = chain(writer, 400)
    checks: list[int] = []
    real_ready: Callable[[Log, Any], bool] = log_module.Log._ready

    def counting_ready(self: Log, node: Any) -> bool:
        checks.append(1)
        return real_ready(self, node)

    monkeypatch.setattr(log_module.Log, "_ready", counting_ready)
    reader = new_log(BOB)
    for entry in reversed(entries):
        reader.join([entry.block])
    assert reader.heads == writer.heads and len(reader) == 400
    assert len(checks) <= 4 * len(entries)  # a rescan per join would be ~80,000


def test_catching_up_newest_first_decodes_each_block_at_most_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backfill fetches ancestors breadth-first, so batches arrive newest first: a parent in the
    same batch must not be read back from the store and decoded again."""
    writer = new_log(ALICE)
    entries = chain(writer, 300)
    decoded: list[int] = []
    real_decode = decode_entry

    def counting_decode(*args: Any, **kwargs: Any) -> Entry:
        decoded.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(log_module, "decode_entry", counting_decode)
    reader = new_log(BOB)
    newest_first = [e.block for e in reversed(entries)]
    for start in range(0, 300, 50):
        reader.join(newest_first[start : start + 50])
    assert reader.heads == writer.heads and len(reader) == 300
    # Once to verify; once more only for entries integrated by a later join (to return them).
    assert len(decoded) <= 300 + 250


def test_descendants_of_a_rejected_entry_are_rejected_and_not_missing() -> None:
    from p2pdb.log import AccessDenied, Identity, Log, Manifest

    owner = Identity.generate()
    intruder = Identity.generate()
    manifest = Manifest("acl", owners=(owner.public_key,), writers=(owner.public_key,))
    open_manifest = Manifest("acl")
    assert open_manifest.address == manifest.address
    forger = Log(intruder, open_manifest)
    bad = forger.append({"x": 1})
    # A misconfigured replica of the owner accepted the intruder's entry and wrote on top of it.
    careless = Log(owner, open_manifest)
    careless.join([bad.block])
    child = careless.append({"x": 2})
    target = Log(owner, manifest)
    # The child arrives first and waits for its parent; the parent is then refused.
    first = target.join([child.block])
    assert first.missing == {bad.cid}
    second = target.join([bad.block])
    assert any(isinstance(e, AccessDenied) for e in second.rejected)
    assert {e.cid for e in second.rejected} == {bad.cid, child.cid}
    assert target.missing() == set()
    assert not target.store.has(child.cid)
    # A later entry built on the rejected one is refused at once.
    grandchild = careless.append({"x": 3})
    third = target.join([grandchild.block])
    assert [e.cid for e in third.rejected] == [grandchild.cid]
    assert len(target) == 0


def test_append_refuses_an_identity_that_may_not_write() -> None:
    from p2pdb.log import AccessDenied, Identity, Log, Manifest

    owner = Identity.generate()
    reader = Identity.generate()
    manifest = Manifest("private", owners=(owner.public_key,), writers=(owner.public_key,))
    log = Log(reader, manifest)
    with pytest.raises(AccessDenied):
        log.append({"x": 1})
    assert len(log) == 0 and log.heads == ()
    assert len(Log(owner, manifest).store) == 0
