"""Node configuration: every option with its meaning and default in one place.

Values come from the command line, else from ``<data-dir>/config.json`` (optional), else the
defaults below. Defaults are local and safe (DESIGN §5, §7).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from p2pdb.log import DEFAULT_NETWORK_ID


@dataclass(slots=True)
class Config:
    #: Directory holding the identity key, accounts and one SQLite file per database.
    data_dir: Path = Path("p2pdb-data")
    #: MySQL listener. Binding to a non-loopback address requires a root password.
    mysql_host: str = "127.0.0.1"
    mysql_port: int = 3306
    #: TLS on the MySQL listener (clients choose it; caching_sha2_password's first login needs it or
    #: RSA). The certificate is generated in the data directory unless both files below are given.
    mysql_tls: bool = True
    mysql_ssl_cert: Path | None = None
    mysql_ssl_key: Path | None = None
    #: Peer-to-peer listener (used by the replication layer).
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 4001
    #: HTTP API (change feed, webhooks, admin, metrics): port (0 = disabled) and address.
    http_port: int = 0
    http_host: str = "127.0.0.1"
    #: Bearer token the HTTP API requires; mandatory when http_host is not a loopback address.
    http_token: str | None = None
    #: Changes kept in each database's change feed (older ones are pruned).
    cdc_retention: int = 1_000_000
    #: Broker sinks of the change feed: [{"type": "nats"|"rabbitmq"|"mqtt", ...}] (docs/cdc.md).
    sinks: list[dict[str, Any]] = field(default_factory=list)
    #: Peers to dial at start, "HOST:PORT".
    bootstrap: list[str] = field(default_factory=list)
    #: Discover peers on the LAN by mDNS (and listen on all interfaces).
    lan: bool = False
    #: Pre-shared key file of a private network.
    network_key: Path | None = None
    #: Network id: the open network unless a network key defines a private one.
    network_id: str = DEFAULT_NETWORK_ID
    #: Replicate only these databases (None: every database of the network).
    replicate: list[str] | None = None
    #: Who may write, per database: {"shop": {"owners": [peer ids], "writers": [peer ids] or "*"}}.
    #: Entries by anyone else are rejected before they are stored; default: anyone may write.
    access: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Who may write a database this node creates (CREATE DATABASE): "owned" (this node only,
    #: until it grants), "open" (anyone, until this node revokes) or "none" (no rules in the log:
    #: ``access`` above alone decides). docs/security.md.
    new_database_access: str = "owned"
    #: While entries stream, gossip runs at most once per this many milliseconds: entries that
    #: arrive meanwhile are joined in one transaction and forwarded together (docs/protocol.md).
    #: 0: every entry at once (least latency, most CPU per entry).
    gossip_window: float = 10.0
    #: Seconds between checkpoints of each database (proof of version, docs/checkpoints.md); 0: none.
    checkpoint_interval: float = 600.0
    #: Distinct signers (keys that may write the database) that make a checkpoint final, unless a
    #: majority of the database's owners signed it.
    checkpoint_quorum: int = 2
    #: "archive" keeps every entry; "light" keeps the latest final checkpoint's snapshot and the
    #: entries after it (and their change-feed events), and bootstraps from a peer's snapshot.
    role: str = "archive"
    #: "file": each database in its SQLite file under the data directory; "memory": databases live in
    #: memory only (development and tests): they replicate like any other and are gone when the
    #: node stops (it catches up again from its peers). The identity key stays in the data directory.
    storage: str = "file"
    #: "normal": every acknowledged commit survives a killed process; "full": also power loss.
    durability: str = "normal"
    #: This peer's AUTO_INCREMENT offset (1..1024); default derived from the peer key.
    #: max_allowed_packet of the MySQL listener, bytes.
    max_packet: int = 64 * 1024 * 1024
    #: Longest a client statement may hold a database's writer (it runs on the event loop), in ms;
    #: also the largest p2pdb_max_write_time a session may set. 0: no limit.
    max_write_time: int = 5000
    #: Bytes of result rows one statement may hold in memory before sending (error 3170 beyond).
    max_result_size: int = 256 * 1024 * 1024
    #: Worker threads that run long reads off the event loop.
    query_threads: int = 4
    #: Processes serving the MySQL port: the main process and this many minus one reader processes
    #: that serve plain SELECTs and hand other statements' connections to the main process
    #: (docs/performance.md, "Several processes serving MySQL"). 1: the main process alone.
    mysql_processes: int = 1

    @classmethod
    def load(cls, data_dir: Path, overrides: dict[str, Any]) -> Config:
        values: dict[str, Any] = {}
        path = data_dir / "config.json"
        if path.exists():
            values.update(json.loads(path.read_text()))
        values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
        values["data_dir"] = data_dir
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        config = cls(**values)
        config.data_dir = Path(config.data_dir)
        if config.network_key is not None:
            config.network_key = Path(config.network_key)
        for name in ("mysql_ssl_cert", "mysql_ssl_key"):
            if getattr(config, name) is not None:
                setattr(config, name, Path(getattr(config, name)))
        config.bootstrap = list(config.bootstrap)
        if config.new_database_access not in ("owned", "open", "none"):
            raise ValueError("new_database_access is owned, open or none")
        if config.role not in ("archive", "light"):
            raise ValueError("role is archive or light")
        if config.storage not in ("file", "memory"):
            raise ValueError("storage is file or memory")
        if not 0 <= config.gossip_window <= 1000:
            raise ValueError("gossip_window is between 0 and 1000 (milliseconds)")
        if not 1 <= config.mysql_processes <= 64:
            raise ValueError("mysql_processes is between 1 and 64")
        if config.checkpoint_interval < 0 or config.checkpoint_quorum < 1:
            raise ValueError("checkpoint_interval is >= 0 and checkpoint_quorum >= 1")
        if config.lan and config.p2p_host == "127.0.0.1" and overrides.get("p2p_host") is None:
            config.p2p_host = "0.0.0.0"
        return config
