"""Real ``p2pdb start`` processes on 127.0.0.1 for integration tests (DESIGN §8).

``NodeProcess`` runs ``python -m p2pdb start --mysql-port 0 --p2p-port 0`` (never a fixed port) in a
temporary data directory, reads the port from the ``mysql  127.0.0.1:<port>`` line the node prints once
it listens, and waits (bounded) until the port accepts connections. Stopping sends SIGTERM (or SIGINT)
and waits, bounded, for the exit code. The ``node`` fixture is module-scoped (tests use their own
database names); ``start_node`` starts throwaway nodes for tests about start-up, restarts and signals,
and stops them at teardown (asserting exit code 0).
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
CLI_TIMEOUT = 30.0
_MYSQL_LINE = re.compile(r"^mysql\s+(\S+):(\d+)\s")


def p2pdb(
    *args: str, stdin: str | None = None, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a ``p2pdb`` subcommand to completion (bounded) and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "p2pdb", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class NodeProcess:
    """One ``p2pdb start`` subprocess; its stdout is drained by a thread into ``lines``."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.args = [sys.executable, "-m", "p2pdb", "start", "--data-dir", str(data_dir), *extra]
        for flag in ("--mysql-port", "--p2p-port"):  # never a fixed port
            if flag not in extra:
                self.args += [flag, "0"]
        if "--new-database-access" not in extra:  # replication tests: every node writes (docs/security.md)
            self.args += ["--new-database-access", "open"]
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.stderr = ""
        self._readers = [
            threading.Thread(target=self._drain_stdout, daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port = 0

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        tail: collections.deque[str] = collections.deque(maxlen=500)
        for line in self.proc.stderr:
            tail.append(line)
            self.stderr = "".join(tail)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> NodeProcess:
        """Wait for the ``mysql`` line, then until the port accepts a TCP connection."""
        deadline = time.monotonic() + timeout
        while not self.port:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                pytest.fail(f"p2pdb start printed no mysql address within {timeout} s\n{self.stderr}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=STOP_TIMEOUT)
                self._close_pipes()
                pytest.fail(f"p2pdb start exited with {code} before listening\n{self.stderr}")
            match = _MYSQL_LINE.match(line)
            if match:
                self.port = int(match.group(2))
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    pytest.fail(f"port {self.port} did not accept connections within {timeout} s")
                time.sleep(0.05)

    def wait_exit(self, timeout: float = START_TIMEOUT) -> int:
        """Wait for a process expected to exit by itself (e.g. a refused start); return its code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"p2pdb start did not exit within {timeout} s")
        self._close_pipes()
        return code

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` and wait (bounded) for the exit code; kill and fail on a timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"p2pdb start did not stop within {timeout} s of {sig.name}\n{self.stderr}")
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        """After the exit: let the readers take the last output, then close the pipes."""
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_pipes()

    def status(self) -> dict[str, Any]:
        result = p2pdb("status", "--data-dir", str(self.data_dir), "--json")
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data


NodeFactory = Callable[..., NodeProcess]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node for a whole test module; tests keep to their own database names."""
    proc = NodeProcess(tmp_path_factory.mktemp("node") / "data").wait_ready()
    yield proc
    code = proc.stop()
    assert code == 0, f"p2pdb start exited with {code} on SIGTERM\n{proc.stderr}"


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[NodeFactory]:
    """Start nodes (``start_node(data_dir=None, *args, wait=True)``); any still running are stopped."""
    started: list[NodeProcess] = []

    def start(*extra: str, data_dir: Path | None = None, wait: bool = True) -> NodeProcess:
        proc = NodeProcess(data_dir or tmp_path / "data", *extra)
        started.append(proc)
        return proc.wait_ready() if wait else proc

    yield start
    failures: list[str] = []
    for proc in started:
        if proc.proc.poll() is None:
            code = proc.stop()
            if code != 0:
                failures.append(f"exit code {code} on SIGTERM\n{proc.stderr}")
    assert not failures, failures
