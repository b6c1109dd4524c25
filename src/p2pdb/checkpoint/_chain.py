"""The checkpoint chain: which proposals are final, and which one is *the* checkpoint of each step.

A pure function of the set of checkpoint and countersignature events a replica holds, so every
replica holding the same events computes the same chain whatever the order they came in
(docs/checkpoints.md "Rules"):

1. A proposal is *valid* when its ``prev`` is in its causal past (``covers_prev``; the first has none).
2. Its *signers* are its author and the authors of countersignatures with the same hashes, counted
   only when the policy's ``eligible(author, proposal)`` says so (for a database with access
   rules: keys that may write it at the proposal). Countersignatures with other hashes are *dissent*.
3. It is *final* when it is valid, its ``prev`` is the chain's checkpoint of the step before (or it
   is a first checkpoint), and its signers include a majority of the owners or at least
   ``quorum`` eligible keys.
4. Of the final proposals that follow the same checkpoint, the one covering the most history wins:
   most ``entries``, then the higher Lamport time, then the smaller CID.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from p2pdb.log import CID


@dataclass(frozen=True, slots=True)
class Proposal:
    cid: CID
    seq: int
    prev: CID | None
    author: bytes
    time: int
    entries: int
    rows: int
    state: bytes
    merge: bytes
    at: int
    heads: tuple[CID, ...]
    covers_prev: bool


@dataclass(frozen=True, slots=True)
class Countersign:
    cid: CID
    target: CID
    author: bytes
    state: bytes
    merge: bytes


@dataclass(frozen=True, slots=True)
class Policy:
    """What makes a checkpoint final: a majority of ``owners`` (when the database has any) or
    ``quorum`` distinct eligible signers."""

    quorum: int = 2
    eligible: Callable[[bytes, Proposal], bool] = lambda author, proposal: True
    owners: Callable[[Proposal], frozenset[bytes]] = lambda proposal: frozenset()


@dataclass(slots=True)
class Status:
    proposal: Proposal
    signers: frozenset[bytes]
    dissent: frozenset[bytes]
    final: bool = False
    chosen: bool = False


@dataclass(slots=True)
class Chain:
    """Every proposal with its signatures; ``chain`` lists the chosen checkpoints from the first."""

    statuses: dict[CID, Status] = field(default_factory=dict)
    chain: list[Status] = field(default_factory=list)

    @property
    def latest(self) -> Status | None:
        return self.chain[-1] if self.chain else None

    def candidates(self) -> list[Status]:
        """Valid proposals that follow the latest chosen checkpoint (not final yet, or losing)."""
        prev = self.latest.proposal.cid if self.latest else None
        return sorted(
            (s for s in self.statuses.values() if s.proposal.prev == prev and s.proposal.covers_prev),
            key=lambda s: _rank(s.proposal),
            reverse=True,
        )


def _rank(p: Proposal) -> tuple[int, int, bytes]:
    # Most history first, then the later Lamport time; the smaller CID wins a full tie: negate its
    # bytes' order by complementing them.
    return (p.entries, p.time, bytes(255 - b for b in p.cid))


def _satisfies(status: Status, policy: Policy) -> bool:
    owners = policy.owners(status.proposal)
    if owners and len(status.signers & owners) * 2 > len(owners):
        return True
    return len(status.signers) >= max(1, policy.quorum)


def resolve(proposals: Iterable[Proposal], countersigns: Iterable[Countersign], policy: Policy) -> Chain:
    """The chain of checkpoints ``proposals`` and ``countersigns`` make under ``policy``."""
    statuses: dict[CID, Status] = {}
    by_prev: dict[CID | None, list[Status]] = defaultdict(list)
    agree: dict[CID, set[bytes]] = defaultdict(set)
    disagree: dict[CID, set[bytes]] = defaultdict(set)
    plist = {p.cid: p for p in proposals}
    for c in countersigns:
        target = plist.get(c.target)
        if target is None:
            continue
        if (c.state, c.merge) == (target.state, target.merge):
            agree[target.cid].add(c.author)
        else:
            disagree[target.cid].add(c.author)
    for p in plist.values():
        signers = frozenset(a for a in agree[p.cid] | {p.author} if policy.eligible(a, p))
        status = Status(p, signers, frozenset(disagree[p.cid] - signers))
        status.final = p.covers_prev and _satisfies(status, policy)
        statuses[p.cid] = status
        by_prev[p.prev].append(status)
    result = Chain(statuses)
    prev: CID | None = None
    seq = 1
    while True:
        finals = [s for s in by_prev.get(prev, ()) if s.final and s.proposal.seq == seq]
        if not finals:
            break
        best = max(finals, key=lambda s: _rank(s.proposal))
        best.chosen = True
        result.chain.append(best)
        prev = best.proposal.cid
        seq += 1
    return result
