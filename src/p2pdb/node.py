"""A P2PDB node: identity, databases and the MySQL server, wired together.

``Node.start()`` opens (or creates) the data directory, loads the persistent identity, opens every
database and starts listening; ``Node.stop()`` closes everything cleanly. The node writes
``<data-dir>/node.json`` while it runs, so ``p2pdb status`` can show its addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import ssl
import time
from pathlib import Path
from typing import Any

from p2pdb import __version__
from p2pdb.config import Config
from p2pdb.log import Identity
from p2pdb.sql import lexer, like
from p2pdb.sql.backend import Accounts, Limits, SQLBackend
from p2pdb.sql.protocol import MySQLServer, ServerOptions, is_loopback, load_or_create_rsa_key
from p2pdb.sql.serving.processes import ReaderProcesses
from p2pdb.sql.tls_files import load_or_create_tls
from p2pdb.store import collation
from p2pdb.store.registry import Registry

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The node cannot start; the message is one line for the user."""


class Node:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.data_dir = config.data_dir
        self.identity: Identity | None = None
        self.registry: Registry | None = None
        self.mysql: MySQLServer | None = None
        self.replicator: Any = None
        self.discovery: Any = None
        self.webhooks: Any = None
        self.sinks: Any = None
        self.http: Any = None
        self.checkpointer: Any = None
        self.network_key: bytes | None = None
        self._refresher: asyncio.Future[None] | None = None
        self._lock: int | None = None
        self.backend: SQLBackend | None = None
        #: Reader processes serving the MySQL port with this one (config ``mysql_processes``).
        self.readers: ReaderProcesses | None = None
        self.started = time.time()

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        self._lock = lock_data_dir(self.data_dir)
        try:
            await self._start()
        except BaseException:
            self._unlock()
            raise

    async def _start(self) -> None:
        config = self.config
        self.identity = Identity.load_or_create(self.data_dir / "identity.key")
        self.network_key = read_network_key(config.network_key) if config.network_key else None
        if self.network_key is not None:
            config.network_id = network_id_for_key(self.network_key)
        accounts = Accounts(self.data_dir / "users.json")
        if not is_loopback(config.mysql_host) and not accounts.has_password("root"):
            raise StartupError(
                f"--mysql-host {config.mysql_host} is not a loopback address: set a root password first"
                " (p2pdb init --password)"
            )
        try:
            self.registry = self._open_registry()
        except ValueError as exc:
            raise StartupError(f"invalid 'access' configuration: {exc}") from exc
        limits = Limits(
            max_packet=config.max_packet,
            max_write_time=config.max_write_time,
            max_result_size=config.max_result_size,
            query_threads=config.query_threads,
        )
        backend = self.backend = SQLBackend(
            self.registry, accounts, status=self._status_counters, limits=limits
        )
        rsa_key = load_or_create_rsa_key(self.data_dir / "mysql_rsa.pem")
        ssl_context = None
        if config.mysql_tls:
            try:
                ssl_context = load_or_create_tls(
                    self.data_dir,
                    config.mysql_host,
                    cert=config.mysql_ssl_cert,
                    key=config.mysql_ssl_key,
                    peer_id=str(self.identity.peer_id),
                )
            except (OSError, ValueError, ssl.SSLError) as exc:
                self.registry.close()
                raise StartupError(f"cannot use the MySQL TLS certificate: {exc}") from exc
            backend.enable_tls(self.data_dir, config.mysql_ssl_cert, config.mysql_ssl_key)
        self.mysql = MySQLServer(
            backend,
            ssl_context=ssl_context,
            rsa_key=rsa_key,
            options=ServerOptions(max_packet=config.max_packet),
        )
        readers = config.mysql_processes - 1 if config.storage == "file" else 0
        if config.mysql_processes > 1 and not readers:
            log.warning("mysql_processes needs storage 'file': one process serves MySQL")
        try:
            await self.mysql.start(config.mysql_host, config.mysql_port, reuse_port=readers > 0)
        except OSError as exc:
            self.registry.close()
            raise StartupError(
                f"cannot listen for MySQL on {config.mysql_host}:{config.mysql_port} ({exc.strerror});"
                " choose another port with --mysql-port"
            ) from exc
        if readers:
            self._start_readers(readers, tls=ssl_context is not None)
        await self._start_replication()
        self._start_checkpoints()
        await self._start_cdc()
        self._write_node_file()
        self._refresher = asyncio.ensure_future(self._refresh_node_file())

    def _start_readers(self, count: int, *, tls: bool) -> None:
        config = self.config
        assert self.mysql is not None and self.backend is not None
        backend = self.backend
        settings = {
            "data_dir": str(self.data_dir.resolve()),
            "host": config.mysql_host,
            "port": self.mysql.port,
            "tls": tls,
            "mysql_ssl_cert": str(config.mysql_ssl_cert) if config.mysql_ssl_cert else None,
            "mysql_ssl_key": str(config.mysql_ssl_key) if config.mysql_ssl_key else None,
            "network_id": config.network_id,
            "access": config.access,
            "max_packet": config.max_packet,
            "max_write_time": config.max_write_time,
            "max_result_size": config.max_result_size,
            "query_threads": config.query_threads,
            "log_level": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        }
        ctx = self.mysql.context
        ctx.id_stride = count + 1  # this process's connection ids: multiples of the stride
        readers = self.readers = ReaderProcesses(
            ctx, self.data_dir, settings, count, lambda: dict(backend.global_variables)
        )
        backend.on_change = readers.changed
        backend.readers = readers
        readers.start()

    def _open_registry(self) -> Registry:
        config = self.config
        assert self.identity is not None
        return Registry(
            self.identity,
            self.data_dir if config.storage == "file" else None,  # None: every database in memory
            network_id=config.network_id,
            durability=config.durability,
            access=config.access,
            new_database_access=config.new_database_access,
            checkpoint_quorum=config.checkpoint_quorum,
        )

    async def _start_replication(self) -> None:
        config = self.config
        assert self.identity is not None and self.registry is not None
        from p2pdb.net.replicator import Options, Replicator

        network_key = self.network_key
        self.replicator = Replicator(
            self.identity,
            self.registry,
            host=config.p2p_host,
            port=config.p2p_port,
            network_id=config.network_id,
            network_key=network_key,
            bootstrap=config.bootstrap,
            options=Options(
                databases=frozenset(config.replicate) if config.replicate is not None else None,
                verify_process=True,
                gossip_window=config.gossip_window / 1000,
            ),
        )
        try:
            await self.replicator.start()
        except OSError as exc:
            await self.stop()
            raise StartupError(
                f"cannot listen for peers on {config.p2p_host}:{config.p2p_port} ({exc.strerror});"
                " choose another port with --p2p-port"
            ) from exc
        if config.lan:
            from p2pdb.net.discovery import Discovery

            self.discovery = Discovery(self.replicator)
            await self.discovery.start()

    def _start_checkpoints(self) -> None:
        from p2pdb.checkpointer import Checkpointer

        assert self.registry is not None
        config = self.config
        self.checkpointer = Checkpointer(self.registry, interval=config.checkpoint_interval, role=config.role)
        self.checkpointer.start()
        if self.replicator is not None:
            snapshots = self.replicator.snapshots
            snapshots.source = self.checkpointer
            snapshots.light = config.role == "light"
            snapshots.on_adopt.append(self.checkpointer.adopt)

    async def _start_cdc(self) -> None:
        """Change-feed consumers (webhooks, broker sinks) and the HTTP API."""
        config = self.config
        assert self.registry is not None
        from p2pdb.cdc.sinks import SinkRunner
        from p2pdb.cdc.webhooks import WebhookManager

        for name in self.registry.names():
            db = self.registry.get(name)
            if db is not None:
                db.changes.retention = config.cdc_retention
        state = self.data_dir / "cdc.sqlite"
        try:
            self.sinks = SinkRunner(self.registry, config.sinks, state)
        except ValueError as exc:
            await self.stop()
            raise StartupError(f"invalid sinks configuration: {exc}") from exc
        self.webhooks = WebhookManager(self.registry, state)
        await self.webhooks.start()
        await self.sinks.start()
        if config.http_port:
            from p2pdb.http.server import HttpApi

            try:
                self.http = HttpApi(
                    self,
                    host=config.http_host,
                    port=config.http_port,
                    token=config.http_token,
                    webhooks=self.webhooks,
                )
                await self.http.start()
            except (OSError, ValueError) as exc:
                self.http = None
                await self.stop()
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                raise StartupError(
                    f"cannot serve HTTP on {config.http_host}:{config.http_port} ({reason}); see --http-port"
                ) from exc

    async def _refresh_node_file(self) -> None:
        # What the databases held at start; one that appears later (replicated from zero) starts at 0.
        counts = self._report_catch_up({}, 0.0)
        while True:
            await asyncio.sleep(2)
            self._write_node_file()
            counts = self._report_catch_up(counts, 2.0)

    def _report_catch_up(self, before: dict[str, int], seconds: float) -> dict[str, int]:
        """Log the progress of a database whose log grows fast (a catch-up, from zero or after a
        long absence): entries held, the rate, and the ancestors still missing."""
        now: dict[str, int] = {}
        if self.registry is None:
            return now
        for name in self.registry.names():
            db = self.registry.get(name)
            if db is None:
                continue
            now[name] = len(db.log)
            grown = now[name] - before.get(name, 0)
            if seconds and grown >= CATCH_UP_REPORT:
                log.info(
                    "catching up %s: %d entries (+%d/s), %d ancestors still missing",
                    name, now[name], round(grown / seconds), len(db.log.missing()),
                )  # fmt: skip
        return now

    @property
    def mysql_address(self) -> str:
        assert self.mysql is not None
        host, port = self.mysql.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    def _status_counters(self) -> dict[str, Any]:
        uptime = int(time.time() - self.started)
        threads = self.mysql.connection_count if self.mysql is not None else 0
        return {"Uptime": uptime, "Threads_connected": threads}

    def status(self) -> dict[str, Any]:
        assert self.identity is not None and self.registry is not None
        return {
            "peer_id": self.identity.peer_id,
            "version": __version__,
            "pid": os.getpid(),
            #: Reader processes serving the MySQL port with this one (config ``mysql_processes``).
            "mysql_readers": self.readers.pids if self.readers is not None else [],
            #: Which text functions run in C (built at install where gcc and libsqlite3-dev are).
            "native": {"collations": collation.native(), "like": like.native(), "lexer": lexer.native()},
            "addresses": {
                "mysql": self.mysql_address if self.mysql else None,
                "p2p": self.replicator.address if self.replicator else None,
                "http": self.http.address if self.http else None,
            },
            "data_dir": str(self.data_dir.resolve()),
            "role": self.config.role,
            "storage": self.config.storage,
            "checkpoint_quorum": self.config.checkpoint_quorum,  # offline tools judge finality alike
            "databases": database_status(
                self.registry, self.checkpointer, self.replicator.snapshots if self.replicator else None
            ),
            "peers": self.replicator.peer_info() if self.replicator else [],
        }

    def _write_node_file(self) -> None:
        path = self.data_dir / "node.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), indent=2))
        tmp.replace(path)

    async def stop(self) -> None:
        if self.backend is not None:  # running statements end now, before what they use closes
            self.backend.shutdown()
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.sinks is not None:
            await self.sinks.stop()
            self.sinks = None
        if self.webhooks is not None:
            await self.webhooks.stop()
            self.webhooks = None
        if self.discovery is not None:
            await self.discovery.stop()
            self.discovery = None
        if self.checkpointer is not None:
            await self.checkpointer.stop()
            self.checkpointer = None
        if self.replicator is not None:
            await self.replicator.stop()
            self.replicator = None
        if self.readers is not None:
            await self.readers.stop()
            self.readers = None
        if self.mysql is not None:
            self.mysql.close()
            await self.mysql.wait_closed()
            self.mysql = None
        if self.registry is not None:
            self.registry.close()
            self.registry = None
        self.backend = None
        if self._lock is not None:
            node_file = self.data_dir / "node.json"
            if node_file.exists():
                node_file.unlink()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None

    async def run_forever(self, stop: asyncio.Event) -> None:
        await stop.wait()


