"""Properties of ``p2pdb.log`` (DESIGN.md §2.3, §3): join is commutative, associative and
idempotent; any altered byte is rejected; missing blocks are found exactly, at 10,000 entries."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pdb.log import CID, EntryError, Identity, Log, Manifest, MemoryBlockStore, cid_for_block, decode_entry

MANIFEST = Manifest("props")
WRITERS = [Identity.from_seed(bytes([n]) * 32) for n in range(1, 6)]
READER = Identity.from_seed(b"\x42" * 32)


def blocks_in_store(log: Log) -> list[bytes]:
    """Every block a replica holds, integrated or still waiting for ancestors."""
    blocks = []
    for cid in log.store.cids():
        data = log.store.get(cid)
        assert data is not None
        blocks.append(data)
    return blocks


def order(log: Log) -> list[CID]:
    return [entry.cid for entry in log.traverse()]


@dataclass
class History:
    """Entries written by several writers with random concurrency."""

    blocks: list[bytes]  # one per entry, in no particular order
    heads: tuple[CID, ...]  # heads of the union, computed by brute force
    order: list[CID]  # total order of a replica that received everything in one batch


def brute_force_heads(blocks: Iterable[bytes]) -> tuple[CID, ...]:
    entries = [decode_entry(data) for data in blocks]
    named = {parent for entry in entries for parent in entry.parents}
    return tuple(sorted(entry.cid for entry in entries if entry.cid not in named))


@st.composite
def histories(draw: st.DrawFn) -> History:
    n_writers = draw(st.integers(min_value=2, max_value=5))
    logs = [Log(identity, MANIFEST) for identity in WRITERS[:n_writers]]
    steps = draw(
        st.lists(
            st.tuples(st.integers(0, n_writers - 1), st.integers(0, n_writers - 1), st.integers(0, 3)),
            min_size=8,
            max_size=40,
        )
    )
    for step, (writer, other, action) in enumerate(steps):
        if action == 0:  # occasionally a writer joins what another has written
            logs[writer].join(blocks_in_store(logs[other]))
        else:
            logs[writer].append({"w": writer, "step": step})
    if not any(len(log) for log in logs):
        logs[0].append("only joins were drawn")
    unique: dict[CID, bytes] = {}
    for log in logs:
        for data in blocks_in_store(log):
            unique[cid_for_block(data)] = data
    blocks = list(unique.values())
    everything = Log(READER, MANIFEST)
    result = everything.join(blocks)
    assert result.rejected == [] and result.missing == set()
    return History(blocks, brute_force_heads(blocks), order(everything))


@st.composite
def deliveries(draw: st.DrawFn, n: int) -> list[list[int]]:
    """Every index at least once, some duplicated, shuffled, cut into batches."""
    extra = draw(st.lists(st.integers(0, n - 1), max_size=n))
    sequence = draw(st.permutations(list(range(n)) + extra))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(sequence) - 1)), max_size=6)))
    bounds = [0, *cuts, len(sequence)]
    return [sequence[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def deliver(blocks: Sequence[bytes], batches: list[list[int]]) -> Log:
    log = Log(READER, MANIFEST)
    added: list[CID] = []
    for batch in batches:
        result = log.join(blocks[i] for i in batch)
        assert result.rejected == []
        added.extend(entry.cid for entry in result.added)
    assert len(added) == len(set(added)) == len(blocks)  # each entry integrated exactly once
    assert log.missing() == set()
    return log


@given(st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_order_any_duplicates_any_batches_converge(data: st.DataObject) -> None:
    history = data.draw(histories())
    n = len(history.blocks)
    for _ in range(3):
        batches = data.draw(deliveries(n))
        replica = deliver(history.blocks, batches)
        assert replica.heads == history.heads
        assert order(replica) == history.order
        assert len(replica) == n


@given(st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_join_is_associative_over_replica_states(data: st.DataObject) -> None:
    """(A ⊔ B) ⊔ C == A ⊔ (B ⊔ C), where a replica's state includes blocks still pending."""
    history = data.draw(histories())
    groups = data.draw(
        st.lists(st.integers(0, 2), min_size=len(history.blocks), max_size=len(history.blocks))
    )
    parts = [[b for b, g in zip(history.blocks, groups, strict=True) if g == k] for k in range(3)]

    def replica(*batches: list[bytes]) -> Log:
        log = Log(READER, MANIFEST)
        for batch in batches:
            assert log.join(batch).rejected == []
        return log

    left = replica(blocks_in_store(replica(parts[0], parts[1])), parts[2])
    right = replica(parts[0], blocks_in_store(replica(parts[1], parts[2])))
    swapped = replica(parts[2], parts[1], parts[0])
    for log in (left, right, swapped):
        assert log.heads == history.heads
        assert order(log) == history.order
        assert log.missing() == set()


