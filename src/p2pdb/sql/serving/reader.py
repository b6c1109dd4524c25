"""A reader process: serves plain SELECTs on the node's MySQL port, hands everything else over.

Started by the main process (:mod:`.processes`) as ``python -m p2pdb.sql.serving.reader``, with
its settings as JSON on standard input and its end of the channel as file descriptor ``--channel``.
It exits when the channel closes (the main process stopped or died).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import apsw
import cbor2

from p2pdb.log import Identity
from p2pdb.sql.backend import Accounts, Limits, SQLBackend
from p2pdb.sql.protocol.auth import Credential, Sha2Cache, load_or_create_rsa_key
from p2pdb.sql.protocol.connection import MySQLConnection
from p2pdb.sql.protocol.context import ServerOptions
from p2pdb.sql.protocol.server import MySQLServer
from p2pdb.sql.tls_files import load_or_create_tls
from p2pdb.store.collation import connect
from p2pdb.store.database import Database
from p2pdb.store.engine import FileEngine, configure
from p2pdb.store.registry import Registry, file_name, manifest_for, stored

from .channel import ReaderEnd
from .generation import Generation

log = logging.getLogger(__name__)
GLOBALS_FILE = "serving-globals.cbor"
GENERATION_FILE = "serving.gen"


class QueryOnlyEngine(FileEngine):
    """A database file opened by a reader process: SQLite refuses every write on its connections."""

    def writer(self) -> apsw.Connection:
        if self._writer is None:
            conn = connect(str(self.path))
            configure(conn)
            conn.execute("PRAGMA query_only = 1")
            self._writer = conn
        return self._writer


class ReadOnlyDatabase(Database):
    """A database as a reader process sees it: what the files say, nothing written."""

    def open_parked(self) -> int:
        return 0  # the main process applies parked entries


def _marker(engine: FileEngine) -> tuple[Any, ...]:
    """What changes when the main process changes a database's catalog (or replaces its file)."""
    stat = os.stat(engine.path)
    conn = engine.writer()
    # Schema events are only ever added (a rolled-back one was never committed).
    rows = conn.execute("SELECT count(*), max(time), total(length(body)) FROM _p2pdb_schema").fetchall()
    version = conn.execute("PRAGMA schema_version").fetchall()
    return (stat.st_ino, stat.st_dev, rows[0], version[0])


