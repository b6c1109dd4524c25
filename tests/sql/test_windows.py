"""Transaction windows (p2pdb.sql.windows): a transaction's writes stay applied between its
statements, invisible to others, and yield at once to anyone who needs the write lock."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from p2pdb.log import Identity
from p2pdb.sql.accounts import Accounts
from p2pdb.sql.backend import SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.protocol.results import ResultSet
from p2pdb.sql.session import SQLSession
from p2pdb.store import Database
from p2pdb.store.registry import Registry


class Node:
    def __init__(self, path: Path) -> None:
        self.backend = SQLBackend(
            Registry(Identity.generate(), path, new_database_access="open"), Accounts(None)
        )
        self._ids = 0

    async def session(self) -> SQLSession:
        self._ids += 1
        info = ConnectInfo(self._ids, "root", None, "127.0.0.1", False, False, 45)
        session = await self.backend.open_session(info)
        return session

    @property
    def db(self) -> Database:
        db = self.backend.registry.get("app")
        assert db is not None
        return db


async def run(session: SQLSession, statement: str) -> Any:
    (result,) = await session.execute(statement, multi=False)
    return result


async def ids(session: SQLSession, table: str = "t") -> list[int]:
    result = await run(session, f"SELECT id FROM {table} ORDER BY id")
    assert isinstance(result, ResultSet)
    return [row[0] for row in result.rows]


@pytest.fixture
async def node(tmp_path: Path) -> Node:
    node = Node(tmp_path)
    setup = await node.session()
    for statement in ("CREATE DATABASE app", "USE app", "CREATE TABLE t (id INT PRIMARY KEY, v INT)"):
        await run(setup, statement)
    return node


def count_replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    replays: list[int] = []
    original = SQLSession._replay

    def counting(self: SQLSession, conn: Any, statements: Any) -> None:
        replays.append(len(statements))
        original(self, conn, statements)

    monkeypatch.setattr(SQLSession, "_replay", counting)
    return replays


async def test_statements_of_a_transaction_do_not_replay_its_writes(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await node.session()
    await run(session, "USE app")
    replays = count_replays(monkeypatch)
    await run(session, "BEGIN")
    for i in range(200):
        await run(session, f"INSERT INTO t VALUES ({i}, {i})")
    assert await ids(session) == list(range(200))  # its own writes, read back in the transaction
    assert replays == []  # before: statement k replayed the k-1 before it, O(n^2) in all
    await run(session, "COMMIT")
    assert len(replays) == 1  # the commit replays them once, on the writer, under capture
    assert node.db.conn.execute("SELECT count(*) FROM t").fetchall() == [(200,)]


async def test_a_window_is_invisible_to_others_and_yields_to_their_commits(node: Node) -> None:
    a, b = await node.session(), await node.session()
    for session in (a, b):
        await run(session, "USE app")
    await run(a, "BEGIN")
    await run(a, "INSERT INTO t VALUES (1, 1)")
    assert await ids(b) == []  # uncommitted: another session does not see it
    started = time.monotonic()
    await run(b, "INSERT INTO t VALUES (2, 2)")  # needs the write lock a's window holds
    assert time.monotonic() - started < 1.0  # the window yielded; nobody waited for a client
    assert await ids(a) == [1, 2]  # reopened with its writes replayed, on top of b's commit
    await run(a, "INSERT INTO t VALUES (3, 3)")
    assert await ids(b) == [2]
    await run(a, "COMMIT")
    assert await ids(b) == [1, 2, 3]


async def test_two_transactions_take_the_lock_in_turns(node: Node) -> None:
    a, b = await node.session(), await node.session()
    for session in (a, b):
        await run(session, "USE app")
        await run(session, "BEGIN")
    for i in range(5):
        await run(a, f"INSERT INTO t VALUES ({10 + i}, 0)")
        await run(b, f"INSERT INTO t VALUES ({20 + i}, 0)")
    assert await ids(a) == [10, 11, 12, 13, 14]
    assert await ids(b) == [20, 21, 22, 23, 24]
    await run(a, "COMMIT")
    await run(b, "COMMIT")
    assert await ids(a) == [10, 11, 12, 13, 14, 20, 21, 22, 23, 24]


async def test_a_failing_statement_undoes_only_itself(node: Node) -> None:
    session = await node.session()
    await run(session, "USE app")
    await run(session, "BEGIN")
    await run(session, "INSERT INTO t VALUES (1, 1)")
    await run(session, "UPDATE t SET v = 5 WHERE id = 1")
    with pytest.raises(MySQLError) as caught:
        await run(session, "INSERT INTO t VALUES (2, 2), (1, 1)")  # the second row is a duplicate
    assert caught.value.code == ErrorCode.DUP_ENTRY
    assert await ids(session) == [1]  # row 2 of the failed statement is gone, row 1 stays
    await run(session, "INSERT INTO t VALUES (3, 3)")
    await run(session, "COMMIT")
    rows = node.db.conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    assert rows == [(1, 5), (3, 3)]


async def test_savepoints_and_rollback(node: Node) -> None:
    session = await node.session()
    await run(session, "USE app")
    await run(session, "BEGIN")
    await run(session, "INSERT INTO t VALUES (1, 1)")
    await run(session, "SAVEPOINT a")
    await run(session, "INSERT INTO t VALUES (2, 2)")
    assert await ids(session) == [1, 2]
    await run(session, "ROLLBACK TO SAVEPOINT a")
    assert await ids(session) == [1]
    await run(session, "INSERT INTO t VALUES (3, 3)")
    await run(session, "COMMIT")
    assert await ids(session) == [1, 3]
    await run(session, "BEGIN")
    await run(session, "INSERT INTO t VALUES (4, 4)")
    await run(session, "ROLLBACK")
    assert await ids(session) == [1, 3]


async def test_a_window_yields_to_replication(node: Node, tmp_path: Path) -> None:
    session = await node.session()
    await run(session, "USE app")
    peer = Registry(Identity.generate(), tmp_path / "peer", new_database_access="open").create("app")
    peer.join([entry.block for entry in node.db.log.traverse()])
    peer.write(lambda conn: conn.execute("INSERT INTO t VALUES (7, 7)"))
    await run(session, "BEGIN")
    await run(session, "INSERT INTO t VALUES (1, 1)")
    started = time.monotonic()
    result = node.db.join([entry.block for entry in peer.log.traverse()])
    assert time.monotonic() - started < 1.0 and not result.rejected_ops
    assert await ids(session) == [1, 7]
    await run(session, "COMMIT")
    assert node.db.conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (7,)]


async def test_a_yielded_window_comes_back_from_its_kept_writes(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await node.session(), await node.session()
    for session in (a, b):
        await run(session, "USE app")
    await run(b, "INSERT INTO t VALUES (100, 0)")
    replays = count_replays(monkeypatch)
    await run(a, "BEGIN")
    for i in range(20):
        await run(a, f"INSERT INTO t VALUES ({i}, {i})")
        with pytest.raises(MySQLError):  # a failed statement in between: undone, not kept
            await run(a, f"INSERT INTO t VALUES ({i}, 0)")
        await run(b, f"UPDATE t SET v = {i} WHERE id = 100")  # a commit: a's window yields
    await run(a, "UPDATE t SET v = v + 1 WHERE id < 20")
    assert await ids(a) == [*range(20), 100]
    assert replays == []  # reopened 20 times from the changeset it kept, never replayed
    await run(a, "COMMIT")
    rows = node.db.conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    assert rows == [*((i, i + 1) for i in range(20)), (100, 19)]


async def test_kept_writes_that_no_longer_apply_are_replayed(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await node.session(), await node.session()
    for session in (a, b):
        await run(session, "USE app")
    await run(b, "INSERT INTO t VALUES (5, 10)")
    replays = count_replays(monkeypatch)
    await run(a, "BEGIN")
    await run(a, "UPDATE t SET v = v + 1 WHERE id = 5")  # a sees 11
    await run(b, "UPDATE t SET v = 20 WHERE id = 5")  # b changes the row a changed: a yields
    result = await run(a, "SELECT v FROM t WHERE id = 5")
    assert len(replays) == 1  # a's kept change (10 -> 11) no longer applies: replayed on 20
    assert isinstance(result, ResultSet) and list(result.rows) == [(21,)]
    await run(a, "COMMIT")
    assert node.db.conn.execute("SELECT v FROM t WHERE id = 5").fetchall() == [(21,)]


async def test_transactions_beyond_the_window_limit_replay_on_the_writer(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2pdb.sql import windows

    monkeypatch.setattr(windows, "MAX_WINDOWS", 2)
    sessions = [await node.session() for _ in range(3)]
    for n, session in enumerate(sessions):
        await run(session, "USE app")
        await run(session, "BEGIN")
        await run(session, f"INSERT INTO t VALUES ({n}, {n})")
    assert [s.txn is not None and s.txn.window is not None for s in sessions] == [True, True, False]
    for n, session in enumerate(sessions):
        await run(session, f"INSERT INTO t VALUES ({10 + n}, {n})")
        assert await ids(session) == sorted([n, 10 + n])
    for session in sessions:
        await run(session, "COMMIT")
    assert await ids(sessions[0]) == [0, 1, 2, 10, 11, 12]
    assert windows._by_db[node.db].taken == 0  # every window given back
