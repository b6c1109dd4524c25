"""``GET /metrics``: the node's counters in Prometheus text format, collected on scrape.

Nothing on a hot path is instrumented: the collector reads counters the node keeps anyway (MySQL
questions and commits, replication counters, log sizes, change-feed ids) when Prometheus asks.
Each :class:`~p2pdb.http.HttpApi` has its own ``CollectorRegistry``, so several nodes in one process
(tests) never share or clash on metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: The classic text format every Prometheus version scrapes (our names need no UTF-8 escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BACKEND_COUNTERS = {
    "Com_commit": ("p2pdb_mysql_commits", "COMMIT statements executed"),
    "P2pdb_group_commits": ("p2pdb_group_commits", "Group commits (one SQLite commit and log entry each)"),
    "P2pdb_group_commit_transactions": (
        "p2pdb_group_commit_transactions",
        "Transactions committed through group commit",
    ),
}
_REPLICATION_COUNTERS = {
    "entries_sent": "Log entries pushed to peers",
    "entries_received": "Log entries received from peers and applied",
    "entries_rejected": "Blocks from peers refused by verification",
    "links_refused": "Incoming peer links refused",
    "boundary_entries": "Entries below a light node's floor that peers named as already in its state",
    "duplicates_received": "Gossiped entries received that this node already held",
}


class NodeCollector(Collector):
    """Reads a node's state on every scrape."""

    def __init__(self, node: Any, *, extra: Callable[[], Iterator[Metric]] | None = None) -> None:
        self.node = node
        self.extra = extra

    def describe(self) -> list[Metric]:
        return []  # names are dynamic (per database); the registry need not pre-check them

    def collect(self) -> Iterator[Metric]:
        node = self.node
        identity = getattr(node, "identity", None)
        if identity is not None:
            info = GaugeMetricFamily("p2pdb_node_info", "Peer id of this node", labels=["peer_id"])
            info.add_metric([identity.peer_id], 1)
            yield info
        yield GaugeMetricFamily(
            "p2pdb_uptime_seconds", "Seconds since the node started", value=time.time() - node.started
        )
        yield from self._mysql()
        yield from self._replication()
        yield from self._databases()
        if self.extra is not None:
            yield from self.extra()

    def _mysql(self) -> Iterator[Metric]:
        mysql = getattr(self.node, "mysql", None)
        if mysql is None:
            return
        yield GaugeMetricFamily(
            "p2pdb_mysql_connections", "Open MySQL client connections", value=mysql.connection_count
        )
        yield CounterMetricFamily(
            "p2pdb_mysql_queries", "MySQL commands received (questions)", value=mysql.context.questions
        )
        status = mysql.context.backend.status() if hasattr(mysql.context.backend, "status") else {}
        for key, (name, doc) in _BACKEND_COUNTERS.items():
            if key in status:
                yield CounterMetricFamily(name, doc, value=status[key])

    def _replication(self) -> Iterator[Metric]:
        replicator = getattr(self.node, "replicator", None)
        if replicator is None:
            return
        yield GaugeMetricFamily("p2pdb_replication_peers", "Connected peers", value=len(replicator.peers))
        for key, doc in _REPLICATION_COUNTERS.items():
            if key in replicator.counters:
                yield CounterMetricFamily(f"p2pdb_replication_{key}", doc, value=replicator.counters[key])
        sent, received = replicator.link_bytes()
        family = CounterMetricFamily(
            "p2pdb_replication_bytes", "Bytes on peer links after their handshakes", labels=["direction"]
        )
        family.add_metric(["sent"], sent)
        family.add_metric(["received"], received)
        yield family
        for direction, kinds in (("sent", replicator.sent_kinds), ("received", replicator.received_kinds)):
            family = CounterMetricFamily(
                f"p2pdb_replication_messages_{direction}",
                f"Messages {'queued on' if direction == 'sent' else 'received from'} peer links, by type",
                labels=["kind"],
            )
            for kind, count in sorted(kinds.items()):
                family.add_metric([kind.lower()], count)
            yield family
        seen = GaugeMetricFamily(
            "p2pdb_peer_last_seen_seconds", "Seconds since a peer last sent anything", labels=["peer_id"]
        )
        now = time.monotonic()
        for peer in list(replicator.peers.values()):
            seen.add_metric([peer.peer_id], now - peer.last_seen)
        yield seen

    def _databases(self) -> Iterator[Metric]:
        registry = getattr(self.node, "registry", None)
        if registry is None:
            return
        entries = GaugeMetricFamily("p2pdb_log_entries", "Entries in a database's log", labels=["db"])
        heads = GaugeMetricFamily("p2pdb_log_heads", "Heads of a database's log", labels=["db"])
        last = GaugeMetricFamily("p2pdb_changes_last_id", "Newest change id of the feed", labels=["db"])
        first = GaugeMetricFamily(
            "p2pdb_changes_first_id", "Oldest retained change id of the feed", labels=["db"]
        )
        damaged = GaugeMetricFamily(
            "p2pdb_database_damaged",
            "1 if the database was found damaged at start and repaired",
            labels=["db"],
        )
        missing = GaugeMetricFamily("p2pdb_log_missing", "Entries a database waits to fetch", labels=["db"])
        seq = GaugeMetricFamily(
            "p2pdb_checkpoint_seq", "Sequence number of the latest final checkpoint (0: none)", labels=["db"]
        )
        mismatch = GaugeMetricFamily(
            "p2pdb_checkpoint_state_mismatch",
            "1 while this node's live state differs from the replay of its log (found at a checkpoint)",
            labels=["db"],
        )
        mismatches = CounterMetricFamily(
            "p2pdb_checkpoint_state_mismatches",
            "Times this node's live state was found to differ from its log (and repaired)",
            labels=["db"],
        )
        disputed = GaugeMetricFamily(
            "p2pdb_checkpoint_disputed",
            "Proposals whose hashes differ from this node's replay",
            labels=["db"],
        )
        floor = GaugeMetricFamily(
            "p2pdb_log_floor", "Pruned entries still known by id (light nodes)", labels=["db"]
        )
        gaps = GaugeMetricFamily(
            "p2pdb_history_gaps",
            "Merges that needed history this light node pruned (its state may differ; it vouches for nothing)",
            labels=["db"],
        )
        checkpointer = getattr(self.node, "checkpointer", None)
        for name in registry.names():
            db = registry.get(name)
            if db is None:
                continue
            damaged.add_metric([name], 1 if name in getattr(registry, "damaged", {}) else 0)
            missing.add_metric([name], len(db.log.missing()))
            entries.add_metric([name], len(db.log))
            heads.add_metric([name], len(db.log.heads))
            last.add_metric([name], db.changes.last_id())
            first.add_metric([name], db.changes.first_id())
            latest = db.checkpoints.chain().latest
            seq.add_metric([name], latest.proposal.seq if latest is not None else 0)
            floor.add_metric([name], len(db.log.floor))
            gaps.add_metric([name], len(db.history_gaps))
            track = checkpointer.tracks.get(name) if checkpointer is not None else None
            bad = (
                track is not None and track.mismatch is not None and not track.mismatch.startswith("repaired")
            )
            mismatch.add_metric([name], 1 if bad else 0)
            mismatches.add_metric([name], track.mismatches if track is not None else 0)
            disputed.add_metric([name], len(track.disputed) if track is not None else 0)
        yield from (
            entries,
            heads,
            last,
            first,
            damaged,
            missing,
            seq,
            mismatch,
            mismatches,
            disputed,
            floor,
            gaps,
        )


class MetricsRoute:
    def __init__(self, node: Any, *, extra: Callable[[], Iterator[Metric]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(node, extra=extra))

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.metrics)]

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response
