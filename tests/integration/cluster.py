"""Real ``p2pdb start`` processes on 127.0.0.1 (free ports, temp data dirs) for cluster tests."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

_MYSQL = re.compile(r"^mysql\s+\S+:(\d+)", re.M)
_P2P = re.compile(r"^p2p\s+(\S+:\d+)", re.M)
_HTTP = re.compile(r"^http\s+(\S+:\d+)", re.M)


_given: set[int] = set()


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (the source ports of outgoing connections)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port that is free now, chosen *below* the kernel's ephemeral range.

    Binding port 0 gives a port from that range, and any process's outgoing connection may take
    the same number as its source port. A node stopped and started again on its port (tests of
    restarts) then failed with "address already in use" while its peers redialled it. Ports below
    the range are never handed out as source ports. Each port is given at most once per process.
    """
    low = _ephemeral_low()
    if low <= 2048:  # no room below the range on this machine: let the kernel choose
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    while True:
        port = random.randrange(max(1024, low - 12000), low)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port


@dataclass
class NodeProcess:
    data_dir: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    mysql_port: int = 0
    p2p_address: str = ""
    http_address: str = ""
    p2p_port: int = 0
    log_path: Path | None = None
    #: Environment variables added to the node process's (PYTHONPATH of a plugin, say).
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 20.0) -> NodeProcess:
        if not self.p2p_port:
            self.p2p_port = free_port()
        self.log_path = self.data_dir.with_suffix(".log")
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "p2pdb",
                "start",
                "--data-dir",
                str(self.data_dir),
                "--mysql-port",
                "0",
                "--p2p-port",
                str(self.p2p_port),
                *_open_unless_told(self.args),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, **self.env},
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"node exited early ({self.process.poll()}): {seen}{self.log()}")
            seen += line
            if m := _MYSQL.search(line):
                self.mysql_port = int(m.group(1))
            if m := _P2P.search(line):
                self.p2p_address = m.group(1)
            if m := _HTTP.search(line):
                self.http_address = m.group(1)
            if line.startswith("data"):
                return self
        raise TimeoutError(f"node did not start in {timeout}s: {seen}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.mysql_port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=10,
            read_timeout=30,
            **kwargs,
        )

    def status(self) -> dict[str, Any]:
        """What ``p2pdb status --json`` says of this node (its data directory)."""
        result = subprocess.run(
            [sys.executable, "-m", "p2pdb", "status", "--data-dir", str(self.data_dir), "--json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def query(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        with contextlib.closing(self.connect(database)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise
        finally:
            if self.process.stdout:
                self.process.stdout.close()


@contextlib.contextmanager
def cluster(
    tmp: Path, count: int, *, chain: bool = False, extra: list[str] | None = None
) -> Iterator[list[NodeProcess]]:
    """``count`` nodes; each bootstraps from the first (or from the previous one with ``chain``)."""
    nodes: list[NodeProcess] = []
    try:
        for index in range(count):
            # "auto" stands for a fresh free port per node (e.g. ["--http-port", "auto"]).
            args = [str(free_port()) if arg == "auto" else arg for arg in extra or []]
            if nodes:
                seed = nodes[-1] if chain else nodes[0]
                args += ["--bootstrap", seed.p2p_address]
            nodes.append(NodeProcess(tmp / f"node{index}", args).start())
        yield nodes
    finally:
        codes = []
        for node in nodes:
            with contextlib.suppress(Exception):
                codes.append(node.stop())
        assert all(code == 0 for code in codes), f"unclean exits {codes}"


def wait_until(
    check: Callable[[], bool], timeout: float, what: str | Callable[[], str], interval: float = 0.1
) -> float:
    """Poll ``check`` until it is true; return the seconds it took (AssertionError on timeout).
    ``what`` names the wait; a callable is asked only on timeout (e.g. for a node's log then)."""
    start = time.monotonic()
    last: BaseException | None = None
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except Exception as exc:  # the database may not exist yet on that node
            last = exc
        time.sleep(interval)
    said = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout}s waiting for {said} (last error: {last})")


def table_hash(node: NodeProcess, database: str, table: str, order: str = "1") -> str:
    rows = node.query(f"SELECT * FROM `{table}` ORDER BY {order}", database)
    return repr(rows)


os.environ.setdefault("PYTHONUNBUFFERED", "1")


def _open_unless_told(args: list[str]) -> list[str]:
    """Replication tests write one database from every node: their databases are open (anyone
    writes) unless a test chooses its access rules (the ACL tests, docs/security.md)."""
    return [] if "--new-database-access" in args else ["--new-database-access", "open"]
