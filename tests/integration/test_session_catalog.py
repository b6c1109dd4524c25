"""Session and catalog statements of issue 11 (items 8 and 10) through real drivers on a real node:
transactions as mysql-connector starts them, SQL-level PREPARE/EXECUTE, multi-table UPDATE/DELETE,
SHOW PLUGINS/ENGINES/PRIVILEGES/WARNINGS, information_schema and the GUI tools' catalog queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import mysql.connector
import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess


@pytest.fixture(scope="module")
def db(node: NodeProcess) -> str:
    conn = pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS sessioncat")
    conn.close()
    return "sessioncat"


@pytest.fixture
def conn(node: NodeProcess, db: str) -> Iterator[pymysql.Connection[Any]]:
    c = pymysql.connect(host="127.0.0.1", port=node.port, user="root", database=db, autocommit=True)
    yield c
    c.close()


def query(conn: pymysql.Connection[Any], sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def test_connector_start_transaction_with_autocommit_off(node: NodeProcess, db: str) -> None:
    c = mysql.connector.connect(
        host="127.0.0.1", port=node.port, user="root", database=db, autocommit=False, use_pure=True
    )
    try:
        cur = c.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS st (id INT PRIMARY KEY, v VARCHAR(10))")
        assert not c.in_transaction  # autocommit off alone opens no transaction (MySQL)
        c.start_transaction()
        cur.execute("INSERT INTO st VALUES (1, 'a')")
        assert c.in_transaction
        c.rollback()
        c.start_transaction(isolation_level="READ COMMITTED")
        cur.execute("INSERT INTO st VALUES (2, 'b')")
        c.commit()
        cur.execute("SELECT id FROM st")
        assert cur.fetchall() == [(2,)]
        assert c.in_transaction  # with autocommit off, that SELECT opened the next transaction
        c.commit()
        assert not c.in_transaction
    finally:
        c.close()
