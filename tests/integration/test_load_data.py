"""LOAD DATA LOCAL INFILE through real clients against ``p2pdb start`` (issue 11): PyMySQL, the
``mariadb`` CLI and mysql-connector upload a file; MySQL's field and line options are read; a bad row
loads nothing; a client that did not enable local files and a server-side LOAD DATA INFILE are refused
with MySQL's errors; the loaded rows replicate like any insert, also a file larger than one log
entry holds (its rows then go in several entries, docs/crdt.md)."""

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
CSV = 'id,name,price,note\n1,"Ann, the first",10.50,\\N\n2,Bob,"7",plain\n3,"Say ""hi""",0.1,"two\nlines"\n'
OPTIONS = "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' IGNORE 1 LINES"
EXPECTED = [
    (1, "Ann, the first", Decimal("10.50"), None),
    (2, "Bob", Decimal("7.00"), "plain"),
    (3, 'Say "hi"', Decimal("0.10"), "two\nlines"),
]


@pytest.fixture(scope="module")
def port(node: NodeProcess) -> Iterator[int]:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE loads")
    conn.close()
    yield node.port


def _connect(port: int, **extra: Any) -> Any:
    return pymysql.connect(
        host="127.0.0.1", port=port, user="root", database="loads", autocommit=True, **extra
    )


def _table(port: int, name: str) -> None:
    conn = _connect(port)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2), note TEXT)"
        )
    conn.close()


def _rows(port: int, name: str) -> list[tuple[Any, ...]]:
    conn = _connect(port)
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {name} ORDER BY id")
        rows = [tuple(r) for r in cur.fetchall()]
    conn.close()
    return rows


def test_pymysql_loads_a_csv_file(port: int, tmp_path: Path) -> None:
    _table(port, "by_pymysql")
    path = tmp_path / "items.csv"
    path.write_text(CSV)
    conn = _connect(port, local_infile=True)
    with conn.cursor() as cur:
        assert cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE by_pymysql {OPTIONS}") == 3
        cur.execute("SELECT 1")  # the connection goes on
        assert cur.fetchall() == ((1,),)
    assert _rows(port, "by_pymysql") == EXPECTED


def test_tab_separated_defaults_and_a_column_list(port: int, tmp_path: Path) -> None:
    _table(port, "tsv")
    path = tmp_path / "items.tsv"
    path.write_text("Ann\t1\twith\\ttab\nBob\t2\t\\N\n")
    conn = _connect(port, local_infile=True)
    with conn.cursor() as cur:
        cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE tsv (name, id, note)")
    assert _rows(port, "tsv") == [(1, "Ann", None, "with\ttab"), (2, "Bob", None, None)]


def test_a_bad_row_loads_nothing(port: int, tmp_path: Path) -> None:
    _table(port, "strict")
    path = tmp_path / "bad.csv"
    path.write_text("1,a,1.00,x\n2,b,not a number,y\n")
    conn = _connect(port, local_infile=True)
    with conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as caught:
        cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE strict FIELDS TERMINATED BY ','")
    assert caught.value.args[0] == 1366
    assert _rows(port, "strict") == []
    with conn.cursor() as cur:  # IGNORE and REPLACE are kept: duplicates are skipped or replace
        path.write_text("1,a,1.00,x\n1,dup,2.00,y\n")
        cur.execute(f"LOAD DATA LOCAL INFILE '{path}' IGNORE INTO TABLE strict FIELDS TERMINATED BY ','")
    assert _rows(port, "strict") == [(1, "a", Decimal("1.00"), "x")]


def test_refusals(port: int) -> None:
    _table(port, "refused")
    conn = _connect(port)  # local_infile not enabled by the client
    with conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute("LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE refused")
        assert caught.value.args[0] == 3948
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute("LOAD DATA INFILE '/etc/passwd' INTO TABLE refused")  # a file of the server
        assert caught.value.args[0] == 1290
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute("SELECT * FROM refused INTO OUTFILE '/tmp/p2pdb-outfile'")
        assert caught.value.args[0] == 1290
        cur.execute("SELECT COUNT(*) FROM refused")
        assert cur.fetchall() == ((0,),)


@pytest.mark.skipif(MARIADB is None, reason="mariadb CLI not installed (scripts/test installs it)")
def test_mariadb_cli_loads_with_local_infile(port: int, tmp_path: Path) -> None:
    _table(port, "by_cli")
    path = tmp_path / "items.csv"
    path.write_text(CSV)
    assert MARIADB is not None
    subprocess.run(
        [MARIADB, "-h127.0.0.1", f"-P{port}", "-uroot", "--skip-ssl", "--local-infile=1", "loads", "-e",
         f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE by_cli {OPTIONS}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert _rows(port, "by_cli") == EXPECTED


def test_mysql_connector_loads_many_rows(port: int, tmp_path: Path) -> None:
    _table(port, "many")
    path = tmp_path / "many.csv"
    path.write_text("".join(f"{i},name {i},{i}.25,\\N\n" for i in range(1, 5001)))
    conn = mysql.connector.connect(
        host="127.0.0.1", port=port, user="root", database="loads", autocommit=True, allow_local_infile=True
    )
    cur = conn.cursor()
    cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE many FIELDS TERMINATED BY ','")
    assert cur.rowcount == 5000
    cur.execute("SELECT COUNT(*), SUM(price), MAX(name) FROM many")
    assert cur.fetchall() == [(5000, Decimal("12503750.00"), "name 999")]
    conn.close()


def test_a_file_larger_than_one_entry_loads_at_once_and_replicates(tmp_path: Path) -> None:
    # 30,000 rows, 6.4 MB: more than a 4 MiB log entry holds
    lines = "".join(f"{i},name {i:06d},{i}.50,{'n' * 180}\n" for i in range(1, 30_001))
    path = tmp_path / "big.csv"
    path.write_text(lines)
    assert path.stat().st_size > 6_000_000
    with cluster(tmp_path, 2) as (a, b):
        conn = pymysql.connect(
            host="127.0.0.1", port=a.mysql_port, user="root", autocommit=True, local_infile=True
        )
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE bulk")
            cur.execute("USE bulk")
            cur.execute(
                "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(8,2), note TEXT)"
            )
            # a bad row at the very end: the whole file is refused, nothing of it is kept
            bad = tmp_path / "bad.csv"
            bad.write_text(lines + "30001,last,not a number,x\n")
            with pytest.raises(pymysql.err.MySQLError) as caught:
                cur.execute(f"LOAD DATA LOCAL INFILE '{bad}' INTO TABLE items FIELDS TERMINATED BY ','")
            assert caught.value.args[0] == 1366
            cur.execute("SELECT COUNT(*) FROM items")
            assert cur.fetchall() == ((0,),)
            assert (
                cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE items FIELDS TERMINATED BY ','")
                == 30_000
            )
            cur.execute("SELECT COUNT(*), SUM(price), MAX(name) FROM items")
            expected = cur.fetchall()
        conn.close()
        assert expected == ((30_000, Decimal("450030000.00"), "name 030000"),)

        def replicated() -> bool:
            rows = b.query("SELECT COUNT(*), SUM(price), MAX(name) FROM items", "bulk")
            return bool(tuple(tuple(r) for r in rows) == expected)

        wait_until(replicated, 120, lambda: f"node b has {b.query('SELECT COUNT(*) FROM items', 'bulk')}")
