"""The checkpoints of one database, as its log carries them (docs/checkpoints.md).

``_p2pdb_checkpoints`` keeps every checkpoint proposal applied from the log and
``_p2pdb_countersigns`` every countersignature, each with its whole signed block: pruning removes
blocks from the log, never these, so ``p2pdb verify`` can check the chain's signatures on any node.
Which proposals are final is :func:`p2pdb.checkpoint.resolve` over both tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import apsw

from p2pdb.acl import Acl
from p2pdb.checkpoint import Chain, CheckpointOp, Countersign, CountersignOp, Policy, Proposal, resolve
from p2pdb.log import CID, Entry, codec

CHECKPOINT_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _p2pdb_checkpoints (cid BLOB PRIMARY KEY, seq INTEGER NOT NULL,"
    " prev BLOB, author BLOB NOT NULL, time INTEGER NOT NULL, entries INTEGER NOT NULL,"
    " rows INTEGER NOT NULL, state BLOB NOT NULL, merge BLOB NOT NULL, at INTEGER NOT NULL,"
    " heads BLOB NOT NULL, covers_prev INTEGER NOT NULL, block BLOB NOT NULL, control BLOB) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS _p2pdb_countersigns (cid BLOB PRIMARY KEY, target BLOB NOT NULL,"
    " author BLOB NOT NULL, state BLOB NOT NULL, merge BLOB NOT NULL, block BLOB NOT NULL) WITHOUT ROWID",
)


class Checkpoints:
    """Checkpoint events of the log, on the writer connection."""

    def __init__(
        self,
        conn: apsw.Connection,
        current_acl: Callable[[], Acl],
        quorum: int = 2,
        acl_at: Callable[[frozenset[CID]], Acl] | None = None,
    ) -> None:
        self._conn = conn
        self._acl = current_acl
        #: The access rules of a point of the log, by its control past (None: the current ones).
        self._acl_at = acl_at
        #: Per proposal, the control entries in its causal past (None: not known, see ``control``).
        self._controls: dict[CID, frozenset[CID] | None] = {}
        #: Distinct signers a checkpoint needs when the owners' majority has not signed it.
        self.quorum = quorum
        self._cache: Chain | None = None
        self._cache_key: tuple[Acl | None, int] = (None, quorum)
        for statement in CHECKPOINT_SCHEMA:
            conn.execute(statement)
        columns = [str(r[1]) for r in conn.execute("PRAGMA table_info(_p2pdb_checkpoints)")]
        if "control" not in columns:  # a file from before the rules at each proposal were kept
            conn.execute("ALTER TABLE _p2pdb_checkpoints ADD COLUMN control BLOB")

    def reload(self) -> None:
        self._cache = None

    def add_proposal(
        self,
        entry: Entry,
        op: CheckpointOp,
        covers_prev: bool,
        control: frozenset[CID] | None = None,
        heads: Sequence[CID] | None = None,
    ) -> None:
        """Keep a proposal; ``control``: the control entries in its causal past (the access rules
        it was made under, by which its signers are judged; kept, as the entry may be pruned);
        ``heads``: the heads it covers (by default its entry's parents)."""
        self._conn.execute(
            "INSERT OR IGNORE INTO _p2pdb_checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bytes(entry.cid),
                op.seq,
                None if op.prev is None else bytes(op.prev),
                entry.author,
                entry.clock.time,
                op.entries,
                op.rows,
                op.state,
                op.merge,
                op.at,
                codec.encode(list(entry.parents if heads is None else heads)),
                int(covers_prev),
                entry.block,
                None if control is None else b"".join(sorted(bytes(c) for c in control)),
            ),
        )
        self._cache = None

    def add_countersign(self, entry: Entry, op: CountersignOp) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO _p2pdb_countersigns VALUES (?, ?, ?, ?, ?, ?)",
            (bytes(entry.cid), bytes(op.target), entry.author, op.state, op.merge, entry.block),
        )
        self._cache = None

    def proposal_cids(self) -> list[CID]:
        """Every proposal's entry (a light node keeps them in its floor: a later proposal may name
        any of them as its ``prev``, and whether it covers it must stay decidable)."""
        return [CID(bytes(c)) for (c,) in self._conn.execute("SELECT cid FROM _p2pdb_checkpoints")]

    def proposals(self) -> list[Proposal]:
        out = []
        for row in self._conn.execute(
            "SELECT cid, seq, prev, author, time, entries, rows, state, merge, at, heads, covers_prev,"
            " control FROM _p2pdb_checkpoints"
        ):
            cid, seq, prev, author, time, entries, rows, state, merge, at, heads, covers, control = row
            self._controls[CID(bytes(cid))] = (
                None
                if control is None
                else frozenset(CID(bytes(control[i : i + 36])) for i in range(0, len(control), 36))
            )
            out.append(
                Proposal(
                    CID(bytes(cid)),
                    seq,
                    None if prev is None else CID(bytes(prev)),
                    bytes(author),
                    time,
                    entries,
                    rows,
                    bytes(state),
                    bytes(merge),
                    at,
                    tuple(codec.decode(bytes(heads))),
                    bool(covers),
                )
            )
        return out

    def countersigns(self) -> list[Countersign]:
        return [
            Countersign(CID(bytes(c)), CID(bytes(t)), bytes(a), bytes(s), bytes(m))
            for c, t, a, s, m in self._conn.execute(
                "SELECT cid, target, author, state, merge FROM _p2pdb_countersigns"
            )
        ]

    def blocks(self) -> list[tuple[CID, bytes]]:
        """The signed blocks of every checkpoint and countersignature (for ``p2pdb verify``)."""
        rows = self._conn.execute(
            "SELECT cid, block FROM _p2pdb_checkpoints UNION ALL SELECT cid, block FROM _p2pdb_countersigns"
        )
        return [(CID(bytes(c)), bytes(b)) for c, b in rows]

    def proof(self, cid: CID) -> list[bytes]:
        """The signed blocks that make checkpoint ``cid`` final: itself, then the countersignatures
        that agree with it."""
        out = [
            bytes(b)
            for (b,) in self._conn.execute(
                "SELECT block FROM _p2pdb_checkpoints WHERE cid = ?", (bytes(cid),)
            )
        ]
        out += [
            bytes(b)
            for (b,) in self._conn.execute(
                "SELECT c.block FROM _p2pdb_countersigns c JOIN _p2pdb_checkpoints p ON p.cid = c.target"
                " WHERE c.target = ? AND c.state = p.state AND c.merge = p.merge ORDER BY c.cid",
                (bytes(cid),),
            )
        ]
        return out

    def policy(self, acl: Acl | None = None) -> Policy:
        """Who may sign a proposal, and whose majority makes it final, by the access rules the
        proposal was made under (the control entries in its causal past): new owners or writers
        added later neither undo nor make finality. A proposal whose rules this file does not
        know (kept before they were recorded) is judged by ``acl``, the current rules."""
        acl = self._acl() if acl is None else acl
        at = self._acl_at

        def rules(proposal: Proposal) -> Acl:
            control = self._controls.get(proposal.cid)
            return acl if control is None or at is None else at(control)

        def eligible(author: bytes, proposal: Proposal) -> bool:
            rules_ = rules(proposal)
            return not rules_.controlled or rules_.may_write_any(author)

        def owners(proposal: Proposal) -> frozenset[bytes]:
            rules_ = rules(proposal)
            return rules_.owners if rules_.controlled else frozenset()

        return Policy(self.quorum, eligible=eligible, owners=owners)

    def chain(self) -> Chain:
        """The chain the held events make under the current rules (cached until the next event, or
        until the access rules or the quorum change: finality depends on them)."""
        acl = self._acl()
        key = (acl, self.quorum)
        if self._cache is None or key != self._cache_key:
            proposals = self.proposals()  # first: it reads each proposal's rules
            self._cache = resolve(proposals, self.countersigns(), self.policy(acl))
            self._cache_key = key
        return self._cache
