"""Group commit: which autocommit writes share one commit, and when a batch is flushed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import apsw
import pytest

from p2pdb.log import Identity, Manifest
from p2pdb.sql.accounts import Accounts
from p2pdb.sql.backend import SQLBackend
from p2pdb.sql.group_commit import GroupCommitter
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.errors import ErrorCode, MySQLError
from p2pdb.sql.session import SQLSession
from p2pdb.store import Database, MemoryEngine
from p2pdb.store.registry import Registry


@pytest.fixture
def db() -> Database:
    database = Database(Identity.from_seed(b"\x01" * 32), Manifest("gc"), MemoryEngine())
    database.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    return database


def insert(i: int) -> Callable[[apsw.Connection], Any]:
    return lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (i, f"v{i}"))


async def after_turns(turns: int, submit: Callable[[], Awaitable[Any]]) -> Any:
    for _ in range(turns):
        await asyncio.sleep(0)  # one loop turn
    return await submit()


async def test_writes_of_one_turn_share_a_commit_and_fail_alone(db: Database) -> None:
    gc = GroupCommitter(db)
    entries = len(db.log)
    results = await asyncio.gather(
        gc.submit(insert(1)), gc.submit(insert(1)), gc.submit(insert(2)), return_exceptions=True
    )
    assert isinstance(results[1], apsw.ConstraintError)  # the duplicate key fails, alone
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert (gc.batches, gc.transactions) == (1, 3)
    assert len(db.log) == entries + 1  # one signed entry for the batch
    assert db.conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]


async def test_after_a_shared_batch_a_writer_one_turn_late_joins_the_batch(db: Database) -> None:
    gc = GroupCommitter(db)
    await asyncio.gather(gc.submit(insert(1)), gc.submit(insert(2)))  # several writers are about
    assert gc.batches == 1
    await asyncio.gather(gc.submit(insert(3)), after_turns(1, lambda: gc.submit(insert(4))))
    assert (gc.batches, gc.transactions) == (2, 4)


async def test_a_lone_writer_is_flushed_in_its_own_turn(db: Database) -> None:
    gc = GroupCommitter(db)
    await gc.submit(insert(1))  # a batch of one: nobody else writes
    # The next write does not wait for others: a write one turn later gets a commit of its own.
    await asyncio.gather(gc.submit(insert(2)), after_turns(1, lambda: gc.submit(insert(3))))
    assert (gc.batches, gc.transactions) == (3, 3)
    assert db.conn.execute("SELECT count(*) FROM t").fetchall() == [(3,)]


async def _session(backend: SQLBackend, connection_id: int) -> SQLSession:
    info = ConnectInfo(connection_id, "root", None, "127.0.0.1", False, False, 45)
    return await backend.open_session(info)


async def test_commits_of_explicit_transactions_share_a_commit_and_fail_alone() -> None:
    backend = SQLBackend(Registry(Identity.generate(), None, new_database_access="open"), Accounts(None))
    a, b = await _session(backend, 1), await _session(backend, 2)
    for statement in ("CREATE DATABASE app", "USE app", "CREATE TABLE t (id INT PRIMARY KEY, v INT)"):
        await a.execute(statement, multi=False)
    await b.execute("USE app", multi=False)
    db = backend.registry.get("app")
    assert db is not None
    committer = backend.committer(db)
    for key in ((1, 2), (3, 3)):  # two clean transactions, then two that insert the same key
        for session, i in zip((a, b), key, strict=True):
            await session.execute("BEGIN", multi=False)
            await session.execute(f"INSERT INTO t VALUES ({i}, {i})", multi=False)
        batches, entries = committer.batches, len(db.log)
        outcomes = await asyncio.gather(
            a.execute("COMMIT", multi=False), b.execute("COMMIT", multi=False), return_exceptions=True
        )
        assert (committer.batches, len(db.log)) == (batches + 1, entries + 1)
    assert not isinstance(outcomes[0], BaseException)
    assert isinstance(outcomes[1], MySQLError) and outcomes[1].code == ErrorCode.DUP_ENTRY
    assert db.conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,), (3,)]