LOCK_FILE = "lock"


def lock_data_dir(data_dir: Path) -> int:
    """Take the data directory for this process (one node per directory): an exclusive ``flock`` on
    ``<data-dir>/lock``, held until the process ends (the kernel drops it even after kill -9, so a
    stale file never blocks a restart). The file holds the owner's pid for the error message."""
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        owner = ""
        with contextlib.suppress(OSError, ValueError):
            owner = f" (pid {int(os.pread(fd, 32, 0).decode().strip())})"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StartupError(
                f"data directory {data_dir} is in use by another p2pdb node{owner};"
                " stop it or choose another --data-dir"
            ) from None
        raise StartupError(f"cannot lock {path}: {exc.strerror}") from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def read_network_key(path: Path) -> bytes:
    """A private network's pre-shared key: 32 bytes, raw or as 64 hex digits in a text file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read --network-key {path}: {exc.strerror}") from exc
    text = data.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) == 32:
        return data
    raise StartupError(f"--network-key {path} must hold 32 bytes (raw, or 64 hex digits)")


def network_id_for_key(key: bytes) -> str:
    """Peers of a private network share an id derived from its key (never the key itself)."""
    return "p2pdb-private-" + hashlib.sha256(b"p2pdb network id\0" + key).hexdigest()[:32]


#: Entries a database must gain between two node-file refreshes for its catch-up to be logged.
CATCH_UP_REPORT = 1000


def database_status(
    registry: Registry, checkpointer: Any = None, snapshots: Any = None
) -> list[dict[str, Any]]:
    out = []
    for name in registry.names():
        db = registry.get(name)
        if db is None:
            continue
        out.append(
            {
                "name": name,
                "address": db.manifest.address,
                "heads": [str(h) for h in db.log.heads],
                "entries": len(db.log),
                "tables": [t.name for t in db.tables()],
                "missing": len(db.log.missing()),
                "damaged": registry.damaged.get(name),
                # entries held back for conflict rules not installed here, by rule
                "missing_rules": db.parked() or None,
                "checkpoints": checkpointer.status(name) if checkpointer is not None else None,
                # a light bootstrap running: snapshot blocks fetched of all
                "bootstrap": snapshots.progress.get(name) if snapshots is not None else None,
            }
        )
    return out


def read_node_file(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / "node.json"
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data
