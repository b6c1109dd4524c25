"""The Debian ``mariadb`` command-line client and ``sysbench``, unmodified, against ``p2pdb start``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

MARIADB = shutil.which("mariadb")
SYSBENCH = shutil.which("sysbench")
TIMEOUT = 60

SCRIPT = """\
-- a script as people pipe it into the CLI
CREATE DATABASE cli_shop;
USE cli_shop;
CREATE TABLE products (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(40) NOT NULL,
  price DECIMAL(8,2),
  note TEXT
);
INSERT INTO products (name, price, note) VALUES ('tea', 3.50, 'green; loose'), ('cup', 12, NULL);
INSERT INTO products (name, price, note) VALUES ('it''s "quoted"', 0.99, 'tab\\there');
UPDATE products SET price = price * 2 WHERE name = 'cup';
SELECT name, price, note FROM products ORDER BY name;
SELECT COUNT(*) AS n, SUM(price) AS total FROM products;
SHOW TABLES;
SHOW COLUMNS FROM products;
"""

EXPECTED = """\
name\tprice\tnote
cup\t24.00\tNULL
it's "quoted"\t0.99\ttab\\there
tea\t3.50\tgreen; loose
n\ttotal
3\t28.49
Tables_in_cli_shop
products
Field\tType\tNull\tKey\tDefault\tExtra
id\tint\tNO\tPRI\tNULL\tauto_increment
name\tvarchar(40)\tNO\t\tNULL\t
price\tdecimal(8,2)\tYES\t\tNULL\t
note\ttext\tYES\t\tNULL\t
"""


def mariadb(port: int, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert MARIADB is not None
    command = [MARIADB, "-h", "127.0.0.1", "-P", str(port), "-u", "root", "--connect-timeout=10", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.mark.skipif(
    MARIADB is None, reason="the mariadb CLI is not installed (apt-get install mariadb-client)"
)
def test_mariadb_cli_runs_a_script(node: NodeProcess, tmp_path: Path) -> None:
    script = tmp_path / "script.sql"
    script.write_text(SCRIPT)
    with script.open() as stdin:  # mariadb -h ... -u root < script.sql
        result = subprocess.run(
            [MARIADB or "mariadb", "-h", "127.0.0.1", "-P", str(node.port), "-u", "root"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == EXPECTED


@pytest.mark.skipif(
    MARIADB is None, reason="the mariadb CLI is not installed (apt-get install mariadb-client)"
)
def test_mariadb_cli_errors_and_batch_options(node: NodeProcess) -> None:
    created = mariadb(
        node.port, "-e", "CREATE DATABASE cli_errors; CREATE TABLE cli_errors.t (id INT PRIMARY KEY)"
    )
    assert created.returncode == 0, created.stderr
    missing = mariadb(node.port, "cli_errors", "-e", "SELECT * FROM nope")
    assert missing.returncode == 1
    assert "ERROR 1146 (42S02)" in missing.stderr and "cli_errors.nope" in missing.stderr
    # --force goes on after an error, -N drops headers, -B keeps tab-separated output
    forced = mariadb(
        node.port, "--force", "-N", "-B", "cli_errors",
        stdin="INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);\nSELECT id, 'after' FROM t;\n",
    )  # fmt: skip
    assert forced.returncode == 0  # the mariadb client's --force exit code, as against MariaDB
    assert "ERROR 1062 (23000) at line 2" in forced.stderr
    assert forced.stdout == "1\tafter\n"


def sysbench(port: int, test: str, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert SYSBENCH is not None
    cmd = [
        SYSBENCH, test, "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}",
        "--mysql-user=root", "--mysql-password=", "--mysql-db=sbtest", "--tables=1", "--table-size=1000",
        "--mysql-ignore-errors=1213", *args, command,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.mark.skipif(SYSBENCH is None, reason="sysbench is not installed (apt-get install sysbench)")
def test_sysbench_oltp_read_write(node: NodeProcess) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE sbtest")
    conn.close()

    prepared = sysbench(node.port, "oltp_read_write", "prepare")
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    run = sysbench(node.port, "oltp_read_write", "run", "--time=3", "--threads=2", "--report-interval=0")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "FATAL" not in output
    transactions = re.search(r"transactions:\s+(\d+)", output)
    assert transactions and int(transactions.group(1)) > 0, output
    # only 1213 (deadlock: the client retries) may be ignored; any other error is FATAL above
    ignored = re.search(r"ignored errors:\s+(\d+)", output)
    assert ignored is not None, output

    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", database="sbtest")
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM sbtest1")
        (count,) = cursor.fetchone() or (0,)
    conn.close()
    # oltp_read_write deletes and re-inserts ids in 1..table-size; prepare let AUTO_INCREMENT choose
    # the ids, and P2PDB's step of 1024 (docs/architecture.md) leaves most of that range free, so the
    # table grows (with MySQL's auto_increment_increment = 1024 it would too)
    assert count >= 1000

    cleaned = sysbench(node.port, "oltp_read_write", "cleanup")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", database="sbtest")
    with conn.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == ()
    conn.close()
