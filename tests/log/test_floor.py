"""Pruning a log below a checkpoint: the floor (entries known by id, without blocks) keeps later
entries integrable, their control pasts right, and survives a restart."""

from __future__ import annotations

from typing import Any

from p2pdb.log import Log, Manifest, SQLiteBlockStore

from .helpers import ALICE, BOB, CAROL

MANIFEST = Manifest("floor")


def is_control(entry: Any) -> bool:
    return isinstance(entry.ops, list) and entry.ops[:1] == ["control"]


def build(store: SQLiteBlockStore) -> tuple[Log, list[Any]]:
    log = Log(ALICE, MANIFEST, store, is_control=is_control)
    entries = [log.append(["control"])]  # a schema change, say
    entries += [log.append([f"write {i}"]) for i in range(5)]
    return log, entries


def test_pruned_entries_stay_known_and_later_entries_integrate() -> None:
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    peer = Log(BOB, MANIFEST, is_control=is_control)
    peer.join(e.block for e in entries)
    late = peer.append(["written before the prune was known"])  # names entries[-1]
    deleted = log.prune(log.heads, keep=[entries[-1].cid])
    assert deleted == 6 and len(store) == 0
    assert log.floor == {entries[-1].cid, entries[0].cid}  # the kept one, and every control entry
    assert entries[2].cid not in log and log.get(entries[-1].cid) is None
    result = log.join([late.block])
    assert [e.cid for e in result.added] == [late.cid] and not result.missing
    assert log.control_past(late.cid) == {entries[0].cid}
    assert log.since_cids([]) == [late.cid]  # floor entries are never sent


def test_a_restarted_log_reads_its_floor_and_the_control_sets_below_it() -> None:
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    log.prune(log.heads, keep=[entries[-1].cid])
    after = log.append(["after the prune"])  # no control entry above the floor
    again = Log(ALICE, MANIFEST, store, is_control=is_control)
    assert again.floor == log.floor
    assert again.heads == (after.cid,)
    assert again.control_past(after.cid) == {entries[0].cid}  # read through the floor
    assert again.next_clock() == log.next_clock()


def test_an_entry_waiting_for_a_parent_still_integrates_after_its_other_parent_is_pruned() -> None:
    """A pending entry names a parent the log holds and one it lacks. Pruning must keep the held one
    known (in the floor), or the entry waits forever for a parent nobody will send again (found by
    the convergence property: a light replica never applied a forged entry the others rejected)."""
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    carol = Log(CAROL, MANIFEST, is_control=is_control)
    other = carol.append(["carol's write, not sent yet"])  # concurrent with all of alice's
    merge = Log(BOB, MANIFEST, is_control=is_control)
    merge.join([*(e.block for e in entries[:3]), other.block])
    waiting = merge.append(["names entries[2] and carol's write"])
    assert set(waiting.parents) == {entries[2].cid, other.cid}
    log.join([waiting.block])  # pending: carol's write is missing
    assert waiting.cid not in log and log.missing() == {other.cid}
    log.prune(log.heads, keep=[])
    assert entries[2].cid in log.floor  # kept known: a pending entry names it
    result = log.join([other.block])
    assert {e.cid for e in result.added} == {other.cid, waiting.cid}


def test_the_parents_of_entries_above_the_floor_stay_known() -> None:
    """An entry concurrent with the checkpoint builds on an old entry, below the last interval.
    Pruning must keep that parent known, or walks down the DAG meet a parent the log does not know
    (found by the convergence property: a KeyError in ``since_cids`` on a light replica)."""
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    bob = Log(BOB, MANIFEST, is_control=is_control)
    bob.join(e.block for e in entries[:2])
    side = bob.append(["bob's write on an old entry"])
    log.join([side.block])
    assert set(log.heads) == {entries[-1].cid, side.cid}
    log.prune([entries[-1].cid], keep=[])
    assert entries[1].cid in log.floor
    assert log.since_cids([]) == [side.cid]  # walks through the floor without a gap
    again = Log(ALICE, MANIFEST, store, is_control=is_control)  # and after a restart
    assert again.since_cids([]) == [side.cid] and entries[1].cid in again.floor


def test_an_entry_this_log_pruned_is_not_taken_again_as_new() -> None:
    """A peer that cannot tell what lies below this log's floor (another light node, say) sends an
    entry it pruned. Integrated again, it became a second head beside the entries built on it, and a
    light replica's heads differed from an archive's (found by the convergence property with access
    rules and checkpoints). An author's entries form a chain: at or below the highest pruned time of
    its author, an entry not held here is below the floor. The bound survives a restart."""
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    heads = log.heads
    log.prune(heads, keep=[entries[-1].cid])
    result = log.join([entries[3].block, entries[1].block])
    assert not result.added and not result.rejected and result.below_floor == 2
    assert log.heads == heads and entries[3].cid not in log
    restarted = Log(ALICE, MANIFEST, store, is_control=is_control)
    assert restarted.join([entries[2].block]).below_floor == 1 and restarted.heads == heads
    # A new entry of the same author, and old entries of an author it never pruned, are taken.
    newer = restarted.append(["after"])
    other = Log(BOB, MANIFEST, is_control=is_control)
    other.join(e.block for e in entries)
    bobs = other.append(["bob"])
    assert [e.cid for e in restarted.join([bobs.block]).added] == [bobs.cid]
    assert newer.cid in restarted.heads or bobs.cid in restarted.heads


