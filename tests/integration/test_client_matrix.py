"""The CRUD script through every client: Python, Node, PHP, Java, Go and Ruby drivers (issue 11).

One node for the module; each client runs the script of ``tests/clients/<lang>/`` (see its README)
once, in a database of its own, and prints one JSON record per check. Each (client, check) pair is a
test here, asserting on that record, so the pass count is the matrix. A client whose toolchain is
not installed is skipped with the reason (``scripts/test`` installs them all).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.clients.python import crud as python_crud

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

CLIENTS_DIR = Path(__file__).resolve().parents[1] / "clients"
GOPATH = "/usr/share/gocode"
CONNECTOR_J = "/usr/share/java/mariadb-java-client.jar"
RUN_TIMEOUT = 180.0  # the first Go and Java runs compile

NAME_A = 'it\'s "quoted" \\ ünïcödé ✓ 🎉'
BODY_A = "line 1\nline 2: 100% _wild_; back\\slash"
DOC_A = {"a": [1, 2.5, None], "b": "ü"}
BLOB_A = bytes(range(256)).hex()
CHECKS = [
    "connect", "create", "insert", "insert_null", "select", "select_null",
    "update", "delete", "rollback", "commit", "prepared", "error",
]  # fmt: skip


@dataclass(frozen=True)
class External:
    """A script run as a subprocess: ``argv + [host, port, database]``."""

    argv: list[str]
    env: dict[str, str]
    needs: Callable[[], str | None]  # the reason the toolchain is missing, or None


def _which(*tools: str) -> str | None:
    missing = [t for t in tools if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed (scripts/test installs it)" if missing else None


def _path(path: Path | str, what: str) -> str | None:
    return None if Path(path).exists() else f"{what} not installed ({path} missing; scripts/test installs it)"


def _probe(argv: list[str], what: str) -> str | None:
    if (reason := _which(argv[0])) is not None:
        return reason
    done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    return None if done.returncode == 0 else f"{what} not installed (scripts/test installs it)"


def _php(extension: str) -> Callable[[], str | None]:
    return lambda: _probe(
        ["php", "-r", f"exit(extension_loaded('{extension}') ? 0 : 1);"], f"php {extension}"
    )


EXTERNAL: dict[str, External] = {
    "node-mysql2": External(
        ["node", str(CLIENTS_DIR / "node" / "crud.js")],
        {},
        lambda: _which("node") or _path(CLIENTS_DIR / "node" / "node_modules" / "mysql2", "npm mysql2"),
    ),
    "php-pdo": External(["php", str(CLIENTS_DIR / "php" / "pdo.php")], {}, _php("pdo_mysql")),
    "php-mysqli": External(["php", str(CLIENTS_DIR / "php" / "mysqli.php")], {}, _php("mysqli")),
    "java-connectorj": External(
        ["java", "-cp", CONNECTOR_J, str(CLIENTS_DIR / "java" / "Crud.java")],
        {},
        lambda: _which("java", "javac") or _path(CONNECTOR_J, "MariaDB Connector/J (libmariadb-java)"),
    ),
    "go-sql-driver": External(
        ["go", "run", str(CLIENTS_DIR / "go" / "crud.go")],
        {"GOPATH": GOPATH, "GO111MODULE": "off", "GOFLAGS": ""},
        lambda: (
            _which("go")
            or _path(f"{GOPATH}/src/github.com/go-sql-driver/mysql", "golang-github-go-sql-driver-mysql-dev")
        ),
    ),
    "ruby-mysql2": External(
        ["ruby", str(CLIENTS_DIR / "ruby" / "crud.rb")],
        {},
        lambda: _probe(["ruby", "-e", "require 'mysql2'"], "ruby-mysql2"),
    ),
}
PYTHON = {"pymysql": "pymysql", "mysql-connector": "connector", "mysql-connector-prepared": "connector-prepared",
          "aiomysql": "aiomysql"}  # fmt: skip
CLIENTS = [*PYTHON, *EXTERNAL]


def _run_external(client: str, node: NodeProcess, database: str) -> list[dict[str, Any]]:
    spec = EXTERNAL[client]
    if (reason := spec.needs()) is not None:
        pytest.skip(reason)
    done = subprocess.run(
        [*spec.argv, "127.0.0.1", str(node.port), database],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        env={**os.environ, **spec.env},
        cwd=CLIENTS_DIR,
    )
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert records, f"{client} printed no records (exit {done.returncode})\n{done.stdout}\n{done.stderr}"
    return records


class Matrix:
    """Runs each client once (on first use) and keeps its records by check."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.results: dict[str, dict[str, dict[str, Any]] | str] = {}

    def record(self, client: str, check: str) -> dict[str, Any]:
        if client not in self.results:
            database = "matrix_" + client.replace("-", "_")
            admin = python_crud.Client("pymysql", self.node.port, None)
            try:
                admin.execute(f"CREATE DATABASE `{database}`")
            finally:
                admin.close()
            try:
                if client in PYTHON:
                    records = list(python_crud.crud(PYTHON[client], self.node.port, database))
                else:
                    records = _run_external(client, self.node, database)
            except pytest.skip.Exception as skipped:
                self.results[client] = str(skipped.msg)
                raise
            self.results[client] = {r["check"]: r for r in records}
        result = self.results[client]
        if isinstance(result, str):
            pytest.skip(result)
        assert check in result, f"{client} stopped before {check!r}: {sorted(result)}"
        return result[check]


