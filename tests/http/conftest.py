"""Fixtures of the HTTP API tests: in-process nodes on 127.0.0.1 port 0, their HttpApi, a client.

``FakeWebhooks`` follows the API of ``p2pdb.cdc.webhooks.WebhookManager`` so the webhook routes are
tested without delivery. Every test writes its own database; every wait is bounded (``TIMEOUT``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from p2pdb.config import Config
from p2pdb.http import HttpApi
from p2pdb.node import Node

TIMEOUT = 15.0


class FakeWebhooks:
    def __init__(self) -> None:
        self.hooks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def register(self, url: str, db: str, table: str | None, secret: str) -> dict[str, Any]:
        if url.endswith("/refuse"):
            raise ValueError("receiver refused")
        hook_id = f"wh{next(self._ids)}"
        self.hooks[hook_id] = {
            "id": hook_id,
            "url": url,
            "db": db,
            "table": table,
            "secret": secret,
            "cursor": 0,
            "lag": 3,
            "last_error": None,
            "last_success_at": None,
            "failures": 0,
        }
        return dict(self.hooks[hook_id])

    def list(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.hooks.values()]

    def delete(self, webhook_id: str) -> bool:
        return self.hooks.pop(webhook_id, None) is not None


async def start_node(path: Path, **options: Any) -> Node:
    node = Node(Config.load(path, {"mysql_port": 0, "p2p_port": 0, **options}))
    await node.start()
    return node


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = await start_node(tmp_path / "node")
    yield node
    await node.stop()


MakeApi = Callable[..., Awaitable[HttpApi]]


@pytest.fixture
async def make_api() -> AsyncIterator[MakeApi]:
    """``await make_api(node, **options)``: a started HttpApi on 127.0.0.1 port 0 (stopped at the end)."""
    apis: list[HttpApi] = []

    async def make(node: Node, **options: Any) -> HttpApi:
        options.setdefault("host", "127.0.0.1")
        api = HttpApi(node, port=0, **options)
        await api.start()
        apis.append(api)
        return api

    yield make
    for api in apis:
        await api.stop()


@pytest.fixture
async def api(node: Node, make_api: MakeApi) -> HttpApi:
    return await make_api(node, webhooks=FakeWebhooks())


@pytest.fixture
async def client(api: HttpApi) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=TIMEOUT, sock_read=TIMEOUT)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{api.port}", timeout=timeout) as session:
        yield session
