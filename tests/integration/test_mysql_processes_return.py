"""Connections going back to a reader process, and transactions whose reads a reader serves
(``--mysql-processes``, :mod:`p2pdb.sql.serving`).

A reader serves BEGIN, the reads of a transaction that has not written yet, and its COMMIT or
ROLLBACK; the first write moves the connection to the main process with the transaction. The main
process gives a connection back after a BEGIN's transaction ends, or after a run of statements a
reader could have run. Which process holds a connection is read from ``/proc`` (see
``test_mysql_processes``). A move happens right after a reply, so a check that a connection moved
waits for it, and a check that it stayed waits a little first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mysql.connector
import pymysql
import pytest

from tests.integration.cluster import wait_until
from tests.integration.test_mysql_processes import Processes, rows, unverified_tls

if TYPE_CHECKING:
    from tests.integration.conftest import NodeProcess

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


@pytest.fixture
def served(start_node: Callable[..., NodeProcess]) -> Iterator[Processes]:
    processes = Processes(start_node("--mysql-processes", "2"))
    setup = processes.connect("main")
    rows(setup, "CREATE DATABASE shop")
    rows(setup, "CREATE TABLE shop.items (id INT PRIMARY KEY, qty INT)")
    rows(setup, "INSERT INTO shop.items VALUES (1, 10), (2, 20)")
    setup.close()
    yield processes


def on(served: Processes, conn: Any, where: str) -> None:
    """Wait until the ``where`` process ("reader" or "main") holds ``conn``."""
    want = served.reader if where == "reader" else served.main
    wait_until(lambda: served.holder_of(conn) == want, 10, f"the connection on the {where} process")


def stays(served: Processes, conn: Any, where: str) -> None:
    time.sleep(0.3)  # a move would have happened by now
    assert served.holder_of(conn) == (served.reader if where == "reader" else served.main)


def test_a_transaction_reads_on_the_reader_writes_on_the_main_process_and_comes_back(
    served: Processes,
) -> None:
    conn = served.connect("reader", lambda: served.pymysql(database="shop"))
    other = served.connect("main", lambda: served.pymysql(database="shop"))
    for round_ in range(3):
        rows(conn, "BEGIN")
        assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(10 + round_,)]
        stays(served, conn, "reader")  # the transaction has only read
        rows(conn, "UPDATE items SET qty = qty + 1 WHERE id = 1")
        assert served.holder_of(conn) == served.main  # its first write moved it
        assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(11 + round_,)]  # its own write
        assert rows(other, "SELECT qty FROM items WHERE id = 1") == [(10 + round_,)]  # not committed
        rows(conn, "COMMIT")
        on(served, conn, "reader")
        assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(11 + round_,)]
        assert rows(other, "SELECT qty FROM items WHERE id = 1") == [(11 + round_,)]

    rows(conn, "START TRANSACTION")
    rows(conn, "UPDATE items SET qty = 0 WHERE id = 2")
    rows(conn, "ROLLBACK")
    on(served, conn, "reader")
    assert rows(conn, "SELECT qty FROM items WHERE id = 2") == [(20,)]
    assert rows(other, "SELECT qty FROM items WHERE id = 2") == [(20,)]
    # A transaction that only reads never leaves the reader.
    rows(conn, "BEGIN")
    assert rows(conn, "SELECT count(*) FROM items") == [(2,)]
    rows(conn, "COMMIT")
    stays(served, conn, "reader")


def test_a_read_only_transaction_refuses_its_write_wherever_it_began(served: Processes) -> None:
    conn = served.connect("reader", lambda: served.pymysql(database="shop"))
    rows(conn, "START TRANSACTION READ ONLY")
    assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(10,)]
    with pytest.raises(pymysql.err.MySQLError) as refused:
        rows(conn, "UPDATE items SET qty = 0 WHERE id = 1")
    assert refused.value.args[0] == 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    assert served.holder_of(conn) == served.main
    rows(conn, "ROLLBACK")
    on(served, conn, "reader")
    assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(10,)]


def test_session_state_goes_both_ways(served: Processes) -> None:
    conn = served.connect("reader", lambda: served.pymysql(database="shop"))
    rows(conn, "SET @note = 'kept', sql_mode = 'PIPES_AS_CONCAT'")
    rows(conn, "BEGIN")
    rows(conn, "INSERT INTO items VALUES (3, 30)")
    rows(conn, "COMMIT")
    on(served, conn, "reader")
    assert rows(conn, "SELECT @note, @@sql_mode, DATABASE()") == [("kept", "PIPES_AS_CONCAT", "shop")]
    assert rows(conn, "SELECT 'a' || qty FROM items WHERE id = 3") == [("a30",)]  # || concatenates


def test_prepared_statements_keep_their_ids_across_round_trips(served: Processes) -> None:
    def connector() -> Any:
        return mysql.connector.connect(
            host="127.0.0.1", port=served.port, user="root", database="shop", autocommit=True,
            use_pure=True, ssl_disabled=True,
        )  # fmt: skip

    conn = served.connect("reader", connector)
    begin = conn.cursor(prepared=True)  # BEGIN and COMMIT prepared, as sysbench does
    commit = conn.cursor(prepared=True)
    select = conn.cursor(prepared=True)
    update = conn.cursor(prepared=True)
    for round_ in range(4):
        if round_ % 2:
            begin.execute("BEGIN")
        else:
            conn.start_transaction()
        select.execute("SELECT qty FROM items WHERE id = ?", (2,))
        assert select.fetchall() == [(20 + round_,)]
        stays(served, conn, "reader")
        update.execute("UPDATE items SET qty = qty + 1 WHERE id = ?", (2,))
        assert served.holder_of(conn) == served.main
        select.execute("SELECT qty FROM items WHERE id = ?", (2,))  # the same statement id, here
        assert select.fetchall() == [(21 + round_,)]
        if round_ % 2:
            commit.execute("COMMIT")
        else:
            conn.commit()
        on(served, conn, "reader")
    select.execute("SELECT qty FROM items WHERE id = ?", (2,))
    assert select.fetchall() == [(24,)]
    conn.close()


def test_autocommit_writes_stay_on_the_main_process_until_reads_follow(served: Processes) -> None:
    conn = served.connect("reader", lambda: served.pymysql(database="shop"))
    rows(conn, "INSERT INTO items VALUES (4, 40)")
    assert served.holder_of(conn) == served.main
    for i in range(5, 9):  # writes and reads mixed: it stays where it writes
        assert rows(conn, "SELECT count(*) FROM items") == [(i - 2,)]
        rows(conn, "INSERT INTO items VALUES (%s, 0)", (i,))
    stays(served, conn, "main")
    for _ in range(7):
        assert rows(conn, "SELECT count(*) FROM items") == [(7,)]
    stays(served, conn, "main")
    assert rows(conn, "SELECT count(*) FROM items") == [(7,)]  # the eighth read in a row
    on(served, conn, "reader")
    assert rows(conn, "SELECT max(id) FROM items") == [(8,)]


def test_a_connection_dealt_to_the_main_process_keeps_its_reads_there(served: Processes) -> None:
    """The kernel shares the clients among the processes; one that only reads stays where it landed."""
    conn = served.connect("main", lambda: served.pymysql(database="shop"))
    for _ in range(20):
        assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(10,)]
    stays(served, conn, "main")


def test_a_temporary_table_keeps_its_connection_on_the_main_process(served: Processes) -> None:
    conn = served.connect("reader", lambda: served.pymysql(database="shop"))
    rows(conn, "CREATE TEMPORARY TABLE scratch (n INT)")
    rows(conn, "BEGIN")
    rows(conn, "INSERT INTO scratch VALUES (1)")
    rows(conn, "COMMIT")
    for _ in range(10):
        assert rows(conn, "SELECT n FROM scratch") == [(1,)]
    stays(served, conn, "main")


def test_several_statements_in_one_query_run_together_then_the_connection_returns(
    served: Processes,
) -> None:
    conn = served.connect("reader", lambda: served.pymysql(database="shop", client_flag=1 << 16))
    with conn.cursor() as cur:
        cur.execute(
            "BEGIN; SELECT qty FROM items WHERE id = 1; UPDATE items SET qty = 5 WHERE id = 1; COMMIT"
        )
        assert cur.nextset()
        assert cur.fetchall() == ((10,),)
        while cur.nextset():
            pass
    on(served, conn, "reader")
    assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(5,)]


def test_processlist_and_kill_find_a_connection_given_back(served: Processes) -> None:
    admin = served.connect("main")
    victim = served.connect("main", lambda: served.pymysql(database="shop"))
    victim_id = rows(victim, "SELECT CONNECTION_ID()")[0][0]  # an id of the main process's residue
    rows(victim, "BEGIN")
    rows(victim, "UPDATE items SET qty = 1 WHERE id = 2")
    rows(victim, "COMMIT")
    on(served, victim, "reader")
    listed = [r[0] for r in rows(admin, "SHOW PROCESSLIST")]
    assert listed.count(victim_id) == 1

    rows(admin, f"KILL {victim_id}")
    with pytest.raises(pymysql.err.OperationalError):
        rows(victim, "SELECT 1")
    assert victim_id not in [r[0] for r in rows(admin, "SHOW PROCESSLIST")]


def test_a_tls_connection_stays_relayed_after_its_transaction(served: Processes) -> None:
    """A reader keeps a TLS connection's session and relays it to the main process once it moves:
    the main process holds only the relay's socket pair, which it must never give away."""
    setup = served.connect("main")
    rows(setup, "CREATE USER carol IDENTIFIED BY 's3cret'")
    rows(setup, "GRANT ALL ON *.* TO carol")
    context = unverified_tls()

    def tls() -> pymysql.Connection[Any]:
        return served.pymysql(ssl=context, user="carol", password="s3cret", database="shop")

    conn = served.connect("reader", tls)
    for round_ in range(3):
        rows(conn, "BEGIN")
        rows(conn, "UPDATE items SET qty = qty + 1 WHERE id = 1")
        rows(conn, "COMMIT")
        for _ in range(10):
            assert rows(conn, "SELECT qty FROM items WHERE id = 1") == [(11 + round_,)]
    assert served.holder_of(conn) == served.reader  # the client's socket never moved
