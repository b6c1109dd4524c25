"""Light bootstrap: a new light node takes a peer's snapshot instead of the whole log
(docs/checkpoints.md "Light nodes").

The peer answers :class:`WantSnapshot` with the root of its latest final checkpoint's snapshot
and the signed entries that make that checkpoint final. The light node fetches the root and the
chunks (each checked against its CID), restores them into a new database file in a worker thread,
checks the state against the checkpoint's hashes and the proof against its own policy, and only then
puts the file in place. From there the normal heads exchange brings the entries after the
checkpoint (the tail). Anything wrong (no snapshot, a bad block, a state that does not match, a
checkpoint not final): the node logs it and falls back to replicating the whole log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from p2pdb.log import CID
from p2pdb.log.cid import cid_for_block
from p2pdb.net.messages import (
    MAX_SNAPSHOT_BLOCKS,
    SnapshotBlocks,
    SnapshotOffer,
    WantSnapshot,
    WantSnapshotBlocks,
)
from p2pdb.store import checkpointing as ck
from p2pdb.store.registry import file_name
from p2pdb.store.snapshot import SnapshotError, SnapshotStore, parse_root

if TYPE_CHECKING:
    from p2pdb.net.replicator import Peer, Replicator

log = logging.getLogger(__name__)
TIMEOUT = 30.0


class Snapshots:
    """Both sides of snapshot transfer for one replicator."""

    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator
        #: Serves snapshots (the node's checkpointer); None: this node offers none.
        self.source: Any = None
        #: A light node bootstraps empty databases from a peer's snapshot.
        self.light = False
        self.bootstrapping: set[str] = set()
        self.tried: set[str] = set()
        #: Per database: (blocks fetched, blocks in all) of a running bootstrap.
        self.progress: dict[str, tuple[int, int]] = {}
        self.on_adopt: list[Callable[[str, Any], None]] = []
        self._waiters: dict[tuple[str, str, str], asyncio.Future[Any]] = {}

    # -- serving ---------------------------------------------------------------------------------

    def on_want(self, peer: Peer, message: WantSnapshot) -> None:
        offer = self.source.offer(message.db) if self.source is not None else None
        if offer is None:
            self.replicator._send(peer, SnapshotOffer(db=message.db, root=b"", proof=[]))
            return
        root, proof = offer
        self.replicator._send(peer, SnapshotOffer(db=message.db, root=bytes(root.cid), proof=proof[:4096]))

    def on_want_blocks(self, peer: Peer, message: WantSnapshotBlocks) -> None:
        blocks = []
        if self.source is not None:
            for raw in message.cids[:MAX_SNAPSHOT_BLOCKS]:
                try:
                    data = self.source.snapshot_block(message.db, CID(raw))
                except ValueError:
                    continue
                if data is not None:
                    blocks.append(data)
        self.replicator._spawn(self.replicator._send_wait(peer, SnapshotBlocks(db=message.db, blocks=blocks)))

    # -- answers -----------------------------------------------------------------------------------

    def on_answer(self, peer: Peer, message: SnapshotOffer | SnapshotBlocks) -> None:
        kind = "offer" if isinstance(message, SnapshotOffer) else "blocks"
        waiter = self._waiters.pop((peer.peer_id, kind, message.db), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def _ask(self, peer: Peer, kind: str, message: Any) -> Any:
        key = (peer.peer_id, kind, message.db)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[key] = waiter
        try:
            if not self.replicator._send(peer, message):
                raise ConnectionError("link queue full")
            return await asyncio.wait_for(waiter, TIMEOUT)
        finally:
            self._waiters.pop(key, None)

    # -- bootstrapping -------------------------------------------------------------------------------

    def should_bootstrap(self, name: str, empty: bool) -> bool:
        """Whether heads of ``name`` from a peer should start a bootstrap (or wait for one)."""
        if name in self.bootstrapping:
            return True
        return self.light and empty and name not in self.tried

    def start(self, peer: Peer, name: str) -> None:
        self.tried.add(name)
        self.bootstrapping.add(name)
        self.replicator._spawn(self._bootstrap(peer, name))

    async def _fetch(self, peer: Peer, name: str, cids: list[CID]) -> dict[CID, bytes]:
        answer = await self._ask(peer, "blocks", WantSnapshotBlocks(db=name, cids=[bytes(c) for c in cids]))
        wanted = set(cids)
        got = {}
        for data in answer.blocks:
            cid = cid_for_block(data)
            if cid in wanted:
                got[cid] = data
        if len(got) != len(wanted):
            raise SnapshotError(f"peer {peer.peer_id} did not send {len(wanted) - len(got)} snapshot blocks")
        return got

    async def _bootstrap(self, peer: Peer, name: str) -> None:
        registry = self.replicator.registry
        started = time.monotonic()
        try:
            db = registry.get(name)
            if db is None or len(db.log) or registry.dir is None:
                return
            offer = await self._ask(peer, "offer", WantSnapshot(db=name))
            if not offer.root:
                log.info("database %s: %s has no snapshot; replicating the whole log", name, peer.peer_id)
                return
            root_cid = CID(offer.root)
            first = await self._fetch(peer, name, [root_cid])
            root = parse_root(root_cid, first[root_cid])
            if root.db != db.manifest.address:
                raise SnapshotError("the snapshot belongs to another database")
            path = registry.snapshot_path(name)
            store = SnapshotStore(path)
            try:
                store.put_blocks(first.items())
                chunks = [c for c in root.chunks if not store.has(c)]
                total = len(root.chunks) + 1
                self.progress[name] = (total - len(chunks), total)
                for i in range(0, len(chunks), MAX_SNAPSHOT_BLOCKS):
                    got = await self._fetch(peer, name, chunks[i : i + MAX_SNAPSHOT_BLOCKS])
                    store.put_blocks(got.items())
                    self.progress[name] = (self.progress[name][0] + len(got), total)
                fetched = time.monotonic() - started
                assert registry.dir is not None
                target = registry.dir / (file_name(name) + ".restore")
                for suffix in ("", "-wal", "-shm"):
                    stale = target.with_name(target.name + suffix)
                    if stale.exists():
                        stale.unlink()
                quorum = registry.checkpoint_quorum
                await asyncio.to_thread(
                    _restore,
                    registry.identity,
                    db.manifest,
                    quorum,
                    str(target),
                    root,
                    path,
                    list(offer.proof),
                )
                store.add_root(root)
            finally:
                store.close()
            db = registry.get(name)
            if db is None or len(db.log):
                return  # dropped, or filled by other means meanwhile
            db = registry.replace(name, target)
            for suffix in ("-wal", "-shm"):
                leftover = target.with_name(target.name + suffix)
                if leftover.exists():
                    leftover.unlink()
            for listener in self.on_adopt:
                listener(name, root)
            log.info(
                "database %s: bootstrapped from %s's snapshot of checkpoint %s (seq %d, %d rows):"
                " fetched in %.1f s, restored in %.1f s; the entries after it follow",
                name, peer.peer_id, root.checkpoint, root.seq, root.rows, fetched,
                time.monotonic() - started - fetched,
            )  # fmt: skip
        except (SnapshotError, ValueError, TimeoutError, ConnectionError, OSError) as exc:
            log.warning("database %s: snapshot bootstrap from %s failed (%s); replicating the whole log",
                        name, peer.peer_id, exc)  # fmt: skip
        finally:
            self.bootstrapping.discard(name)
            self.progress.pop(name, None)
            db = registry.get(name)
            if db is not None and peer.peer_id in self.replicator.peers:
                self.replicator._send_db_heads(peer, name, db)


def _restore(
    identity: Any, manifest: Any, quorum: int, target: str, root: Any, path: Any, proof: Any
) -> None:
    store = SnapshotStore(path)
    try:
        ck.restore_file(identity, manifest, quorum, target, root, store.get, proof)
    finally:
        store.close()
