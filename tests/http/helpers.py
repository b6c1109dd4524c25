"""Helpers of the HTTP API tests: writing changes and reading the three stream formats."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from p2pdb.node import Node
from p2pdb.store import Database

from .conftest import TIMEOUT


def make_table(node: Node, name: str, table: str = "t") -> Database:
    assert node.registry is not None
    db = node.registry.create(name)
    db.write(lambda c: c.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT)"))
    return db


def insert_rows(db: Database, start: int, count: int, *, table: str = "t", per_commit: int = 100) -> None:
    """Insert rows ``start .. start+count-1`` (one change each), ``per_commit`` per transaction."""
    for first in range(start, start + count, per_commit):
        ids = range(first, min(first + per_commit, start + count))
        insert(db, table, [(i, f"v{i}") for i in ids])


def insert(db: Database, table: str, rows: list[tuple[int, str]]) -> None:
    """One transaction inserting ``rows``."""
    db.write(lambda c: c.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows))


def all_ids(db: Database, after: int = 0, table: str | None = None) -> list[int]:
    out: list[int] = []
    while page := db.changes.read(after, table=table, limit=5000):
        out += [c.id for c in page]
        after = page[-1].id
    return out


async def read_ndjson(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events of an NDJSON stream (heartbeat newlines skipped)."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while len(events) < count:
            line = await response.content.readline()
            assert line, f"stream ended after {len(events)} events"
            if line.strip():
                events.append(json.loads(line))
    return events


async def read_sse(response: aiohttp.ClientResponse, count: int) -> list[tuple[int, dict[str, Any]]]:
    """The next ``count`` (id, event) pairs of an SSE stream (comments skipped)."""
    events: list[tuple[int, dict[str, Any]]] = []
    event_id: int | None = None
    data: dict[str, Any] | None = None
    async with asyncio.timeout(TIMEOUT):
        while len(events) < count:
            line = (await response.content.readline()).decode()
            assert line, f"stream ended after {len(events)} events"
            line = line.rstrip("\n")
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                assert event_id is not None
                events.append((event_id, data))
                event_id, data = None, None
    return events


async def read_ws(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while len(events) < count:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            events.append(json.loads(message.data))
    return events