@pytest.fixture(scope="module")
def matrix(node: NodeProcess) -> Matrix:
    return Matrix(node)


def _value(matrix: Matrix, client: str, check: str) -> Any:
    record = matrix.record(client, check)
    assert "error" not in record, f"{client} {check}: {record['error']}"
    return record["value"]


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _assert_check(matrix: Matrix, client: str, check: str) -> None:
    value = _value(matrix, client, check)
    if check == "connect":
        assert value == 42
    elif check == "create":
        assert value is True
    elif check == "insert":
        assert value["affected"] == 1 and isinstance(value["id"], int) and value["id"] > 0, value
    elif check == "insert_null":
        first = _value(matrix, client, "insert")["id"]
        assert value == {"affected": 1, "id": first + 1, "last_insert_id": first + 1}
    elif check == "select":
        ident, name, body, price, created, active, doc, data = value
        assert ident == _value(matrix, client, "insert")["id"]
        assert (name, body) == (NAME_A, BODY_A)
        assert _decimal(price) == Decimal("12345.67")
        assert (created, active) == ("2024-02-29 23:59:58", 1)
        assert _doc(doc) == DOC_A
        assert data == BLOB_A
    elif check == "select_null":
        assert value == [_value(matrix, client, "insert_null")["id"], "second", *[None] * 6]
    elif check == "update":
        assert value == {"affected": 2, "bodies": ["updated", "updated"]}
    elif check == "delete":
        assert value == {"affected": 1, "count": 1}
    elif check == "rollback":
        assert value == {"inside": 2, "after": 1}
    elif check == "commit":
        assert value == {"after": 2}
    elif check == "prepared":
        assert value["affected"] == [1, 1, 1]
        rows = [[name, _decimal(price), active, data] for name, price, active, data in value["rows"]]
        assert rows == [
            ["p1", Decimal("1.10"), 1, "0001"],
            ["p2", Decimal("2.20"), 0, b"'\\\"".hex()],
            ["p3", None, 1, None],
        ]
    elif check == "error":
        assert value == {"code": 1062, "after": 1}
    else:  # pragma: no cover - CHECKS and this function go together
        raise AssertionError(check)


def _cases() -> list[Any]:
    return [pytest.param(client, check, id=f"{client}-{check}") for client in CLIENTS for check in CHECKS]


@pytest.mark.parametrize(("client", "check"), _cases())
def test_crud(matrix: Matrix, client: str, check: str) -> None:
    _assert_check(matrix, client, check)
