"""Helpers of the CDC tests: a real database, a webhook receiver on 127.0.0.1:0, bounded waits."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from p2pdb.cdc import SIGNATURE_HEADER, verify_signature
from p2pdb.log import Identity
from p2pdb.store import Database
from p2pdb.store.registry import Registry

WAIT_TIMEOUT = 20.0


async def wait_until(
    predicate: Callable[[], bool], timeout: float = WAIT_TIMEOUT, what: str = "condition"
) -> None:
    """Poll ``predicate`` (cheap, in-process) until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def make_registry(tmp_path: Path, name: str = "shop") -> tuple[Registry, Database]:
    """A file-backed registry (as a node has) with database ``name`` holding tables ``items`` and ``orders``."""
    registry = Registry(Identity.generate(), tmp_path / "data")
    db = registry.create(name)
    db.write(lambda c: c.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER)"))
    db.write(lambda c: c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item INTEGER)"))
    return registry, db


def insert_items(db: Database, start: int, count: int) -> None:
    """``count`` transactions, each inserting one row into ``items``."""
    for i in range(start, start + count):
        db.write(lambda c, i=i: c.execute("INSERT INTO items VALUES (?, ?, ?)", (i, f"item {i}", i % 7)))


def expected_events(db: Database, after: int = 0, table: str | None = None) -> list[dict[str, Any]]:
    return [c.to_json() for c in db.changes.read(after, table=table, limit=1_000_000)]


@dataclass
class Delivery:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """An aiohttp webhook endpoint that answers 500 to its first ``fail_first`` requests."""

    secret: str
    fail_first: int = 0
    requests: list[Delivery] = field(default_factory=list)
    bad_signatures: int = 0
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify_signature(self.secret, raw, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        status = 500 if len(self.requests) < self.fail_first else 200
        self.requests.append(Delivery(status, dict(request.headers), json.loads(raw)))
        return web.Response(status=status, text="try again" if status == 500 else "ok")

    def accepted(self) -> list[dict[str, Any]]:
        """Events of the requests answered 2xx, in arrival order."""
        return [event for d in self.requests if d.status == 200 for event in d.body["events"]]