class ReaderState:
    """The reader's databases, accounts and global variables, read again whenever the main
    process's generation counter moves."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.data_dir = Path(settings["data_dir"])
        self.settings = settings
        identity = Identity.load(self.data_dir / "identity.key")
        self.registry = Registry(identity, None, network_id=settings["network_id"])
        self.registry.dir = self.data_dir / "db"
        self._markers: dict[str, tuple[Any, ...]] = {}
        limits = Limits(
            max_packet=settings["max_packet"],
            max_write_time=settings["max_write_time"],
            max_result_size=settings["max_result_size"],
            query_threads=settings["query_threads"],
        )
        self.backend = SQLBackend(self.registry, Accounts(self.data_dir / "users.json"), limits=limits)
        self.backend.reader_process = True
        self.generation = Generation(self.data_dir / GENERATION_FILE)
        self.seen = -1
        self.refresh()

    def _names(self) -> set[str]:
        return {name for name, _path in stored(self.data_dir / "db")}  # what the main process opens

    def _open(self, name: str) -> bool:
        """Open ``name``; False if the main process is still creating it (its tables are not
        there yet: the change that makes it known comes with the next counter bump)."""
        assert self.registry.dir is not None
        engine = QueryOnlyEngine(self.registry.dir / file_name(name))
        # The marker first: a change committed while the database opens shows at the next refresh.
        try:
            marker = _marker(engine)
        except apsw.SQLError:
            engine.close()
            return False
        manifest = manifest_for(name, self.settings["network_id"], self.settings["access"].get(name))
        db = ReadOnlyDatabase(self.registry.identity, manifest, engine)
        self.registry._open[name] = db
        self._markers[name] = marker
        return True

    def before_command(self) -> None:
        if self.generation.value != self.seen or (
            self.backend.reader_degraded and time.monotonic() >= self._retry_at
        ):
            self.refresh()

    def refresh(self) -> None:
        """Read again what the main process changed: accounts, global variables, databases."""
        self.seen = self.generation.value
        self._retry_at = time.monotonic() + 1.0
        backend = self.backend
        backend.accounts = Accounts(self.data_dir / "users.json")
        globals_path = self.data_dir / GLOBALS_FILE
        if globals_path.exists():
            backend.global_variables = dict(cbor2.loads(globals_path.read_bytes()))
        names = self._names()
        changed = failed = False
        for name in list(self.registry.names()):
            db = self.registry.get(name)
            assert db is not None
            try:
                engine = db.engine
                assert isinstance(engine, FileEngine)
                same = name in names and _marker(engine) == self._markers.get(name)
            except (OSError, apsw.Error):
                same = False
            if not same:
                del self.registry._open[name]
                self._markers.pop(name, None)
                changed = True
        for name in sorted(names - set(self.registry.names())):
            try:
                if not self._open(name):
                    continue
                backend.on_new_database(name)
            except Exception:
                log.exception("reader: could not open database %s; the main process serves all", name)
                self.registry._open.pop(name, None)
                self._markers.pop(name, None)
                failed = True
                continue
            changed = True
        # A database this process could not open would look unknown here: until it opens (tried
        # again at each refresh), every statement goes to the main process.
        backend.reader_degraded = failed
        if changed:
            backend.forget_plans()


def _settings() -> tuple[dict[str, Any], int]:
    parser = argparse.ArgumentParser(prog="p2pdb.sql.serving.reader")
    parser.add_argument("--channel", type=int, required=True)
    args = parser.parse_args()
    return json.loads(sys.stdin.read()), args.channel


def answer(backend: SQLBackend, cache: Sha2Cache, message: dict[str, Any]) -> dict[str, Any]:
    """The main process asks: this process's sessions (SHOW PROCESSLIST), or to stop one (KILL);
    or tells of a full login another process made."""
    if "sha2" in message:
        user, credential, stage2 = message["sha2"]
        cache.put(str(user), Credential.decode(str(credential)), bytes(stage2), share=False)
        return {}
    op = message.get("op")
    if op == "processlist":
        return {"rows": [list(row) for row in backend.processlist()]}
    if op == "kill":
        session = backend.sessions.get(int(message["id"]))
        if session is None:
            return {"found": False}
        if message["user"] != "root" and session.user != message["user"]:
            return {"found": True, "denied": True}
        if message["query"]:
            session.kill_query()
        else:
            session.kill_connection()
        return {"found": True}
    return {}


async def serve(settings: dict[str, Any], channel: socket.socket) -> None:
    state = ReaderState(settings)
    data_dir = state.data_dir
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def end() -> None:
        if not stop.done():
            stop.set_result(None)

    ssl_context = None
    if settings["tls"]:  # the main process made the files (or was given them) before starting readers
        cert, key = settings["mysql_ssl_cert"], settings["mysql_ssl_key"]
        ssl_context = load_or_create_tls(
            data_dir,
            settings["host"],
            cert=Path(cert) if cert is not None else None,
            key=Path(key) if key is not None else None,
        )
    server = MySQLServer(
        state.backend,
        ssl_context=ssl_context,
        rsa_key=load_or_create_rsa_key(data_dir / "mysql_rsa.pem"),
        options=ServerOptions(max_packet=settings["max_packet"]),
    )
    ctx = server.context
    cache = ctx.sha2_cache

    def take(sock: socket.socket, moved: dict[str, Any]) -> None:
        """Serve a connection the main process gives back (it serves only reads again)."""
        task = loop.create_task(
            loop.connect_accepted_socket(lambda: MySQLConnection(ctx, adopted=moved), sock)
        )
        task.add_done_callback(_report)

    # The main process holds the other end: when it closes, this process ends.
    end_point = ReaderEnd(channel, lambda message: answer(state.backend, cache, message), end, take)
    cache.shared = lambda user, credential, stage2: end_point.tell(
        {"sha2": [user, credential.encode(), stage2]}
    )
    ctx.handoff = end_point.hand_off
    ctx.before_command = state.before_command
    ctx.id_offset = int(settings["index"])
    ctx.id_stride = int(settings["processes"])
    await server.start(settings["host"], settings["port"], reuse_port=True)
    await end_point.ready()
    loop.add_signal_handler(signal.SIGTERM, end)
    log.info(
        "reader process %d serving MySQL on %s:%d", settings["index"], settings["host"], settings["port"]
    )
    await stop
    end_point.close()
    server.close()
    await server.wait_closed()
    state.backend.shutdown()
    state.registry.close()


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("taking back a connection failed", exc_info=task.exception())


def main() -> None:
    # Ctrl-C reaches the whole process group: the main process stops its readers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings, fd = _settings()
    logging.basicConfig(
        level=settings.get("log_level", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s reader{settings['index']} %(name)s: %(message)s",
    )
    channel = socket.socket(fileno=fd)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(settings, channel))


if __name__ == "__main__":
    main()
