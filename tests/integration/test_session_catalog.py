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


def test_sql_prepare_execute_deallocate(conn: pymysql.Connection[Any]) -> None:
    query(conn, "CREATE TABLE IF NOT EXISTS pe (id INT PRIMARY KEY, name VARCHAR(20))")
    query(conn, "SET @id = 7, @name = 'it''s ok; really'")
    query(conn, "PREPARE ins FROM 'INSERT INTO pe (id, name) VALUES (?, ?)'")
    query(conn, "EXECUTE ins USING @id, @name")
    query(conn, "SET @sql = 'SELECT name FROM pe WHERE id = ?'")
    query(conn, "PREPARE `get one` FROM @sql")
    assert query(conn, "EXECUTE `get one` USING @id") == [("it's ok; really",)]
    with pytest.raises(pymysql.err.OperationalError) as wrong:
        query(conn, "EXECUTE ins USING @id")
    assert wrong.value.args[0] == 1210
    query(conn, "DEALLOCATE PREPARE ins")
    with pytest.raises(pymysql.err.OperationalError) as gone:
        query(conn, "EXECUTE ins USING @id, @name")
    assert gone.value.args[0] == 1243
    query(conn, "DROP PREPARE `get one`")


def test_multi_table_update_and_delete(conn: pymysql.Connection[Any]) -> None:
    query(conn, "CREATE TABLE mt_items (id INT PRIMARY KEY, price INT, note VARCHAR(20))")
    query(conn, "CREATE TABLE mt_orders (id INT PRIMARY KEY, item INT, qty INT)")
    query(conn, "INSERT INTO mt_items VALUES (1, 10, NULL), (2, 20, NULL), (3, 30, NULL)")
    query(conn, "INSERT INTO mt_orders VALUES (1, 1, 2), (2, 2, 5), (3, 9, 1)")
    with conn.cursor() as cur:
        changed = cur.execute(
            "UPDATE mt_items i JOIN mt_orders o ON o.item = i.id SET i.note = CONCAT('qty ', o.qty) WHERE o.qty > %s",
            (1,),
        )
    assert changed == 2
    query(
        conn,
        "UPDATE mt_items, mt_orders SET mt_items.price = mt_items.price + mt_orders.qty WHERE mt_orders.item = mt_items.id",
    )
    assert query(conn, "SELECT id, price, note FROM mt_items ORDER BY id") == [
        (1, 12, "qty 2"),
        (2, 25, "qty 5"),
        (3, 30, None),
    ]
    with conn.cursor() as cur:  # orders of no item
        assert (
            cur.execute("DELETE o FROM mt_orders o LEFT JOIN mt_items i ON i.id = o.item WHERE i.id IS NULL")
            == 1
        )
        assert (
            cur.execute(
                "DELETE FROM mt_items USING mt_items JOIN mt_orders ON mt_orders.item = mt_items.id WHERE mt_orders.qty = 5"
            )
            == 1
        )
    assert query(conn, "SELECT id FROM mt_items ORDER BY id") == [(1,), (3,)]
    assert query(conn, "SELECT id FROM mt_orders ORDER BY id") == [(1,), (2,)]
    with pytest.raises(pymysql.err.NotSupportedError):
        query(conn, "DELETE o, i FROM mt_orders o JOIN mt_items i ON i.id = o.item")


def test_show_statements_of_gui_tools(conn: pymysql.Connection[Any]) -> None:
    plugins = {row[0]: row[2] for row in query(conn, "SHOW PLUGINS")}
    assert plugins["caching_sha2_password"] == "AUTHENTICATION" and plugins["InnoDB"] == "STORAGE ENGINE"
    assert query(conn, "SHOW ENGINES")[0][:2] == ("InnoDB", "DEFAULT")
    assert ("Select", "Tables", "To retrieve rows from table") in query(conn, "SHOW PRIVILEGES")


