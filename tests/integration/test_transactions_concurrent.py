"""Explicit transactions of several clients at once on a real node, while another client commits
in autocommit and a peer's entries arrive: each transaction sees its own writes, nobody waits for
another client's transaction (p2pdb/sql/windows.py), and both nodes end with every committed row."""

from __future__ import annotations

import threading
from pathlib import Path

from .cluster import cluster, table_hash, wait_until

CLIENTS = 4
TRANSACTIONS = 8
ROWS = 12


def test_concurrent_transactions_with_autocommit_writers_and_replication(tmp_path: Path) -> None:
    with cluster(tmp_path, 2) as (a, b):
        a.query("CREATE DATABASE app")
        a.query("CREATE TABLE t (id INT PRIMARY KEY, who INT NOT NULL, n INT NOT NULL)", "app")
        wait_until(lambda: b.query("SELECT count(*) FROM t", "app") == [(0,)], 30, "the table on b")
        errors: list[BaseException] = []
        done = threading.Event()

        def transactions(client: int) -> None:
            try:
                conn = a.connect("app")
                with conn.cursor() as cur:
                    for txn in range(TRANSACTIONS):
                        base = 10_000 * client + 100 * txn
                        cur.execute("BEGIN")
                        for row in range(ROWS):
                            cur.execute("INSERT INTO t VALUES (%s, %s, %s)", (base + row, client, row))
                        cur.execute("UPDATE t SET n = n + 1 WHERE id >= %s AND id < %s", (base, base + ROWS))
                        cur.execute(
                            "SELECT count(*), sum(n) FROM t WHERE id >= %s AND id < %s", (base, base + ROWS)
                        )
                        assert cur.fetchone() == (ROWS, sum(range(1, ROWS + 1)))  # its own writes
                        cur.execute("COMMIT")
                conn.close()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        def autocommit_writer() -> None:
            try:
                conn = a.connect("app")
                with conn.cursor() as cur:
                    i = 0
                    while not done.is_set():
                        cur.execute("INSERT INTO t VALUES (%s, -1, 0)", (900_000 + i,))
                        i += 1
                conn.close()
            except BaseException as exc:
                errors.append(exc)

        def peer_writer() -> None:
            try:
                conn = b.connect("app")
                with conn.cursor() as cur:
                    for i in range(100):
                        cur.execute("INSERT INTO t VALUES (%s, -2, 0)", (800_000 + i,))
                conn.close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=transactions, args=(c,)) for c in range(CLIENTS)]
        others = [threading.Thread(target=autocommit_writer), threading.Thread(target=peer_writer)]
        for thread in threads + others:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        done.set()
        for thread in others:
            thread.join(timeout=60)
        assert not errors, errors
        committed = a.query("SELECT count(*) FROM t WHERE who >= 0", "app")
        assert committed == [(CLIENTS * TRANSACTIONS * ROWS,)]
        assert a.query("SELECT count(*) FROM t WHERE who = -2", "app") == [(100,)]
        wait_until(
            lambda: table_hash(a, "app", "t", "id") == table_hash(b, "app", "t", "id"), 60, "b to converge"
        )


def test_a_client_that_leaves_a_transaction_open_blocks_nobody(tmp_path: Path) -> None:
    with cluster(tmp_path, 1) as (a,):
        a.query("CREATE DATABASE app")
        a.query("CREATE TABLE t (id INT PRIMARY KEY)", "app")
        idle = a.connect("app")
        with idle.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("INSERT INTO t VALUES (1)")  # and then the client goes quiet, lock in hand
        other = a.connect("app")
        with other.cursor() as cur:
            for i in range(2, 50):
                cur.execute("INSERT INTO t VALUES (%s)", (i,))  # 5 s each, and a test timeout, if it waited
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (48,)  # the open transaction's row is not visible
        with idle.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (49,)  # its own row on top of the others' commits
            cur.execute("COMMIT")
        assert a.query("SELECT count(*) FROM t", "app") == [(49,)]
        for conn in (idle, other):
            conn.close()
