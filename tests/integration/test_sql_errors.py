"""Every failure a client sees is a MySQL error code and message, never SQLite's or Python's text
(issue 11, item 6), and the connection stays usable after it."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

LEAKS = re.compile(
    r"sqlite|apsw|sqlglot|Traceback|Error:|Exception|TypeError|ValueError|KeyError|AttributeError"
    r"|IndexError|Parse ?Error|\x1b\[|:p\d|:g\d|:u\d",
    re.IGNORECASE,
)

BAD = [
    "SELECT nosuch FROM t",
    "SELECT * FROM nosuch",
    "INSERT INTO t (nosuch) VALUES (1)",
    "INSERT INTO t VALUES (1)",
    "INSERT INTO t VALUES (1, 'a'), (1, 'b')",
    "INSERT INTO t VALUES (NULL, 'a')",
    "SELEC 1",
    "SELECT FROM",
    "SELECT * FROM t WHERE (",
    "SELECT 'unterminated",
    "SELECT nosuch_function(1)",
    "SELECT SUBSTRING()",
    "CREATE TABLE t (id INT PRIMARY KEY)",
    "DROP TABLE nosuch",
    "ALTER TABLE nosuch ADD COLUMN c INT",
    "CREATE INDEX i ON nosuch (c)",
    "SELECT * FROM t UNION SELECT 1",
    "UPDATE t SET nosuch = 1",
    "DELETE FROM nosuch",
    "USE nosuch",
    "SHOW COLUMNS FROM nosuch",
    "INSERT INTO t VALUES (2, REPEAT('x', 100))",
    "SET @@nosuch_variable = 1",
    "SELECT 1 +",
    "SELECT 5 5",
    "SELECT id FROM t p1, t p2",
    "SELECT v FROM t WHERE v = 'a' 3",
    "SELECT @a @b",
    "UPDATE t SET v = DEFAULT(nosuch)",
    "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END",
    "CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.v = 'x'; END",
]


@pytest.mark.parametrize("sql", BAD)
def test_failures_are_mysql_errors(node: NodeProcess, sql: str) -> None:
    with (
        contextlib.closing(
            pymysql.connect(host="127.0.0.1", port=node.port, user="root", autocommit=True)
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("CREATE DATABASE IF NOT EXISTS errs")
        cur.execute("USE errs")
        cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL)")
        with pytest.raises(pymysql.err.MySQLError) as caught:
            cur.execute(sql)
        code, message = caught.value.args[0], str(caught.value.args[1])
        assert 1000 <= code < 4000 and code != 1105, (sql, code, message)
        assert not LEAKS.search(message), (sql, code, message)
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
