"""The Merkle-CRDT log: append, join, heads, missing ancestors and traversal (DESIGN.md §3).

Join follows the whitepaper's four cases, all handled by one rule applied in causal order:
an entry is *integrated* once all its parents are; integrating it adds it to the heads and removes
its parents from them. So a remote head that we already have is skipped (same / contained), a
remote history that contains ours replaces our heads (contains: fast-forward), and concurrent
histories leave both heads (concurrent) until the next local append names them all.

Nothing is walked twice: integrated entries are remembered in an in-memory index (clock and
parents per CID), and every walk stops at entries already known.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from p2pdb.log import codec
from p2pdb.log.blockstore import BlockStore, FloorNode, MemoryBlockStore
from p2pdb.log.cid import CID, cid_for_block
from p2pdb.log.clock import Clock
from p2pdb.log.entry import DEFAULT_MAX_ENTRY_SIZE, Entry, create_entry, decode_entry
from p2pdb.log.errors import (
    AccessDenied,
    CIDMismatch,
    EntryError,
    InvalidClock,
    TransactionTooLarge,
    WrongDatabase,
)
from p2pdb.log.identity import Identity
from p2pdb.log.manifest import Manifest

Block = bytes | tuple[CID, bytes]


_NO_CONTROL: frozenset[CID] = frozenset()


class _Node:
    """What the index keeps of an entry: enough to order and walk without decoding.

    ``control`` is the set of *control entries* (see :class:`Log`) in the entry's causal past, the entry
    itself included when it is one; entries share one interned set object per distinct value.
    """

    __slots__ = ("clock", "control", "parents")

    def __init__(self, clock: Clock, parents: tuple[CID, ...], control: frozenset[CID] = _NO_CONTROL) -> None:
        self.clock = clock
        self.parents = parents
        self.control = control


@dataclass(slots=True)
class JoinResult:
    """Outcome of :meth:`Log.join`.

    ``added``: entries integrated by this call, in causal order (apply them in this order);
    ``missing``: CIDs the log still needs before pending entries can be integrated;
    ``rejected``: one error per refused block (its ``cid`` attribute names it).
    """

    added: list[Entry] = field(default_factory=list)
    missing: set[CID] = field(default_factory=set)
    rejected: list[EntryError] = field(default_factory=list)
    #: Missing ancestors of the entries this call left waiting: what to ask the sender for.
    wanted: set[CID] = field(default_factory=set)
    #: Entries not taken as new: not held, and at or below their author's time in the version vector
    #: (``_high``), so below the floor.
    below_floor: int = 0


def _order_key(cid: CID, node: _Node) -> tuple[int, bytes, bytes]:
    # Total order between concurrent entries: Lamport time, then author key bytes, then CID
    # (the CID only separates two entries one author wrote at the same time, i.e. a forked key).
    return (node.clock.time, node.clock.id, cid)


@dataclass(frozen=True, slots=True)
class Limits:
    """What a log keeps of entries that cannot be integrated yet (defaults in parentheses). Peers can
    send entries whose ancestors never come; these bounds keep that from growing without end.
    Honest catch-up sends entries in causal order, so it never comes near them."""

    #: Entries waiting for ancestors (50,000) and their bytes (256 MiB): beyond, new waiters are dropped
    #: (not stored), to be sent again later by anti-entropy.
    max_pending: int = 50_000
    max_pending_bytes: int = 256 * 1024 * 1024
    #: Seconds an entry may wait for its ancestors before it is dropped with its waiting descendants (600).
    max_pending_age: float = 600.0
    #: Missing ids (ancestors or announced heads) remembered to be fetched (10,000).
    max_missing: int = 10_000
    #: Ids of invalid entries remembered, so their descendants are refused at once (100,000).
    max_invalid: int = 100_000


class Log:
    """One database's log: entries by this node's identity and by its peers."""

    def __init__(
        self,
        identity: Identity,
        manifest: Manifest,
        store: BlockStore | None = None,
        *,
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
        is_control: Callable[[Entry], bool] | None = None,
        limits: Limits | None = None,
    ) -> None:
        """``is_control(entry)`` marks the entries whose presence in an entry's causal past changes how
        that entry is read (schema changes, access control): :meth:`control_past` tells, for every
        entry, which of them it descends from, without walking the history. ``limits`` bound what
        peers can make the log keep (:class:`Limits`)."""
        self.identity = identity
        self.manifest = manifest
        self.id = manifest.address
        self.store: BlockStore = store if store is not None else MemoryBlockStore()
        self.max_entry_size = max_entry_size
        self._nodes: dict[CID, _Node] = {}  # integrated entries
        self._pending: dict[CID, _Node] = {}  # verified and stored, waiting for ancestors
        self._waiting: dict[CID, set[CID]] = {}  # unintegrated parent -> pending children
        self._missing: set[CID] = set()  # parents of pending entries that we have no block for
        self._invalid: set[CID] = set()  # entries found invalid: never integrated, nor their descendants
        self._decoded: dict[CID, Entry] = {}  # pending entries verified by the running join()
        self._fresh: list[CID] = []  # entries made pending since the last _integrate()
        self._heads: set[CID] = set()
        self._is_control = is_control
        self._interned: dict[frozenset[CID], frozenset[CID]] = {_NO_CONTROL: _NO_CONTROL}
        self.limits = limits or Limits()
        self._since: dict[
            CID, tuple[int, float]
        ] = {}  # pending entry -> (block size, when it became pending)
        self._pending_bytes = 0
        #: Pruned entries still known by id (:class:`FloorNode`): in the index without a block, with
        #: only their parents that are floor entries too.
        self._floor: set[CID] = set()
        #: Per author, the highest Lamport time of the entries this log holds (integrated or in the
        #: floor) or pruned (those persist in the store). An author's entries form a causal chain
        #: (each has the author's previous one in its past), so on a log with a floor an entry that
        #: is not held, at or below that time, lies below the floor: its effects are in the state
        #: already, and it is not taken again as new (:meth:`join`; docs/checkpoints.md).
        self._high: dict[bytes, int] = {}
        #: Whether :meth:`join` takes an entry at or below its author's ``_high`` time as below the
        #: floor. A replay from a snapshot turns it off: it is handed exactly the entries above the
        #: snapshot, and one author's forked key (two entries of one time) must not stall it.
        self.trust_clocks = True
        self._load()

    # -- state ------------------------------------------------------------------------------

    def _load(self) -> None:
        """Rebuild the index from the stored heads (blocks in our store were verified before)."""
        heads = self.store.get_heads(self.id)
        self._high = self.store.get_pruned(self.id)
        for floor in self.store.get_floor(self.id):
            control = self._interned.setdefault(floor.control, floor.control)
            self._nodes[floor.cid] = _Node(Clock(floor.time, floor.author), floor.parents, control)
            self._saw(floor.author, floor.time)
            self._floor.add(floor.cid)
        stack = list(heads)
        marked: set[CID] = set()
        while stack:
            cid = stack.pop()
            if cid in self._nodes:
                continue
            data = self.store.get(cid)
            if data is None:
                raise EntryError(f"block {cid} named by the stored log is missing from the block store", cid)
            entry = decode_entry(data, cid, max_size=self.max_entry_size, verify_signature=False)
            self._nodes[cid] = _Node(entry.clock, entry.parents)
            self._saw(entry.clock.id, entry.clock.time)
            if self._is_control is not None and self._is_control(entry):
                marked.add(cid)
            stack.extend(p for p in entry.parents if p not in self._nodes)
        self._heads = set(heads)
        if marked or any(self._nodes[c].control for c in self._floor):
            # Parents have lower Lamport times: in time order every parent is done before its children.
            for cid in sorted(self._nodes, key=lambda c: self._nodes[c].clock.time):
                if cid in self._floor:
                    continue
                node = self._nodes[cid]
                node.control = self._control_for(node.parents, cid if cid in marked else None)

    def _control_for(self, parents: Iterable[CID], own: CID | None) -> frozenset[CID]:
        """The control set of an entry from its (integrated) parents'; ``own``: the entry's CID when
        the entry is a control entry itself."""
        sets = {id(s): s for s in (self._nodes[p].control for p in parents)}
        if len(sets) == 1 and own is None:
            return next(iter(sets.values()))
        union: frozenset[CID] = frozenset().union(*sets.values())
        if own is not None:
            union = union | {own}
        return self._interned.setdefault(union, union)

    @property
    def heads(self) -> tuple[CID, ...]:
        """Current heads, sorted by CID bytes."""
        return tuple(sorted(self._heads))

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, cid: object) -> bool:
        return cid in self._nodes

    def holds(self, cid: CID) -> bool:
        """Integrated, or verified and waiting for its ancestors."""
        return cid in self._nodes or cid in self._pending

    def clock_of(self, cid: CID) -> Clock:
        return self._nodes[cid].clock

    def author_of(self, cid: CID) -> bytes | None:
        """The key that signed a held entry (integrated or waiting for its ancestors), or None."""
        node = self._nodes.get(cid) or self._pending.get(cid)
        return None if node is None else node.clock.id

    def parents_of(self, cid: CID) -> tuple[CID, ...]:
        return self._nodes[cid].parents

    def control_past(self, cid: CID) -> frozenset[CID]:
        """The control entries strictly in the causal past of integrated entry ``cid``."""
        node = self._nodes[cid]
        if cid not in node.control:
            return node.control
        return self._interned.setdefault(node.control - {cid}, node.control - {cid})

    def control_set(self, cid: CID) -> frozenset[CID]:
        """The control entries in the causal past of ``cid``, itself included when it is one."""
        return self._nodes[cid].control

    def parents_outside(self, cids: Iterable[CID]) -> list[FloorNode]:
        """The parents of ``cids`` that are not among them, as floor nodes (by id, with no parents
        of their own): what a replay of exactly ``cids`` on top of a snapshot must know below it."""
        planned = set(cids)
        outside = {p for c in planned for p in self._nodes[c].parents if p not in planned}
        return [
            FloorNode(p, self._nodes[p].clock.time, self._nodes[p].clock.id, self._nodes[p].control)
            for p in sorted(outside)
        ]

    def control_heads(self) -> frozenset[CID]:
        """The control entries in the causal past of the current heads (what the next append sees)."""
        return self._control_for(self._heads, None)

    def find(self, clock: Clock) -> list[CID]:
        """Integrated entries with exactly this clock (a scan: for rare lookups only)."""
        return [cid for cid, node in self._nodes.items() if node.clock == clock]

    def get(self, cid: CID) -> Entry | None:
        """An integrated entry, decoded from the block store."""
        if cid not in self._nodes:
            return None
        data = self.store.get(cid)
        if data is None:
            return None
        # Integrated entries were verified before they were stored: decoded without checking again.
        return decode_entry(data, cid, checked=True)

    def _read(self, cid: CID) -> Entry:
        data = self.store.get(cid)
        assert data is not None  # stored in join() before integration, after its checks
        return decode_entry(data, cid, checked=True)

    def missing(self) -> set[CID]:
        """CIDs of ancestors that pending entries wait for and that no local store holds."""
        return set(self._missing)

    # -- writing ----------------------------------------------------------------------------

    def next_clock(self) -> Clock:
        """The clock the next :meth:`append` will give its entry (1 + max of the heads' times)."""
        return Clock.next_for(self.identity.public_key, (self._nodes[p].clock.time for p in self._heads))

    def version_vector(self) -> dict[bytes, int]:
        """Per author, the highest Lamport time of the entries held, pruned or below the floor."""
        return dict(self._high)

    def _saw(self, author: bytes, time: int) -> None:
        if time > self._high.get(author, -1):
            self._high[author] = time

    def reload(self) -> None:
        """Forget in-memory state and rebuild it from the block store (after a rolled-back
        transaction of a caller that shares the store's connection)."""
        self._nodes.clear()
        self._pending.clear()
        self._since.clear()
        self._pending_bytes = 0
        self._waiting.clear()
        self._missing.clear()
        self._decoded.clear()
        self._fresh.clear()
        self._heads = set()
        self._floor.clear()
        self._load()

    def append(
        self, ops: Any, *, parents: Iterable[CID] | None = None, encoded: list[bytes] | None = None
    ) -> Entry:
        """Sign a new entry whose parents are all current heads, store it, make it the only head.
        ``encoded``: the items of the list ``ops``, each encoded already (see :func:`create_entry`).

        ``parents``: name these integrated entries instead (a checkpoint names the heads it covers,
        which may be behind the current ones); the entry then joins the heads beside the others.
        Raises :class:`AccessDenied` when this node's identity may not write to the database (its
        peers would reject the entry)."""
        if not self.manifest.can_write(self.identity.public_key):
            raise AccessDenied("this node's identity may not write to this database")
        if parents is None:
            chosen = self.heads
        else:
            chosen = tuple(sorted(set(parents)))
            if not chosen or any(p not in self._nodes for p in chosen):
                raise ValueError("an entry's parents must be integrated entries")
        clock = Clock.next_for(self.identity.public_key, (self._nodes[p].clock.time for p in chosen))
        try:
            entry = create_entry(self.identity, self.id, clock, chosen, ops, encoded=encoded)
        except codec.TooManyItems as exc:
            raise TransactionTooLarge(exc.size, self.max_entry_size, items=codec.MAX_ITEMS) from exc
        if len(entry.block) > self.max_entry_size:
            raise TransactionTooLarge(len(entry.block), self.max_entry_size)
        self.store.put(entry.cid, entry.block)
        own = entry.cid if self._is_control is not None and self._is_control(entry) else None
        self._nodes[entry.cid] = _Node(entry.clock, entry.parents, self._control_for(chosen, own))
        self._saw(entry.clock.id, entry.clock.time)
        self._heads.difference_update(chosen)
        self._heads.add(entry.cid)
        self.store.set_heads(self.id, self.heads)
        return entry

    # -- pruning ------------------------------------------------------------------------------

    @property
    def floor(self) -> frozenset[CID]:
        """Pruned entries still known by id."""
        return frozenset(self._floor)

    def floor_nodes(self, cids: Iterable[CID]) -> list[FloorNode]:
        """What a floor made of integrated entries ``cids`` keeps of them. Every control entry the
        log knows joins them: the schema and the access rules of any later entry are read from the
        control entries of its past, which must stay known.

        A floor node's parents are its *nearest floor ancestors*, reached through entries that are
        forgotten, so ancestry between floor entries stays exact: whether a checkpoint kept in the
        floor lies in the past of a later proposal is answered the same as on an archive."""
        chosen = set(cids) | {c for c, node in self._nodes.items() if c in node.control}
        nearest = self._nearest_chosen(chosen)
        out = []
        for cid in chosen:
            node = self._nodes[cid]
            out.append(
                FloorNode(cid, node.clock.time, node.clock.id, node.control, tuple(sorted(nearest[cid])))
            )
        return out

    def _nearest_chosen(self, chosen: set[CID]) -> dict[CID, frozenset[CID]]:
        """For every entry in the past of ``chosen``: the members of ``chosen`` among its strict
        ancestors that no other member lies between (one pass in Lamport order: parents first)."""
        empty: frozenset[CID] = frozenset()
        below: dict[CID, frozenset[CID]] = {}
        for cid in sorted(self.past(chosen), key=lambda c: self._nodes[c].clock.time):
            parents = self._nodes[cid].parents
            if len(parents) == 1 and parents[0] not in chosen:
                below[cid] = below.get(parents[0], empty)  # a chain shares its set
                continue
            found: set[CID] = set()
            for parent in parents:
                if parent in chosen:
                    found.add(parent)
                else:
                    found |= below.get(parent, empty)
            below[cid] = frozenset(found) if found else empty
        return below

    def past(self, heads: Iterable[CID]) -> set[CID]:
        """Every integrated entry reachable from ``heads``, themselves included (a full walk)."""
        seen: set[CID] = set()
        stack = [c for c in heads if c in self._nodes]
        while stack:
            cid = stack.pop()
            if cid in seen:
                continue
            seen.add(cid)
            stack.extend(p for p in self._nodes[cid].parents if p not in seen)
        return seen

    def set_floor(
        self, nodes: Iterable[FloorNode], heads: Iterable[CID], below: dict[bytes, int] | None = None
    ) -> None:
        """Start a log from a snapshot: ``nodes`` are known without blocks, ``heads`` are its heads
        (all of them floor nodes), ``below`` its version vector (what lies below it, by author).
        Only for a log that holds no entry yet."""
        if len(self._nodes) != len(self._floor):
            raise ValueError("a floor is set on an empty log only")
        nodes = list(nodes)
        self.store.set_floor(self.id, nodes)
        if below:
            self.store.raise_pruned(self.id, below)
        self.store.set_heads(self.id, sorted(set(heads)))
        self.reload()

    def join_floor(self, nodes: Iterable[FloorNode]) -> JoinResult:
        """Make entries known by id only (the *boundary* a light node learns: entries below its
        floor that later entries name as parents), then integrate the pending entries that waited
        for them. A pending entry among them stops waiting and becomes a floor entry."""
        result = JoinResult()
        added = []
        for node in nodes:
            if node.cid in self._nodes:
                continue
            waiting = self._forget_pending(node.cid)
            if waiting is not None:
                self.store.delete(node.cid)
                for parent in waiting.parents:
                    children = self._waiting.get(parent)
                    if children is not None:
                        children.discard(node.cid)
                        if not children:
                            del self._waiting[parent]
                            self._missing.discard(parent)
            control = self._interned.setdefault(node.control, node.control)
            parents = tuple(p for p in node.parents if p in self._floor)  # ancestry within the floor
            self._nodes[node.cid] = _Node(Clock(node.time, node.author), parents, control)
            self._saw(node.author, node.time)
            self._floor.add(node.cid)
            self._missing.discard(node.cid)
            added.append(node)
            for child in self._waiting.pop(node.cid, ()):
                child_node = self._pending.get(child)
                if child_node is not None and self._ready(child_node):
                    self._fresh.append(child)
        if added:
            floor = self._floor
            self.store.set_floor(
                self.id,
                [
                    FloorNode(
                        c, n.clock.time, n.clock.id, n.control, tuple(p for p in n.parents if p in floor)
                    )
                    for c in floor
                    if (n := self._nodes[c])
                ],
            )
        self._integrate(result)
        return result

    def prune(self, below: Iterable[CID], keep: Iterable[CID]) -> int:
        """Forget the blocks of every entry in the causal past of ``below`` (inclusive). Those of
        ``keep`` (a subset: later entries may still name them) and every control entry stay known by
        id in the floor; the others are forgotten, and so are the previous floor's (but its control
        entries). Returns how many blocks were deleted.
        The caller runs it in its store transaction."""
        below = set(below)
        gone = self.past(below)
        pruned: dict[bytes, int] = {}
        for cid in gone:
            clock = self._nodes[cid].clock
            if clock.time > pruned.get(clock.id, -1):
                pruned[clock.id] = clock.time
        self.store.raise_pruned(self.id, pruned)  # _high has them already: they were held
        # ``below`` itself, any current head among the pruned, and every parent that an entry which
        # stays (integrated above them, or pending) names stay known: later entries name them, walks
        # down the DAG reach them, and a pending entry would otherwise wait forever.
        named = {p for node in self._pending.values() for p in node.parents}
        named.update(p for cid, node in self._nodes.items() if cid not in gone for p in node.parents)
        wanted = (set(keep) | below | (self._heads & gone) | named) & gone
        # A floor node of an earlier prune that an entry still names (or a head) stays too, even when this
        # prune's walk does not reach it (floor nodes keep only their floor parents): forgotten, the
        # entry waiting for it waited forever, with nothing reported missing.
        wanted |= (named | self._heads) & self._floor
        floor = [n for n in self.floor_nodes(wanted) if n.cid in gone or n.cid in self._floor]
        kept = {n.cid for n in floor}
        deleted = 0
        for cid in gone:
            if cid not in self._floor:
                self.store.delete(cid)
                deleted += 1
        for cid in gone | self._floor:
            if cid not in kept:
                self._nodes.pop(cid, None)
        for node in floor:
            self._nodes[node.cid] = _Node(Clock(node.time, node.author), node.parents, node.control)
        self._floor = kept
        self.store.set_floor(self.id, floor)
        return deleted

    def join(self, blocks: Iterable[Block], checked: Container[CID] = frozenset()) -> JoinResult:
        """Verify remote blocks, store the valid ones and integrate every entry whose ancestry
        is complete. Invalid blocks are reported in ``rejected`` and never stored.
        ``checked``: CIDs whose blocks a verifier process already decoded and verified in full
        (:mod:`p2pdb.log.verifier`); they skip the hash, the byte walk and the signature here. The
        checks that need this log's state (database, access, rejected ancestors) run for every block."""
        result = JoinResult()
        verified: list[Entry] = []
        # 1. Verify each new block: size, CID, canonical encoding, signature, database, access.
        for block in blocks:
            expected, data = block if isinstance(block, tuple) else (None, block)
            cid = expected if expected is not None else cid_for_block(data)
            if cid in self._nodes or cid in self._pending:
                continue  # same / contained: already known, nothing to do
            try:
                if expected is None and cid in checked:  # hashed here: these bytes are that block
                    entry = decode_entry(data, cid, checked=True)
                else:
                    entry = decode_entry(data, cid, max_size=self.max_entry_size)
                if entry.db != self.id:
                    raise WrongDatabase(f"entry belongs to database {entry.db}, not {self.id}", cid)
                if not self.manifest.can_write(entry.author):
                    raise AccessDenied("author may not write to this database", cid)
                bad = next((p for p in entry.parents if p in self._invalid), None)
                if bad is not None:
                    raise EntryError(f"ancestor {bad} was rejected", cid)
            except EntryError as exc:
                result.rejected.append(exc)
                if not isinstance(exc, CIDMismatch):
                    # The bytes really are entry `cid`, and it is invalid: so is anything built on it.
                    self._mark_invalid(cid, result)
                continue
            if self._floor and self.trust_clocks and entry.clock.time <= self._high.get(entry.clock.id, -1):
                result.below_floor += 1  # below the floor: in the state already (see _high)
                continue
            verified.append(entry)
        # 2. Store what passed, then index it as pending.
        self.store.put_many((e.cid, e.block) for e in verified)
        self._decoded.update((e.cid, e) for e in verified)  # so parents in this batch are not re-read
        for entry in verified:
            self._add_pending(entry.cid, _Node(entry.clock, entry.parents))
        # 3. Integrate in causal order everything whose ancestors are now complete.
        try:
            self._integrate(result)
        finally:
            self._decoded.clear()
        # 4. Entries still waiting beyond the limits are dropped, newest first (they come again).
        limits = self.limits
        for entry in reversed(verified):
            if len(self._pending) <= limits.max_pending and self._pending_bytes <= limits.max_pending_bytes:
                break
            if entry.cid in self._pending:
                self._drop_pending(entry.cid)
        result.wanted = {
            p for e in verified if e.cid in self._pending for p in e.parents if p in self._missing
        }
        return result

    def join_heads(self, cids: Iterable[CID]) -> JoinResult:
        """Take heads announced by a peer: integrate those whose blocks we already hold (walking
        down the local store and stopping at known entries) and report what must be fetched."""
        result = JoinResult()
        for cid in cids:
            if cid not in self._nodes and cid not in self._pending:
                if cid not in self._missing and len(self._missing) >= self.limits.max_missing:
                    continue  # announced again at the next heads exchange
                self._missing.add(cid)
                self._resolve_from_store(cid)
        self._integrate(result)
        result.missing = set(self._missing)
        return result

    # -- internals of join --------------------------------------------------------------------

    def _add_pending(self, cid: CID, node: _Node) -> None:
        if cid in self._nodes or cid in self._pending:
            return
        self._pending[cid] = node
        self._note_pending(cid)
        self._fresh.append(cid)
        self._missing.discard(cid)
        for parent in node.parents:
            if parent in self._nodes:
                continue
            self._waiting.setdefault(parent, set()).add(cid)
            if parent not in self._pending and parent not in self._missing:
                self._missing.add(parent)
                self._resolve_from_store(parent)

    def _resolve_from_store(self, cid: CID) -> None:
        """A missing CID whose block we hold (stored earlier, e.g. before a restart) becomes
        pending, and so do its stored ancestors; the walk stops at known entries."""
        stack = [cid]
        while stack:
            current = stack.pop()
            if current not in self._missing:
                continue
            entry = self._decoded.get(current)
            if entry is None:
                data = self.store.get(current)
                if data is None:
                    continue
                entry = decode_entry(data, current, max_size=self.max_entry_size, verify_signature=False)
            if entry.db != self.id or not self.manifest.can_write(entry.author):
                continue  # another log's block in a shared store: it stays missing; join() rejects it
            self._missing.discard(current)
            self._pending[current] = _Node(entry.clock, entry.parents)
            self._note_pending(current, len(entry.block))
            self._fresh.append(current)
            for parent in entry.parents:
                if parent in self._nodes:
                    continue
                self._waiting.setdefault(parent, set()).add(current)
                if parent not in self._pending and parent not in self._missing:
                    self._missing.add(parent)
                    stack.append(parent)

    def _note_pending(self, cid: CID, size: int | None = None) -> None:
        if size is None:
            decoded = self._decoded.get(cid)
            size = len(decoded.block) if decoded is not None else 0
        self._since[cid] = (size, time.monotonic())
        self._pending_bytes += size

    def _forget_pending(self, cid: CID) -> _Node | None:
        node = self._pending.pop(cid, None)
        meta = self._since.pop(cid, None)
        if meta is not None:
            self._pending_bytes -= meta[0]
        return node

    def _drop_pending(self, cid: CID) -> None:
        """Forget a waiting entry and the waiting entries that descend from it; delete their blocks
        (anti-entropy brings them again if they are real)."""
        stack = [cid]
        while stack:
            current = stack.pop()
            node = self._forget_pending(current)
            if node is None:
                continue
            self.store.delete(current)
            for parent in node.parents:
                children = self._waiting.get(parent)
                if children is not None:
                    children.discard(current)
                    if not children:
                        del self._waiting[parent]
                        self._missing.discard(parent)
            stack.extend(c for c in self._waiting.pop(current, ()) if c in self._pending)

    def prune_pending(self, now: float | None = None) -> int:
        """Drop entries that waited for their ancestors longer than ``max_pending_age``; returns how
        many were dropped. The caller runs it in its store transaction."""
        cutoff = (time.monotonic() if now is None else now) - self.limits.max_pending_age
        old = [cid for cid, (_, since) in self._since.items() if since < cutoff]
        before = len(self._pending)
        for cid in old:
            self._drop_pending(cid)
        return before - len(self._pending)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def _ready(self, node: _Node) -> bool:
        return all(p in self._nodes for p in node.parents)

    def _integrate(self, result: JoinResult) -> None:
        # Only entries made pending since the last call can be ready without a parent having
        # just been integrated (that case is handled through _waiting below): no scan of all pending.
        fresh, self._fresh = self._fresh, []
        heap = [
            (_order_key(cid, node), cid)
            for cid in fresh
            if (node := self._pending.get(cid)) is not None and self._ready(node)
        ]
        heapq.heapify(heap)
        changed = False
        while heap:
            _, cid = heapq.heappop(heap)
            node = self._forget_pending(cid)
            assert node is not None
            # 1. The Lamport rule: time = 1 + max(parents' times); otherwise the entry lies.
            expected = 1 + max((self._nodes[p].clock.time for p in node.parents), default=0)
            if node.clock.time != expected:
                self._reject_subtree(cid, InvalidClock(f"time {node.clock.time} != {expected}", cid), result)
                continue
            # 2. Integrate: it becomes a head and its parents stop being heads.
            entry = self._decoded.get(cid) or self._read(cid)
            own = cid if self._is_control is not None and self._is_control(entry) else None
            node.control = self._control_for(node.parents, own)
            self._nodes[cid] = node
            self._saw(node.clock.id, node.clock.time)
            self._heads.difference_update(node.parents)
            self._heads.add(cid)
            changed = True
            result.added.append(entry)
            # 3. Children that waited only for this entry are ready now.
            for child in self._waiting.pop(cid, ()):
                child_node = self._pending.get(child)
                if child_node is not None and self._ready(child_node):
                    heapq.heappush(heap, (_order_key(child, child_node), child))
        if changed:
            self.store.set_heads(self.id, self.heads)
        result.missing = set(self._missing)

    def _remember_invalid(self, cid: CID) -> None:
        if len(self._invalid) >= self.limits.max_invalid:
            self._invalid.pop()  # any one: the set only spares re-verifying descendants
        self._invalid.add(cid)

    def _mark_invalid(self, cid: CID, result: JoinResult) -> None:
        self._remember_invalid(cid)
        self._missing.discard(cid)
        for child in self._waiting.pop(cid, ()):
            if child in self._pending:
                self._reject_subtree(child, EntryError(f"ancestor {cid} was rejected", child), result)

    def _reject_subtree(self, cid: CID, error: EntryError, result: JoinResult) -> None:
        """Drop an invalid entry and every pending entry that descends from it."""
        stack = [(cid, error)]
        while stack:
            current, exc = stack.pop()
            self._forget_pending(current)
            self._remember_invalid(current)
            self.store.delete(current)
            result.rejected.append(exc)
            for child in self._waiting.pop(current, ()):
                if child in self._pending:
                    stack.append((child, EntryError(f"ancestor {current} was rejected", child)))

    # -- reading ------------------------------------------------------------------------------

    def _sorted(self, cids: Iterable[CID], reverse: bool = False) -> list[CID]:
        return sorted(cids, key=lambda c: _order_key(c, self._nodes[c]), reverse=reverse)

    def traverse(self, *, reverse: bool = False) -> Iterator[Entry]:
        """All integrated entries in causal order, Lamport (time, author) between concurrent ones."""
        for cid in self._sorted(self._nodes, reverse):
            entry = self.get(cid)
            if entry is not None:
                yield entry

    def locator(self, max_length: int = 64) -> list[CID]:
        """Ancestors of the heads at growing distances: 1, 2, 4, 8, ... Lamport steps back along each
        head's first-parent chain (deduplicated, at most ``max_length``). A peer that lacks our heads
        finds in it entries both have, at most twice as far back as the real fork."""
        out: list[CID] = []
        seen: set[CID] = set()
        for head in self.heads:
            node = self._nodes.get(head)
            if node is None:
                continue
            top = node.clock.time
            step = 1
            cid = head
            while node.parents and len(out) < max_length:
                cid = min(node.parents)  # a fixed choice: the smallest parent CID
                node = self._nodes[cid]
                if node.clock.time <= top - step or not node.parents:  # the root ends every chain
                    if cid not in seen:
                        seen.add(cid)
                        out.append(cid)
                    step *= 2
        return out[:max_length]

    def is_ancestor(self, ancestor: CID, descendant: CID) -> bool:
        """True iff ``ancestor`` is reachable from ``descendant`` through parents (strictly)."""
        if ancestor not in self._nodes or descendant not in self._nodes:
            return False
        bound = self._nodes[ancestor].clock.time
        seen: set[CID] = set()
        stack = list(self._nodes[descendant].parents)
        while stack:
            cid = stack.pop()
            if cid == ancestor:
                return True
            if cid in seen:
                continue
            seen.add(cid)
            node = self._nodes[cid]
            # Parents always have a lower time: below the ancestor's time it cannot be reached.
            if node.clock.time > bound:
                stack.extend(node.parents)
        return False

    def since(self, remote_heads: Iterable[CID]) -> list[Entry]:
        """Entries a peer whose heads are ``remote_heads`` lacks, in causal order (decoded)."""
        result = []
        for cid in self.since_cids(remote_heads):
            entry = self.get(cid)
            if entry is not None:
                result.append(entry)
        return result

    def since_cids(self, remote_heads: Iterable[CID], *, below: Iterable[CID] | None = None) -> list[CID]:
        """Entries a peer whose heads are ``remote_heads`` lacks, in causal order (``below``: under
        these heads instead of the current ones; floor entries are never listed).

        Paints down from both sets of heads in decreasing time (as git finds merge bases): an
        entry reached only from our heads is lacking; the walk stops as soon as every entry
        still queued is an ancestor of a remote head. Remote heads we do not know are ignored.
        """
        return self._sorted(self._lacking(remote_heads, below))

    def count_since(self, remote_heads: Iterable[CID], limit: int) -> int:
        """How many entries :meth:`since_cids` would list, counting no further than ``limit``: the
        walk costs what it counts (a peer 100,000 entries behind cost 0.2 s of the event loop)."""
        return sum(1 for _ in itertools.islice(self._lacking(remote_heads, None), limit))

    def _lacking(self, remote_heads: Iterable[CID], below: Iterable[CID] | None) -> Iterator[CID]:
        start = self._heads if below is None else [c for c in below if c in self._nodes]
        ours, theirs = 1, 2
        flags: dict[CID, int] = {}
        heap: list[tuple[int, CID]] = []
        ours_only = 0

        def push(cid: CID, flag: int) -> None:
            nonlocal ours_only
            old = flags.get(cid, 0)
            new = old | flag
            if old == new:
                return
            flags[cid] = new
            if old == 0:
                heapq.heappush(heap, (-self._nodes[cid].clock.time, cid))
            if new == ours:
                ours_only += 1
            elif old == ours:
                ours_only -= 1

        for cid in remote_heads:
            if cid in self._nodes:
                push(cid, theirs)
        for cid in start:
            push(cid, ours)
        while heap and ours_only:
            _, cid = heapq.heappop(heap)
            flag = flags[cid]
            if flag == ours:
                ours_only -= 1
                if cid not in self._floor:
                    yield cid
            for parent in self._nodes[cid].parents:
                push(parent, flag)
