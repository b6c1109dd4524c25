"""One node per data directory, and every CLI failure is one clear line (issue 10, items 11, 12)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import apsw
import pymysql

from tests.integration.conftest import STOP_TIMEOUT, NodeProcess, p2pdb

if TYPE_CHECKING:
    from tests.integration.conftest import NodeFactory

_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def error_lines(stderr: str) -> list[str]:
    """stderr without log records."""
    return [line for line in stderr.splitlines() if line.strip() and not _LOG_RECORD.match(line)]


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def make_database(node: NodeProcess, name: str = "app", rows: int = 5) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            cur.execute(f"USE {name}")
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
            for i in range(rows):
                cur.execute("INSERT INTO t VALUES (%s, 'x')", (i,))
    finally:
        conn.close()


def test_a_second_node_on_a_data_directory_in_use_is_refused(start_node: NodeFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_node(data_dir=data)
    make_database(first)
    second = start_node(data_dir=data, wait=False)
    assert second.wait_exit() != 0
    lines = error_lines(second.stderr)
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert f"data directory {data} is in use by another p2pdb node (pid {first.proc.pid})" in lines[0]
    assert not any(line.startswith("mysql ") for line in second.lines)
    # the first node is untouched: it answers, and its status file is still there
    conn = pymysql.connect(host="127.0.0.1", port=first.port, user="root", database="app")
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchall() == ((5,),)
    assert first.status()["running"] is True


def test_a_lock_left_by_a_killed_node_does_not_block_a_restart(
    start_node: NodeFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = start_node(data_dir=data)
    make_database(first)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(STOP_TIMEOUT)
    assert (data / "lock").exists()  # stale: nobody holds the lock any more
    again = start_node(data_dir=data)
    conn = pymysql.connect(host="127.0.0.1", port=again.port, user="root", database="app")
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchall() == ((5,),)


def test_cli_failures_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert p2pdb("init", "--data-dir", str(data)).returncode == 0
    assert_one_line_failure(p2pdb("log", "--data-dir", str(data), "nosuch"), "no database 'nosuch'")
    assert_one_line_failure(p2pdb("verify", "--data-dir", str(data), "nosuch"), "no database 'nosuch'")
    missing = tmp_path / "missing"
    assert_one_line_failure(p2pdb("status", "--data-dir", str(missing)), "no node in")
    assert_one_line_failure(p2pdb("log", "--data-dir", str(missing), "x"), "no database 'x'")
    assert_one_line_failure(p2pdb("peers", "--data-dir", str(missing)), "no running node")
    (data / "identity.key").chmod(0o644)
    assert_one_line_failure(p2pdb("status", "--data-dir", str(data)), "identity.key", "chmod 600")
    (data / "identity.key").chmod(0o600)
    (data / "db").mkdir()
    (data / "db" / "junk.sqlite").write_bytes(b"this is not a database file" * 100)
    assert_one_line_failure(p2pdb("log", "--data-dir", str(data), "junk"), "cannot read a database file")
    assert_one_line_failure(p2pdb("verify", "--data-dir", str(data), "junk"), "cannot read a database file")


def test_start_failures_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert p2pdb("init", "--data-dir", str(data)).returncode == 0
    (data / "identity.key").chmod(0o640)
    node = NodeProcess(data)
    assert node.wait_exit() != 0
    line = assert_one_line_failure(
        subprocess.CompletedProcess(node.args, 1, "\n".join(node.lines), node.stderr), "chmod 600"
    )
    assert line.startswith("error: ")
    (data / "identity.key").chmod(0o600)
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    node = NodeProcess(blocked / "data")
    assert node.wait_exit() != 0
    assert_one_line_failure(subprocess.CompletedProcess(node.args, 1, "", node.stderr), "error: ")


def test_verify_reports_a_corrupt_block_as_bad(start_node: NodeFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = start_node(data_dir=data)
    make_database(node)
    assert node.stop() == 0
    clean = p2pdb("verify", "--data-dir", str(data), "app")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    conn = apsw.Connection(str(data / "db" / "app.sqlite"))
    (cid, block), *_ = list(conn.execute("SELECT cid, data FROM _p2pdb_blocks ORDER BY cid"))
    damaged = bytearray(block)
    damaged[len(damaged) // 2] ^= 0xFF
    conn.execute("UPDATE _p2pdb_blocks SET data = ? WHERE cid = ?", (bytes(damaged), cid))
    conn.close()
    result = p2pdb("verify", "--data-dir", str(data), "app")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    bad = [line for line in result.stdout.splitlines() if line.startswith("BAD ")]
    assert bad and any(line.count("\n") == 0 and "bafy" in line for line in bad), result.stdout
    assert re.search(r"^\d+ entries checked, [1-9]\d* bad$", result.stdout, re.M), result.stdout
    log = p2pdb("log", "--data-dir", str(data), "app")
    assert log.returncode == 0 or len(error_lines(log.stderr)) == 1, log.stderr
    assert "Traceback" not in log.stderr
    assert os.path.exists(data / "db" / "app.sqlite")
