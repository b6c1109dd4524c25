"""``p2pdb start`` / ``status`` / ``init`` as a user meets them (DESIGN §7)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mysql.connector
import pymysql
import pytest

from tests.integration.conftest import CLI_TIMEOUT, p2pdb

if TYPE_CHECKING:
    from tests.integration.conftest import NodeFactory, NodeProcess

_PEER_LINE = re.compile(r"^P2PDB \S+ peer (\S+)$")


def peer_id(node: NodeProcess) -> str:
    for line in node.lines:
        if match := _PEER_LINE.match(line):
            return match.group(1)
    raise AssertionError(f"no peer line in {node.lines}")


def connect(port: int, **kwargs: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host="127.0.0.1", port=port, user="root", autocommit=True, connect_timeout=10, **kwargs
    )


def query(port: int, sql: str, **kwargs: Any) -> list[tuple[Any, ...]]:
    conn = connect(port, **kwargs)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        conn.close()


def error_lines(stderr: str) -> list[str]:
    """stderr without the log records (``<date> <time> LEVEL logger: ...``)."""
    log_record = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
    return [line for line in stderr.splitlines() if line.strip() and not log_record.match(line)]


def test_mysql_port_in_use_is_a_one_line_error(start_node: NodeFactory) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        node = start_node("--mysql-port", str(port), wait=False)
        code = node.wait_exit()
    assert code != 0
    lines = error_lines(node.stderr)
    assert len(lines) == 1, node.stderr
    assert "--mysql-port" in lines[0] and str(port) in lines[0]
    assert "Traceback" not in node.stderr
    assert not any(line.startswith("mysql ") for line in node.lines)


def test_non_loopback_mysql_host_needs_a_root_password(start_node: NodeFactory) -> None:
    # refused before anything listens (a bug here would listen on 0.0.0.0 only for an instant)
    node = start_node("--mysql-host", "0.0.0.0", wait=False)
    code = node.wait_exit()
    assert code != 0
    lines = error_lines(node.stderr)
    assert len(lines) == 1, node.stderr
    assert "p2pdb init --password" in lines[0] and "0.0.0.0" in lines[0]
    assert not any(line.startswith("mysql ") for line in node.lines)


def test_identity_persists_with_mode_0600(start_node: NodeFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_node(data_dir=data_dir)
    key = data_dir / "identity.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o077 == 0  # the data directory is private too
    peer = peer_id(first)
    assert peer.startswith("12D3KooW")  # base58btc multihash of an Ed25519 key (libp2p)
    assert first.stop() == 0
    second = start_node(data_dir=data_dir)
    assert peer_id(second) == peer
    assert second.status()["peer_id"] == peer


def test_data_survives_a_restart(start_node: NodeFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_node(data_dir=data_dir)
    conn = connect(first.port)
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE keep")
        cursor.execute("USE keep")
        cursor.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10) UNIQUE)")
        cursor.execute("INSERT INTO t (v) VALUES ('a'), ('b')")
        cursor.execute("BEGIN")
        cursor.execute("UPDATE t SET v = 'c' WHERE v = 'b'")
        cursor.execute("COMMIT")
    conn.close()
    heads = next(d["heads"] for d in first.status()["databases"] if d["name"] == "keep")
    assert first.stop() == 0

    second = start_node(data_dir=data_dir)
    assert second.port != 0
    assert query(second.port, "SELECT v FROM t ORDER BY v", database="keep") == [("a",), ("c",)]
    assert next(d["heads"] for d in second.status()["databases"] if d["name"] == "keep") == heads
    # the unique key came back too
    with pytest.raises(pymysql.err.IntegrityError) as caught:
        query(second.port, "INSERT INTO t (v) VALUES ('a')", database="keep")
    assert caught.value.args[0] == 1062


def test_sigint_stops_cleanly(start_node: NodeFactory, tmp_path: Path) -> None:
    node = start_node()
    assert (tmp_path / "data" / "node.json").exists()
    query(node.port, "SELECT 1")
    idle = connect(node.port)  # an open idle connection must not keep the node alive
    try:
        assert node.stop(signal.SIGINT) == 0
    finally:
        idle.close()
    assert "Traceback" not in node.stderr
    assert not (tmp_path / "data" / "node.json").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", node.port), timeout=2).close()


def test_status_json(start_node: NodeFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    node = start_node(data_dir=data_dir)
    conn = connect(node.port)
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE shop")
        cursor.execute("CREATE TABLE shop.t (id INT PRIMARY KEY)")
        cursor.execute("INSERT INTO shop.t VALUES (1)")
    conn.close()

    status = node.status()
    assert status["peer_id"] == peer_id(node)
    assert status["running"] is True
    assert status["addresses"]["mysql"] == f"127.0.0.1:{node.port}"
    (shop,) = [d for d in status["databases"] if d["name"] == "shop"]
    assert len(shop["heads"]) == 1 and shop["heads"][0].startswith("b")  # CIDv1, base32
    assert shop["entries"] >= 2

    text = p2pdb("status", "--data-dir", str(data_dir))
    assert text.returncode == 0 and status["peer_id"] in text.stdout and "shop" in text.stdout
    assert "None" not in text.stdout and "http     off" in text.stdout  # no Python reprs (no HTTP port)

    assert node.stop() == 0
    stopped = json.loads(p2pdb("status", "--data-dir", str(data_dir), "--json").stdout)
    assert stopped["running"] is False and stopped["peer_id"] == status["peer_id"]
    assert [d["heads"] for d in stopped["databases"] if d["name"] == "shop"] == [shop["heads"]]

    missing = p2pdb("status", "--data-dir", str(tmp_path / "nothing"), "--json")
    assert missing.returncode != 0 and "p2pdb init" in missing.stderr


def init_password(data_dir: Path, password: str) -> subprocess.CompletedProcess[str]:
    # A new session has no controlling terminal, so the hidden prompt reads stdin, never /dev/tty.
    return subprocess.run(
        [sys.executable, "-m", "p2pdb", "init", "--data-dir", str(data_dir), "--password"],
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
        start_new_session=True,
    )


def test_root_password_from_init(start_node: NodeFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    initialised = init_password(data_dir, "s3cret-pä")
    assert initialised.returncode == 0, initialised.stderr
    assert "root password set" in initialised.stdout
    assert (data_dir / "identity.key").stat().st_mode & 0o777 == 0o600
    node = start_node(data_dir=data_dir)

    for password in ("", "wrong"):
        with pytest.raises(pymysql.err.OperationalError) as caught:
            connect(node.port, password=password)
        assert caught.value.args[0] == 1045
    assert query(node.port, "SELECT 1", password="s3cret-pä".encode()) == [(1,)]

    for plugin in ("mysql_native_password", "caching_sha2_password"):
        for attempt in range(2):  # caching_sha2: full authentication first, then the cached fast path
            conn = mysql.connector.connect(
                host="127.0.0.1",
                port=node.port,
                user="root",
                password="s3cret-pä",
                auth_plugin=plugin,
                connection_timeout=10,
            )
            try:
                cursor = conn.cursor()
                cursor.execute("SELECT %s", (f"{plugin}-{attempt}",))
                assert cursor.fetchall() == [(f"{plugin}-{attempt}",)]
            finally:
                conn.close()
        with pytest.raises(mysql.connector.Error) as refused:
            mysql.connector.connect(
                host="127.0.0.1", port=node.port, user="root", password="nope", auth_plugin=plugin
            )
        assert refused.value.errno == 1045
