"""A change written over MySQL on node A appears on node B's feed (two nodes in one event loop)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import aiomysql
import pytest

from p2pdb.node import Node

from .conftest import TIMEOUT, MakeApi, start_node
from .helpers import read_ndjson, read_ws


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    a = await start_node(tmp_path / "a")
    b = await start_node(tmp_path / "b", bootstrap=[a.replicator.address])
    try:
        yield a, b
    finally:
        await b.stop()
        await a.stop()


async def _wait_for(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(TIMEOUT):
            while not check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_a_mysql_write_on_a_appears_on_bs_feed(pair: tuple[Node, Node], make_api: MakeApi) -> None:
    a, b = pair
    api = await make_api(b)
    assert a.mysql is not None and a.identity is not None
    conn = await aiomysql.connect(host="127.0.0.1", port=a.mysql.port, user="root", autocommit=True)
    async with conn.cursor() as cur:
        await cur.execute("CREATE DATABASE shop")
        await cur.execute("USE shop")
        await cur.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        await _wait_for(lambda: b.registry is not None and "shop" in b.registry, "shop on b")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{api.port}") as client:
            stream = await client.get("/v1/changes", params={"db": "shop"})
            ws = await client.ws_connect("/v1/changes/ws", params={"db": "shop"})
            await cur.execute("INSERT INTO items VALUES (1, 'tea')")
            for events in (await read_ndjson(stream, 2), await read_ws(ws, 2)):
                ddl, insert = events
                assert ddl["op"] == "ddl" and ddl["table"] == "items"
                assert insert["op"] == "insert" and insert["row"] == {"id": 1, "name": "tea"}
                assert insert["author"] == a.identity.peer_id and insert["db"] == "shop"
            stream.close()
            await ws.close()

            peers = (await (await client.get("/v1/peers")).json())["peers"]
            assert [p["peer_id"] for p in peers] == [a.identity.peer_id]
            assert {"address", "last_seen_seconds", "latency_ms", "lag", "entries_received"} <= set(peers[0])
            assert peers[0]["entries_received"] >= 2
            status = await (await client.get("/v1/status")).json()
            assert [p["peer_id"] for p in status["peers"]] == [a.identity.peer_id]
            metrics = await (await client.get("/metrics")).text()
            assert "p2pdb_replication_peers 1.0" in metrics
            for direction in ("sent", "received"):  # b sent heads, received the entries
                found = re.search(rf'p2pdb_replication_bytes_total{{direction="{direction}"}} (\S+)', metrics)
                assert found is not None and float(found.group(1)) > 0, direction
    conn.close()
