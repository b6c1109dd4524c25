"""What a peer can make a log keep is bounded (issue 10): waiting entries, missing ids, invalid ids."""

from __future__ import annotations

from p2pdb.log import Limits, Log, Manifest, MemoryBlockStore

from .helpers import ALICE, BOB

MANIFEST = Manifest("limits")


def chain(n: int) -> list[bytes]:
    """``n`` entries by Alice, each on the previous one."""
    log = Log(ALICE, MANIFEST)
    return [log.append({"n": i}).block for i in range(n)]


def test_entries_waiting_beyond_the_limit_are_dropped_and_come_again() -> None:
    blocks = chain(30)
    store = MemoryBlockStore()
    log = Log(BOB, MANIFEST, store, limits=Limits(max_pending=10))
    result = log.join(blocks[1:])  # the first entry is missing: everything else waits
    assert result.added == [] and log.pending_count == 10
    assert len(list(store.cids())) == 10  # the dropped ones are not stored
    again = log.join(blocks)  # anti-entropy sends everything again, in order
    assert len(again.added) == 30 and log.pending_count == 0


def test_waiting_bytes_are_bounded() -> None:
    blocks = chain(20)
    log = Log(BOB, MANIFEST, limits=Limits(max_pending_bytes=3 * len(blocks[5])))
    log.join(blocks[1:])
    assert log.pending_count == 3


def test_entries_that_wait_too_long_are_pruned_with_their_descendants() -> None:
    blocks = chain(5)
    store = MemoryBlockStore()
    log = Log(BOB, MANIFEST, store, limits=Limits(max_pending_age=60))
    log.join(blocks[1:])
    assert log.pending_count == 4 and log.missing()
    assert log.prune_pending() == 0  # not old yet
    import time

    assert log.prune_pending(time.monotonic() + 61) == 4
    assert log.pending_count == 0 and not log.missing() and list(store.cids()) == []
    assert len(log.join(blocks).added) == 5


def test_announced_heads_beyond_the_limit_are_not_remembered() -> None:
    from p2pdb.log import CID
    from p2pdb.log.cid import cid_for_block

    log = Log(BOB, MANIFEST, limits=Limits(max_missing=100))
    fake: list[CID] = [cid_for_block(bytes([i % 256, i // 256])) for i in range(1000)]
    result = log.join_heads(fake)
    assert len(result.missing) == 100 == len(log.missing())


def test_invalid_ids_are_bounded() -> None:
    log = Log(BOB, MANIFEST, limits=Limits(max_invalid=50))
    log.join([bytes([i % 256, i // 256, 1, 2, 3]) for i in range(500)])
    assert len(log._invalid) <= 50
