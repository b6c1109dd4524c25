"""Long operations show progress: ``p2pdb verify`` draws its bars on a terminal (stderr; stdout keeps
the results), and a node catching up a large log says how far it is in its log."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.integration.cluster import NodeProcess, wait_until


def on_a_terminal(*args: str) -> str:
    """What a command prints on a terminal (a pseudo-terminal: stdout and stderr together)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the terminal
        os.execvp(sys.executable, [sys.executable, *args])
    data = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(fd, 65536):
            data += chunk
    os.waitpid(pid, 0)
    return data.decode("utf-8", "replace")


def test_verify_shows_its_progress_on_a_terminal_and_keeps_stdout_clean(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "n").start()
    try:
        node.query("CREATE DATABASE v")
        node.query("CREATE TABLE t (id INT PRIMARY KEY)", "v")
        for i in range(20):
            node.query(f"INSERT INTO t VALUES ({i})", "v")
    finally:
        assert node.stop() == 0
    shown = on_a_terminal("-m", "p2pdb", "verify", "--data-dir", str(node.data_dir), "v")
    assert "checking entries" in shown and "replaying the log" in shown and "100%" in shown
    assert "22 entries checked, 0 bad" in shown
    piped = subprocess.run(
        [sys.executable, "-m", "p2pdb", "verify", "--data-dir", str(node.data_dir), "v"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert piped.returncode == 0
    assert piped.stdout.splitlines()[0] == "22 entries checked, 0 bad" and "%" not in piped.stdout


def test_a_node_catching_up_a_large_log_reports_its_progress(tmp_path: Path) -> None:
    seed = NodeProcess(tmp_path / "seed").start()
    late = None
    try:
        seed.query("CREATE DATABASE big")
        seed.query("CREATE TABLE t (id INT PRIMARY KEY)", "big")
        with contextlib.closing(seed.connect("big")) as conn, conn.cursor() as cur:
            for i in range(2500):  # one entry each
                cur.execute("INSERT INTO t VALUES (%s)", (i,))
        late = NodeProcess(tmp_path / "late", ["--bootstrap", seed.p2p_address]).start()
        wait_until(lambda: late.query("SHOW DATABASES LIKE 'big'") != [] and
                   late.query("SELECT count(*) FROM t", "big") == [(2500,)], 60, "the catch-up")  # fmt: skip
        wait_until(lambda: "catching up big:" in late.log(), 10, "a progress line in the log")
        line = next(x for x in late.log().splitlines() if "catching up big:" in x)
        assert "entries (+" in line and "/s)" in line and "missing" in line
    finally:
        if late is not None:
            late.stop()
        seed.stop()
