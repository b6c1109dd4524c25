"""MySQL login accounts of a node (CREATE USER, GRANT, SHOW GRANTS, privileges, persisted across a
restart) and TLS on the MySQL listener (generated CA, ``--ssl-verify-server-cert``, ``have_ssl``), through
the ``mariadb`` CLI, PyMySQL and mysql-connector-python."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mysql.connector
import pymysql
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

MARIADB = shutil.which("mariadb")
TIMEOUT = 60


def root(port: int, **kwargs: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True, **kwargs)


def run(conn: pymysql.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def cli(port: int, user: str, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert MARIADB is not None
    command = [MARIADB, "-h", "127.0.0.1", "-P", str(port), "-u", user, f"-p{password}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_accounts_grants_and_restart(start_node: Callable[..., NodeProcess]) -> None:
    node = start_node()
    conn = root(node.port)
    run(conn, "CREATE DATABASE shop")
    run(conn, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
    run(conn, "INSERT INTO shop.items VALUES (1, 'tea')")
    run(conn, "CREATE USER 'ada'@'%' IDENTIFIED BY 'ada-pw', 'bob'@'localhost' IDENTIFIED BY 'bob-pw'")
    run(conn, "GRANT SELECT, INSERT ON shop.* TO 'ada'@'%'")
    run(conn, "GRANT UPDATE ON shop.items TO ada")
    with pytest.raises(pymysql.err.OperationalError) as exists:
        run(conn, "CREATE USER ada")
    assert exists.value.args[0] == 1396
    with pytest.raises(pymysql.err.OperationalError) as missing:
        run(conn, "GRANT SELECT ON *.* TO nobody")
    assert missing.value.args[0] == 1410
    expected = [
        ("GRANT USAGE ON *.* TO `ada`@`%`",),
        ("GRANT SELECT, INSERT ON `shop`.* TO `ada`@`%`",),
        ("GRANT UPDATE ON `shop`.`items` TO `ada`@`%`",),
    ]
    assert run(conn, "SHOW GRANTS FOR 'ada'@'%'") == expected
    conn.close()

    node.stop()  # accounts live in the data directory, not in any replicated table
    node = start_node(data_dir=node.data_dir)
    ada = pymysql.connect(host="127.0.0.1", port=node.port, user="ada", password="ada-pw", database="shop")
    assert run(ada, "SHOW GRANTS") == expected
    assert run(ada, "SELECT name FROM items") == [("tea",)]
    run(ada, "INSERT INTO items VALUES (2, 'cup')")
    run(ada, "UPDATE items SET name = 'mug' WHERE id = 2")
    with pytest.raises(pymysql.err.OperationalError) as denied:
        run(ada, "DELETE FROM items")
    assert denied.value.args[0] in (1044, 1142)
    with pytest.raises(pymysql.err.OperationalError) as no_admin:
        run(ada, "CREATE USER eve")
    assert no_admin.value.args[0] == 1227
    ada.close()
    with pytest.raises(pymysql.err.OperationalError) as bad:
        pymysql.connect(host="127.0.0.1", port=node.port, user="ada", password="wrong")
    assert bad.value.args[0] == 1045
    bob = pymysql.connect(host="127.0.0.1", port=node.port, user="bob", password="bob-pw")
    with pytest.raises(pymysql.err.OperationalError) as no_db:
        run(bob, "USE shop")
    assert no_db.value.args[0] == 1044
    bob.close()

    conn = root(node.port)
    run(conn, "REVOKE INSERT ON shop.* FROM 'ada'@'%'")
    assert run(conn, "SHOW GRANTS FOR ada")[1] == ("GRANT SELECT ON `shop`.* TO `ada`@`%`",)
    run(conn, "ALTER USER ada IDENTIFIED BY 'new-pw'")
    run(conn, "DROP USER bob@localhost")
    assert ("ada", "%") in run(conn, "SELECT User, Host FROM mysql.user")
    assert ("bob", "localhost") not in run(conn, "SELECT User, Host FROM mysql.user")
    conn.close()
    pymysql.connect(host="127.0.0.1", port=node.port, user="ada", password="new-pw").close()


@pytest.mark.skipif(
    MARIADB is None, reason="the mariadb CLI is not installed (apt-get install mariadb-client)"
)
def test_first_login_after_restart_over_tls(start_node: Callable[..., NodeProcess]) -> None:
    """caching_sha2_password needs the password once after a start: over TLS, which every client
    negotiates by default now that the listener offers it."""
    node = start_node()
    conn = root(node.port)
    run(conn, "CREATE USER 'carol'@'%' IDENTIFIED BY 's3cret'")
    run(conn, "GRANT ALL ON *.* TO carol")
    assert run(conn, "SELECT @@have_ssl") == [("YES",)]
    conn.close()
    node.stop()
    node = start_node(data_dir=node.data_dir)
    ca = str(node.data_dir / "mysql-ca.pem")
    result = cli(node.port, "carol", "s3cret", "--ssl-verify-server-cert", f"--ssl-ca={ca}", "-e", "SELECT 1")
    assert result.returncode == 0, result.stderr
    connector = mysql.connector.connect(
        host="127.0.0.1", port=node.port, user="carol", password="s3cret", use_pure=True
    )
    cur = connector.cursor()
    cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    cur.fetchall()
    connector.close()
    context = ssl.create_default_context(cafile=ca)  # the generated CA verifies the server's name
    verified = pymysql.connect(host="127.0.0.1", port=node.port, user="carol", password="s3cret", ssl=context)
    assert run(verified, "SELECT 1") == [(1,)]
    verified.close()


def test_without_tls_have_ssl_is_disabled(start_node: Callable[..., NodeProcess]) -> None:
    node = start_node("--no-mysql-tls")
    conn = root(node.port)
    assert run(conn, "SELECT @@have_ssl") == [("DISABLED",)]
    conn.close()
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host="127.0.0.1", port=node.port, user="root", ssl={"ca": None}, connect_timeout=5)
