"""Admin routes: the node's status, its peers and the recent entries of a database's log.

Everything here is read from in-memory state on request (the log's index, the replicator's peer
table, the feed's first and last ids), so a request costs a few microseconds per database or peer;
``/v1/log`` decodes only the ``limit`` entries it returns.
"""

from __future__ import annotations

import heapq
import time
from typing import Any

from aiohttp import web

from p2pdb.http.auth import database, http_error, query_uint
from p2pdb.log import CID, peer_id

DEFAULT_LOG_LIMIT = 20
MAX_LOG_LIMIT = 1000


class AdminRoutes:
    def __init__(self, node: Any, *, http_address: Any) -> None:
        self.node = node
        self._http_address = http_address  # a callable: the API's own address once listening

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/status", self.status),
            web.get("/v1/peers", self.peers),
            web.get("/v1/log/{db}", self.log),
            web.get("/v1/checkpoints/{db}", self.checkpoints),
        ]

    def _require_running(self) -> Any:
        registry = getattr(self.node, "registry", None)
        if registry is None:
            http_error(503, "the node is not running")
        return registry

    async def status(self, request: web.Request) -> web.Response:
        registry = self._require_running()
        status: dict[str, Any] = dict(self.node.status())
        status["uptime_seconds"] = round(time.time() - self.node.started, 1)
        status["addresses"] = {**status.get("addresses", {}), "http": self._http_address()}
        for item in status.get("databases", []):
            db = registry.get(item["name"])
            if db is not None:
                item["changes"] = {"first_id": db.changes.first_id(), "last_id": db.changes.last_id()}
        return web.json_response(status)

    async def peers(self, request: web.Request) -> web.Response:
        self._require_running()
        replicator = getattr(self.node, "replicator", None)
        if replicator is None:
            return web.json_response({"peers": []})
        out = []
        # peer_info() carries latency_ms (ping round trip) and lag per database (our entries the
        # peer lacked at its last heads message; None when it named heads we do not know).
        out = list(replicator.peer_info())
        # Addresses this node knows of (bootstrap, peer exchange, mDNS), linked or not.
        known = sorted(getattr(replicator, "known", ()))
        return web.json_response({"peers": out, "known": known})

    async def checkpoints(self, request: web.Request) -> web.Response:
        """The database's checkpoint chain, the proposals after it, and this node's checks."""
        from p2pdb.checkpointer import describe

        db = database(self.node, request.match_info["db"])
        chain = db.checkpoints.chain()
        checkpointer = getattr(self.node, "checkpointer", None)
        return web.json_response(
            {
                "db": db.name,
                "chain": [describe(s) for s in chain.chain],
                "candidates": [describe(s) for s in chain.candidates() if not s.chosen],
                "node": checkpointer.status(db.name) if checkpointer is not None else None,
            }
        )

    async def log(self, request: web.Request) -> web.Response:
        db = database(self.node, request.match_info["db"])
        limit = query_uint(request, "limit", default=DEFAULT_LOG_LIMIT)
        assert limit is not None
        if not 1 <= limit <= MAX_LOG_LIMIT:
            http_error(400, f"limit must be between 1 and {MAX_LOG_LIMIT}")
        entries = []
        for cid in recent(db.log, limit):
            entry = db.log.get(cid)
            if entry is None:
                continue
            entries.append(
                {
                    "cid": str(cid),
                    "parents": [str(p) for p in entry.parents],
                    "clock": entry.clock.time,
                    "author": peer_id(entry.clock.id),
                    "ops": len(entry.ops) if isinstance(entry.ops, list) else 0,
                }
            )
        return web.json_response(
            {
                "db": db.name,
                "heads": [str(h) for h in db.log.heads],
                "total": len(db.log),
                "entries": entries,
            }
        )


def _descending(key: bytes) -> bytes:
    return bytes(255 - b for b in key)


def recent(log: Any, limit: int) -> list[CID]:
    """The ``limit`` newest entries by (Lamport time, author), newest first.

    Walks back from the heads with a max-heap instead of sorting the whole log: every entry's time
    is above its parents', so the heap's top is always the newest entry not yet taken. Cost:
    O(limit x parents x log) whatever the length of the log.
    """
    heap: list[tuple[int, bytes, bytes, CID]] = []
    seen: set[CID] = set()

    def push(cid: CID) -> None:
        if cid not in seen and cid in log:
            seen.add(cid)
            clock = log.clock_of(cid)
            heapq.heappush(heap, (-clock.time, _descending(clock.id), _descending(bytes(cid)), cid))

    for head in log.heads:
        push(head)
    out: list[CID] = []
    while heap and len(out) < limit:
        cid = heapq.heappop(heap)[3]
        out.append(cid)
        for parent in log.parents_of(cid):
            push(parent)
    return out
