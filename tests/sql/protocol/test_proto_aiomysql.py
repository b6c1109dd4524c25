"""aiomysql: many concurrent connections and queries from one event loop."""

from __future__ import annotations

import asyncio

import aiomysql
import pymysql
import pytest
from conftest import ServerThread


async def connect(port: int) -> aiomysql.Connection:
    return await asyncio.wait_for(
        aiomysql.connect(host="127.0.0.1", port=port, user="root", db="test", autocommit=True), 10
    )


async def test_concurrent_connections_and_queries(server: ServerThread) -> None:
    async def worker(i: int) -> list[tuple[int, str]]:
        conn = await connect(server.port)
        try:
            async with conn.cursor() as cur:
                await cur.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT)")
                for j in range(20):
                    await cur.execute("INSERT INTO w (v) VALUES (%s)", (f"{i}-{j}",))
                    assert cur.lastrowid == j + 1
                await cur.execute("SELECT id, v FROM w WHERE id > %s ORDER BY id", (18,))
                return list(await cur.fetchall())
        finally:
            conn.close()

    results = await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(30))), 30)
    for i, rows in enumerate(results):
        assert rows == [(19, f"{i}-18"), (20, f"{i}-19")]


async def test_errors_and_types(server: ServerThread) -> None:
    conn = await connect(server.port)
    try:
        async with conn.cursor() as cur:
            with pytest.raises(pymysql.ProgrammingError) as info:
                await cur.execute("SELECT * FROM absent")
            assert info.value.args[0] == 1146
            await cur.execute("SELECT 1.5, 'ü', NULL, x'01'")
            assert await cur.fetchall() == ((1.5, "ü", None, b"\x01"),)
            await conn.ping(reconnect=False)
            await conn.select_db("other")
            await cur.execute("SELECT DATABASE()")
            assert await cur.fetchone() == ("other",)
    finally:
        conn.close()


async def test_abandoned_connections_are_released(server: ServerThread) -> None:
    before = server.connection_count
    sessions_before = len(server.backend.sessions)
    conns = [await connect(server.port) for _ in range(20)]
    assert server.connection_count >= before + 20
    for c in conns:
        c.close()  # closes the socket without COM_QUIT
    deadline = asyncio.get_running_loop().time() + 5
    while server.connection_count > before and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert server.connection_count <= before
    new_sessions = server.backend.sessions[sessions_before:]
    assert len(new_sessions) == 20 and all(s.closed for s in new_sessions)  # each closed exactly once
