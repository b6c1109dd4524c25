"""A table whose comment names the counter rule merges concurrent increments by adding them."""

from __future__ import annotations

import asyncio

from p2pdb.log import Identity
from p2pdb.sql.backend import Accounts, SQLBackend
from p2pdb.sql.protocol.backend import ConnectInfo
from p2pdb.sql.protocol.results import ResultSet
from p2pdb.store.registry import Registry


def _session(backend: SQLBackend) -> object:
    info = ConnectInfo(1, "root", None, "127.0.0.1", False, False, 45)
    return asyncio.run(backend.open_session(info))


def _run(session: object, sql: str) -> list[object]:
    return asyncio.run(session.execute(sql, multi=True))  # type: ignore[attr-defined]


def test_concurrent_increments_add_up_across_replicas() -> None:
    nodes = [
        SQLBackend(Registry(Identity.generate(), None, new_database_access="open"), Accounts(None))
        for _ in range(2)
    ]
    sessions = [_session(b) for b in nodes]
    _run(sessions[0], "CREATE DATABASE app")
    _run(sessions[0], "USE app")
    _run(
        sessions[0],
        "CREATE TABLE pages (id INT PRIMARY KEY, hits INT NOT NULL DEFAULT 0) COMMENT='p2pdb:counter(hits)'",
    )
    _run(sessions[0], "INSERT INTO pages VALUES (1, 10)")
    source = nodes[0].registry.get("app")
    assert source is not None
    assert source.catalog.tables["pages"].rule == {"rule": "counter", "columns": ["hits"]}
    replica = nodes[1].registry.create("app")
    replica.join([e.block for e in source.log.traverse()])
    _run(sessions[1], "USE app")
    # Both peers increment concurrently, without seeing each other's write.
    _run(sessions[0], "UPDATE pages SET hits = hits + 5 WHERE id = 1")
    _run(sessions[1], "UPDATE pages SET hits = hits + 7 WHERE id = 1")
    replica.join([e.block for e in source.log.traverse()])
    source.join([e.block for e in replica.log.traverse()])
    for session in sessions:
        (result,) = _run(session, "SELECT hits FROM pages WHERE id = 1")
        assert isinstance(result, ResultSet)
        assert list(result.rows) == [(22,)]
    assert source.state_hash() == replica.state_hash()
