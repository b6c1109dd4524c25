"""The checkpoint chain rules (docs/checkpoints.md "Rules"), and that the chain is a function of the
events held, whatever their order or duplicates."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pdb.checkpoint import (
    CheckpointOp,
    Countersign,
    CountersignOp,
    InvalidCheckpoint,
    Policy,
    Proposal,
    decode_checkpoint_op,
    resolve,
)
from p2pdb.log import CID
from p2pdb.log.cid import cid_for_block

EXAMPLES = int(os.environ.get("P2PDB_PROPERTY_EXAMPLES", "200"))
KEYS = [bytes([i]) * 32 for i in range(6)]
STATE = hashlib.sha256(b"state").digest()
OTHER = hashlib.sha256(b"other").digest()


def cid(tag: str) -> CID:
    return cid_for_block(tag.encode().ljust(8, b"."))


def proposal(
    name: str, seq: int, prev: str | None, author: int = 0, entries: int = 10, time: int = 5,
    state: bytes = STATE, covers: bool = True,
) -> Proposal:  # fmt: skip
    return Proposal(
        cid(name),
        seq,
        cid(prev) if prev else None,
        KEYS[author],
        time,
        entries,
        3,
        state,
        state,
        0,
        (),
        covers,
    )


def sign(target: str, author: int, state: bytes = STATE, n: int = 0) -> Countersign:
    return Countersign(cid(f"cs{target}{author}{n}"), cid(target), KEYS[author], state, state)


def test_a_proposal_needs_the_quorum_of_distinct_signers() -> None:
    p = proposal("a", 1, None)
    assert resolve([p], [], Policy(2)).chain == []
    assert resolve([p], [sign("a", 0)], Policy(2)).chain == []  # the author again counts once
    chain = resolve([p], [sign("a", 1)], Policy(2))
    assert [s.proposal.cid for s in chain.chain] == [p.cid]
    assert chain.chain[0].signers == frozenset({KEYS[0], KEYS[1]})


def test_dissent_does_not_count_and_is_reported() -> None:
    p = proposal("a", 1, None)
    chain = resolve([p], [sign("a", 1, OTHER)], Policy(2))
    assert chain.chain == []
    assert chain.statuses[p.cid].dissent == frozenset({KEYS[1]})


def test_owners_majority_finalizes_and_ineligible_keys_do_not_count() -> None:
    p = proposal("a", 1, None, author=3)
    owners = frozenset({KEYS[0], KEYS[1], KEYS[2]})
    policy = Policy(5, eligible=lambda a, _: a in owners | {KEYS[3]}, owners=lambda _: owners)
    assert resolve([p], [sign("a", 0)], policy).chain == []  # 1 of 3 owners
    assert len(resolve([p], [sign("a", 0), sign("a", 1)], policy).chain) == 1  # 2 of 3
    strict = Policy(2, eligible=lambda a, _: a == KEYS[3])
    assert resolve([p], [sign("a", 4)], strict).chain == []  # key 4 may not write: not a signer


def test_the_chain_follows_prev_and_the_most_history_wins() -> None:
    first = proposal("a", 1, None)
    small = proposal("b", 2, "a", entries=20, time=9)
    big = proposal("c", 2, "a", entries=25, time=8)
    orphan = proposal("d", 2, "x")  # follows a checkpoint nobody has
    late = proposal("e", 3, "b")  # follows the loser
    signs = [sign(n, 1) for n in "abcde"]
    chain = resolve([first, small, big, orphan, late], signs, Policy(2))
    assert [s.proposal.cid for s in chain.chain] == [first.cid, big.cid]
    assert chain.statuses[small.cid].final and not chain.statuses[small.cid].chosen
    tie_a = proposal("f", 3, "c", entries=30, time=12)
    tie_b = proposal("g", 3, "c", entries=30, time=12)
    chain = resolve([first, big, tie_a, tie_b], [sign(n, 1) for n in "acfg"], Policy(2))
    assert chain.chain[-1].proposal.cid == min(tie_a.cid, tie_b.cid)


def test_a_proposal_whose_prev_is_not_in_its_past_is_never_final() -> None:
    first = proposal("a", 1, None)
    blind = proposal("b", 2, "a", covers=False)
    chain = resolve([first, blind], [sign("a", 1), sign("b", 1)], Policy(2))
    assert [s.proposal.cid for s in chain.chain] == [first.cid]
    assert blind.cid not in {s.proposal.cid for s in chain.candidates()}


def test_ops_decode_strictly() -> None:
    op = CheckpointOp(2, cid("a"), STATE, STATE, 4, 2, 1700)
    assert decode_checkpoint_op(op.to_ipld()) == op
    sig = CountersignOp(cid("a"), STATE, OTHER)
    assert decode_checkpoint_op(sig.to_ipld()) == sig
    bad = [
        {**op.to_ipld(), "extra": 1},
        {**op.to_ipld(), "checkpoint": 0},
        {**op.to_ipld(), "prev": None},  # only the first has no prev
        {**op.to_ipld(), "checkpoint": 1},  # ... and the first has none
        {**op.to_ipld(), "state": b"short"},
        {**op.to_ipld(), "entries": -1},
        {**op.to_ipld(), "prev": b"not a cid"},
        {**sig.to_ipld(), "countersign": b"x"},
        {"countersign": cid("a"), "state": STATE},
    ]
    for item in bad:
        with pytest.raises(InvalidCheckpoint):
            decode_checkpoint_op(item)


events = st.lists(
    st.tuples(
        st.sampled_from("abcdef"),
        st.integers(1, 3),
        st.sampled_from([None, "a", "b", "c"]),
        st.integers(0, 5),
        st.integers(0, 40),
        st.booleans(),
    ),
    max_size=8,
)
signatures = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.integers(0, 5), st.booleans(), st.integers(0, 2)), max_size=16
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(events, signatures, st.integers(1, 3), st.randoms(use_true_random=False))
def test_the_chain_depends_on_the_set_of_events_only(
    raw: list[tuple[str, int, str | None, int, int, bool]],
    raw_signs: list[tuple[str, int, bool, int]],
    quorum: int,
    rnd: object,
) -> None:
    proposals = {}
    for name, seq, prev, author, entries, covers in raw:
        if (prev is None) != (seq == 1):
            continue
        proposals[name] = proposal(name, seq, prev, author, entries, time=entries, covers=covers)
    signs = [sign(t, a, STATE if agree else OTHER, n) for t, a, agree, n in raw_signs]
    policy = Policy(quorum)
    expected = resolve(list(proposals.values()), signs, policy)
    ps, ss = list(proposals.values()) * 2, signs * 2  # duplicates too
    rnd.shuffle(ps)  # type: ignore[attr-defined]
    rnd.shuffle(ss)  # type: ignore[attr-defined]
    again = resolve(ps, ss, policy)
    assert [s.proposal.cid for s in again.chain] == [s.proposal.cid for s in expected.chain]
    assert {c: (s.final, s.signers, s.dissent) for c, s in again.statuses.items()} == {
        c: (s.final, s.signers, s.dissent) for c, s in expected.statuses.items()
    }
    # the chain is a chain: each follows the one before, and all are final with enough signers
    prev = None
    for seq, status in enumerate(expected.chain, start=1):
        assert status.proposal.prev == prev and status.proposal.seq == seq
        assert status.final and len(status.signers) >= quorum
        prev = status.proposal.cid