def test_show_warnings_has_the_notes(conn: pymysql.Connection[Any]) -> None:
    query(conn, "DROP TABLE IF EXISTS no_such_table")
    assert query(conn, "SHOW WARNINGS") == [("Note", 1051, "Unknown table 'sessioncat.no_such_table'")]
    query(conn, "CREATE TABLE IF NOT EXISTS warned (id INT PRIMARY KEY)")
    query(conn, "CREATE TABLE IF NOT EXISTS warned (id INT PRIMARY KEY)")
    assert query(conn, "SHOW WARNINGS") == [("Note", 1050, "Table 'warned' already exists")]
    assert query(conn, "SELECT @@warning_count") == [(1,)]
    query(conn, "CREATE TABLE IF NOT EXISTS warned (id INT PRIMARY KEY)")
    assert query(conn, "SHOW COUNT(*) WARNINGS") == [(1,)]
    assert query(conn, "SHOW COUNT(*) ERRORS") == [(0,)]
    query(conn, "SELECT 1")
    assert query(conn, "SHOW WARNINGS") == []


def test_catalog_tables_gui_tools_read(conn: pymysql.Connection[Any]) -> None:
    query(conn, "CREATE TABLE IF NOT EXISTS cat_t (id INT PRIMARY KEY, n INT) COMMENT='p2pdb:counter(n)'")
    assert query(
        conn,
        "SELECT TABLE_NAME, PARTITION_NAME, TABLE_ROWS FROM information_schema.PARTITIONS"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'cat_t'",
        ("sessioncat",),
    ) == [("cat_t", None, 0)]
    assert query(conn, "SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS") == [(0,)]
    assert ("caching_sha2_password", "ACTIVE") in query(
        conn, "SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS"
    )
    query(conn, "SET SESSION sql_safe_updates = 1")  # a switch: shown ON, as MySQL and MariaDB show it
    assert query(
        conn,
        "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES WHERE VARIABLE_NAME = 'sql_safe_updates'",
    ) == [("ON",)]
    assert query(
        conn,
        "SELECT VARIABLE_VALUE FROM performance_schema.session_variables WHERE VARIABLE_NAME = 'sql_safe_updates'",
    ) == [("ON",)]
    assert query(
        conn, "SELECT VARIABLE_VALUE FROM performance_schema.global_variables WHERE VARIABLE_NAME = 'version'"
    )[0][0].startswith("8.0.")
    assert query(conn, "SELECT COUNT(*) > 0 FROM performance_schema.global_status") == [(1,)]
    assert ("'root'@'%'", "SELECT", "YES") in query(
        conn, "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES"
    )
    assert ("root", "%", "Y") in query(conn, "SELECT User, Host, Select_priv FROM mysql.user")
    assert query(conn, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_NAME = 'cat_t'") == [
        ("p2pdb:counter(n)",)
    ]
    query(conn, "SET SESSION sql_safe_updates = 0")


def test_explain_has_mysql_columns(conn: pymysql.Connection[Any]) -> None:
    query(conn, "CREATE TABLE IF NOT EXISTS ex_t (id INT PRIMARY KEY, b INT, c INT, KEY ib (b))")
    with conn.cursor() as cur:
        cur.execute("EXPLAIN SELECT * FROM ex_t WHERE id = 1")
        names = [d[0] for d in cur.description]
        assert names == ["id", "select_type", "table", "partitions", "type", "possible_keys", "key",
                         "key_len", "ref", "rows", "filtered", "Extra"]  # fmt: skip
        assert [r[2:7] for r in cur.fetchall()] == [("ex_t", None, "const", "PRIMARY", "PRIMARY")]
    assert [r[4:7] for r in query(conn, "DESCRIBE SELECT c FROM ex_t WHERE b = 2")] == [("ref", "ib", "ib")]
    joined = query(conn, "EXPLAIN SELECT * FROM ex_t a JOIN ex_t z ON a.b = z.id")
    assert [(r[2], r[4]) for r in joined] == [("a", "ALL"), ("z", "eq_ref")]


def test_show_create_table_and_tables_tell_the_next_auto_increment(conn: pymysql.Connection[Any]) -> None:
    query(conn, "CREATE TABLE ai_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    assert "AUTO_INCREMENT=" not in query(conn, "SHOW CREATE TABLE ai_t")[0][1]  # as MySQL: nothing at 1
    query(conn, "INSERT INTO ai_t (v) VALUES (1), (2), (3)")
    assert ") ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=" in query(conn, "SHOW CREATE TABLE ai_t")[0][1]
    query(conn, "INSERT INTO ai_t (id, v) VALUES (10, 4)")
    assert "AUTO_INCREMENT=11 " in query(conn, "SHOW CREATE TABLE ai_t")[0][1]
    (auto,) = query(
        conn,
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        " AND TABLE_NAME = 'ai_t'",
    )[0]
    assert auto == 11