ipld = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.binary(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)


@given(ipld, st.integers(0, 3), st.data())
@settings(max_examples=300, deadline=None)
def test_any_altered_byte_is_rejected(ops: Any, depth: int, data: st.DataObject) -> None:
    writer = Log(WRITERS[0], MANIFEST)
    for i in range(depth):
        writer.append(i)
    entry = writer.append(ops)
    index = data.draw(st.integers(0, len(entry.block) - 1))
    mask = data.draw(st.integers(1, 255))
    altered = bytearray(entry.block)
    altered[index] ^= mask
    with pytest.raises(EntryError):
        decode_entry(bytes(altered))
    with pytest.raises(EntryError):
        decode_entry(bytes(altered), entry.cid)
    reader = Log(READER, MANIFEST)
    result = reader.join([bytes(altered), (entry.cid, bytes(altered))])
    assert len(result.rejected) == 2 and result.added == []
    assert len(reader.store) == 0


# -- 10,000 entries ---------------------------------------------------------------------------


@dataclass
class Big:
    log: Log
    blocks: dict[CID, bytes]
    removed: CID


@pytest.fixture(scope="module")
def big() -> Big:
    """10,000 entries by two writers; the second writes concurrently now and then (a DAG)."""
    main = Log(WRITERS[0], MANIFEST)
    side = Log(WRITERS[1], MANIFEST)
    synced = 0
    while len(main) < 10_000:
        entry = main.append({"n": len(main)})
        if len(main) % 500 == 250 and len(main) < 10_000:
            fresh = [e.block for e in main.traverse()][synced:]
            side.join(fresh)
            synced += len(fresh)
            concurrent = side.append({"side": len(side)})
            main.append({"n": len(main)})  # written before seeing the side entry
            main.join([concurrent.block])
            assert len(main.heads) == 2
        del entry
    assert len(main) == 10_000
    blocks = {e.cid: e.block for e in main.traverse()}
    removed = list(blocks)[5_000]
    assert main.parents_of(removed)  # not a root
    return Big(main, blocks, removed)


def test_a_block_missing_from_a_copied_store_is_reported_exactly(big: Big) -> None:
    store = MemoryBlockStore()
    store.put_many((cid, data) for cid, data in big.blocks.items() if cid != big.removed)
    replica = Log(READER, MANIFEST, store)
    result = replica.join_heads(big.log.heads)
    assert result.missing == {big.removed}
    assert replica.missing() == {big.removed}
    assert big.removed not in replica
    assert len(replica) < 10_000
    completed = replica.join([big.blocks[big.removed]])
    assert completed.missing == set() and completed.rejected == []
    assert replica.heads == big.log.heads
    assert len(replica) == 10_000


def test_joining_all_but_one_block_reports_it_then_completes(big: Big) -> None:
    replica = Log(READER, MANIFEST)
    result = replica.join((cid, data) for cid, data in big.blocks.items() if cid != big.removed)
    assert result.rejected == []
    assert result.missing == {big.removed}
    assert replica.missing() == {big.removed}
    completed = replica.join([big.blocks[big.removed]])
    assert completed.missing == set()
    assert len(completed.added) + len(result.added) == 10_000
    assert replica.heads == big.log.heads
    assert len(replica) == 10_000
    assert order(replica) == list(big.blocks)