def test_a_log_started_from_a_snapshot_takes_nothing_below_its_version_vector() -> None:
    """A light node started from a snapshot never held the entries below it: the snapshot's version
    vector (per author, the highest time below its heads) tells them apart from late entries."""
    store = SQLiteBlockStore(":memory:")
    source, entries = build(SQLiteBlockStore(":memory:"))
    log = Log(BOB, MANIFEST, store, is_control=is_control)
    floor = source.floor_nodes([entries[-1].cid, entries[0].cid])
    log.set_floor(floor, [entries[-1].cid], source.version_vector())
    result = log.join([entries[2].block, entries[4].block])
    assert not result.added and result.below_floor == 2
    assert log.heads == (entries[-1].cid,)
    late = Log(CAROL, MANIFEST, is_control=is_control)
    late.join(e.block for e in entries[:3])
    concurrent = late.append(["written offline, concurrent with the snapshot"])
    got = log.join([concurrent.block])
    assert got.below_floor == 0 and (got.added or got.missing)  # taken: it waits for its parents


def test_a_floor_node_an_entry_still_names_survives_the_next_prune() -> None:
    """A later prune whose walk does not reach an earlier floor node (floor nodes keep only their
    floor parents) forgot it although a waiting entry named it: that entry then waited forever, with
    nothing reported missing (found by the convergence property with access rules and checkpoints)."""
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    side = Log(CAROL, MANIFEST, is_control=is_control)
    side.join(e.block for e in entries[:2])
    branch = side.append(["a side branch"])  # concurrent with entries[2:]
    log.join([branch.block])
    log.prune([entries[3].cid, branch.cid], keep=[entries[3].cid, branch.cid])
    assert branch.cid in log.floor
    bob = Log(BOB, MANIFEST, is_control=is_control)
    bob.join([*(e.block for e in entries), branch.block])
    other = bob.append(["not sent yet"], parents=[branch.cid])
    waiting = bob.append(["names the branch"], parents=[branch.cid, other.cid])
    assert log.join([waiting.block]).missing == {other.cid}
    log.prune([entries[-1].cid], keep=[entries[-1].cid])  # its walk never reaches the branch
    assert branch.cid in log and log.missing() == {other.cid}
    result = log.join([other.block])
    assert {e.cid for e in result.added} == {other.cid, waiting.cid} and not log.missing()


def test_ancestry_between_floor_entries_survives_the_entries_pruned_between_them() -> None:
    """A floor entry's parents are its nearest floor ancestors, through forgotten entries. A light
    node judged a later checkpoint proposal by whether the proposal it builds on (pruned, kept in
    the floor) lies in its past, and answered no where an archive answered yes: the convergence
    property's third light-node divergence (checkpoint chains that differed in ``covers_prev``)."""
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    # keep entries[1] (a proposal, say) and the head; entries[2..4] between them are forgotten
    log.prune(log.heads, keep=[entries[1].cid, entries[-1].cid])
    assert entries[3].cid not in log
    later = log.append(["a later proposal"])
    assert log.is_ancestor(entries[1].cid, later.cid)
    assert log.is_ancestor(entries[0].cid, later.cid)  # the control entry, below entries[1]
    again = Log(ALICE, MANIFEST, store, is_control=is_control)  # the same after a restart
    assert again.is_ancestor(entries[1].cid, later.cid)
    assert not again.is_ancestor(later.cid, entries[1].cid)


def test_floor_entries_that_are_concurrent_stay_unrelated() -> None:
    store = SQLiteBlockStore(":memory:")
    log, entries = build(store)
    bob = Log(BOB, MANIFEST, is_control=is_control)
    bob.join(e.block for e in entries[:2])
    side = bob.append(["concurrent with entries[2..]"])
    log.join([side.block])
    merge = log.append(["merge"])
    log.prune([merge.cid], keep=[side.cid, entries[3].cid])
    assert log.is_ancestor(entries[0].cid, side.cid)  # the control entry, through entries[1]
    assert not log.is_ancestor(entries[3].cid, side.cid) and not log.is_ancestor(side.cid, entries[3].cid)
    assert log.is_ancestor(entries[3].cid, merge.cid) and log.is_ancestor(side.cid, merge.cid)
