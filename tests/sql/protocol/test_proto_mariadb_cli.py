"""The ``mariadb`` command-line client (MariaDB Connector/C) against the server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ServerThread

MARIADB = shutil.which("mariadb")
pytestmark = pytest.mark.skipif(
    MARIADB is None, reason="the mariadb CLI is not installed (apt mariadb-client)"
)


def run(port: int, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert MARIADB is not None
    cmd = [MARIADB, "-h127.0.0.1", f"-P{port}", "--protocol=tcp", "--connect-timeout=5", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20, check=False)


def test_batch_query_with_nulls(server: ServerThread) -> None:
    p = run(server.port, "-uroot", "-N", "-e", "select 1, 'a', null, 2.5")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "1\ta\tNULL\t2.5\n"


def test_error_code_and_sqlstate(server: ServerThread) -> None:
    p = run(server.port, "-uroot", "test", "-e", "select * from missing")
    assert p.returncode == 1
    assert "ERROR 1146 (42S02)" in p.stderr and "Table 'test.missing' doesn't exist" in p.stderr


def test_script_from_stdin(server: ServerThread) -> None:
    script = (
        "create table t (a integer, b text);\n"
        "insert into t values (1, 'one'), (2, NULL);\n"
        "select a, b from t order by a;\n"
        "show tables;\n"
    )
    p = run(server.port, "-uroot", "test", stdin=script)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "a\tb\n1\tone\n2\tNULL\nTables_in_test\nt\n"


def test_native_password_user(server: ServerThread) -> None:
    p = run(server.port, "-unative", "-psecret", "-N", "-e", "select 7")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "7\n"
    p = run(server.port, "-unative", "-pwrong", "-e", "select 7")
    assert p.returncode == 1 and "ERROR 1045 (28000)" in p.stderr


def test_caching_sha2_over_tls(server: ServerThread, tls_files: tuple[Path, Path]) -> None:
    server.run(lambda: server.backend.add_user("cli_sha2", "cli-pw"))
    server.clear_sha2_cache()
    ssl_args = ["--ssl", f"--ssl-ca={tls_files[0]}"]
    p = run(server.port, "-ucli_sha2", "-pcli-pw", *ssl_args, "-N", "-e", "select 8")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "8\n"
    # Now cached: a plain connection passes with the scramble alone.
    p = run(server.port, "-ucli_sha2", "-pcli-pw", "--skip-ssl", "-N", "-e", "select 9")
    assert p.returncode == 0, p.stderr


def test_unknown_database(server: ServerThread) -> None:
    p = run(server.port, "-uroot", "nodb", "-e", "select 1")
    assert p.returncode == 1 and "ERROR 1049 (42000)" in p.stderr
