"""Exact numbers through real MySQL clients against ``p2pdb start``: DECIMAL values as NEWDECIMAL
(PyMySQL and mysql-connector return ``decimal.Decimal``, in the text and the binary protocol), error
1264 for out-of-range values, 64-bit system variables, what the ``mariadb`` CLI prints, and a DECIMAL
value written on one node read on another."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mysql.connector
import pymysql
import pytest

from tests.integration.cluster import cluster, wait_until

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

MARIADB = shutil.which("mariadb")
TIMEOUT = 60


@pytest.fixture(scope="module")
def shop(node: NodeProcess) -> Iterator[int]:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE numbers")
        cur.execute("USE numbers")
        cur.execute("CREATE TABLE prices (id INT PRIMARY KEY, price DECIMAL(12,2), qty INT UNSIGNED)")
        values = ", ".join(f"({i}, 0.10, {i})" for i in range(1, 11))
        cur.execute(f"INSERT INTO prices VALUES {values}")
    conn.close()
    yield node.port


def _pymysql(port: int) -> Any:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", database="numbers", autocommit=True)


def _connector(port: int) -> Any:
    return mysql.connector.connect(
        host="127.0.0.1", port=port, user="root", database="numbers", autocommit=True, use_pure=True
    )


def test_pymysql_reads_decimal_values(shop: int) -> None:
    conn = _pymysql(shop)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 0.1 + 0.2, SUM(price), AVG(price), price FROM prices WHERE id < 4 GROUP BY id = 0"
        )
        row = cur.fetchone()
        assert row == (Decimal("0.3"), Decimal("0.30"), Decimal("0.100000"), Decimal("0.10"))
        assert [d[1] for d in cur.description] == [246] * 4  # NEWDECIMAL
        cur.execute("SELECT SUM(price) FROM prices")
        assert cur.fetchone() == (Decimal("1.00"),)
        cur.execute("INSERT INTO prices VALUES (%s, %s, %s)", (100, Decimal("2.675"), 1))
        cur.execute("SELECT price FROM prices WHERE id = 100")
        assert cur.fetchone() == (Decimal("2.68"),)
        cur.execute("DELETE FROM prices WHERE id = 100")
    conn.close()


@pytest.mark.parametrize("prepared", [False, True], ids=["text", "prepared"])
def test_connector_reads_decimal_values(shop: int, prepared: bool) -> None:
    conn = _connector(shop)
    cur = conn.cursor(prepared=prepared)
    cur.execute("SELECT SUM(price), price * qty, 0.1 + 0.2 FROM prices WHERE id = %s GROUP BY id", (3,))
    assert cur.fetchall() == [(Decimal("0.10"), Decimal("0.30"), Decimal("0.3"))]
    cur.execute("SELECT price FROM prices WHERE price = %s ORDER BY id LIMIT 1", (Decimal("0.10"),))
    assert cur.fetchall() == [(Decimal("0.10"),)]
    cur.close()
    conn.close()


@pytest.mark.parametrize("driver", ["pymysql", "connector-prepared"])
def test_out_of_range_is_error_1264(shop: int, driver: str) -> None:
    conn = _pymysql(shop) if driver == "pymysql" else _connector(shop)
    cur = conn.cursor(prepared=True) if driver != "pymysql" else conn.cursor()
    errors = (pymysql.MySQLError, mysql.connector.Error)
    for params in ((200, Decimal("10000000000.00"), 1), (200, Decimal("1.00"), -1), (200, 1, 4294967296)):
        with pytest.raises(errors) as caught:
            cur.execute("INSERT INTO prices VALUES (%s, %s, %s)", params)
        code = caught.value.args[0] if driver == "pymysql" else caught.value.errno  # type: ignore[union-attr]
        assert code == 1264
        assert "Out of range value for column" in str(caught.value)
    cur.execute("SELECT COUNT(*) FROM prices WHERE id = 200")
    assert cur.fetchall() in ([(0,)], ((0,),))
    cur.close()
    conn.close()


@pytest.mark.parametrize("driver", ["pymysql", "connector", "connector-prepared"])
def test_bigint_unsigned_whole_range(shop: int, driver: str) -> None:
    conn = _pymysql(shop) if driver == "pymysql" else _connector(shop)
    cur = conn.cursor(prepared=True) if driver == "connector-prepared" else conn.cursor()
    table = f"big_{driver.replace('-', '_')}"
    cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v BIGINT UNSIGNED)")
    top = 18446744073709551615
    cur.execute(f"INSERT INTO {table} VALUES (%s, %s), (%s, %s), (%s, %s)", (1, top, 2, 2**63, 3, 7))
    cur.execute(f"SELECT id, v FROM {table} WHERE v >= %s ORDER BY v", (7,))
    assert [tuple(r) for r in cur.fetchall()] == [(3, 7), (2, 2**63), (1, top)]
    cur.execute(f"SELECT id FROM {table} WHERE v = %s", (top,))
    assert [tuple(r) for r in cur.fetchall()] == [(1,)]
    cur.close()
    conn.close()


def test_64_bit_system_variable(shop: int) -> None:
    conn = _pymysql(shop)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_select_limit = 18446744073709551615")
        cur.execute("SELECT @@sql_select_limit")
        assert int(cur.fetchone()[0]) == 18446744073709551615
        cur.execute("SET sql_select_limit = 2")
        cur.execute("SELECT id FROM prices")
        assert len(cur.fetchall()) == 2
    conn.close()


@pytest.mark.skipif(
    MARIADB is None, reason="the mariadb CLI is not installed (apt-get install mariadb-client)"
)
def test_mariadb_cli_prints_exact_values(shop: int) -> None:
    assert MARIADB is not None
    result = subprocess.run(
        [MARIADB, "-h", "127.0.0.1", "-P", str(shop), "-u", "root", "numbers", "-e",
         "SELECT 0.1 + 0.2 AS a, SUM(price) AS s, AVG(price) AS m, 1/3 AS d FROM prices"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a\ts\tm\td\n0.3\t1.00\t0.100000\t0.3333\n"


def test_decimal_written_on_one_node_reads_identically_on_another(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as (a, b):
        a.query("CREATE DATABASE ledger")
        a.query("CREATE TABLE entries (id INT PRIMARY KEY, amount DECIMAL(15,4))", "ledger")
        a.query(
            "INSERT INTO entries VALUES (1, 0.1), (2, 0.2), (3, 12345678901.00005), (4, -0.00005)", "ledger"
        )
        wait_until(lambda: len(b.query("SELECT * FROM entries", "ledger")) == 4, 20, "rows on b")
        sql = "SELECT id, amount FROM entries ORDER BY id"
        expected = [
            (1, Decimal("0.1000")),
            (2, Decimal("0.2000")),
            (3, Decimal("12345678901.0001")),
            (4, Decimal("-0.0001")),
        ]
        assert a.query(sql, "ledger") == b.query(sql, "ledger") == expected
        total = "SELECT SUM(amount) FROM entries"
        assert a.query(total, "ledger") == b.query(total, "ledger") == [(Decimal("12345678901.3000"),)]
