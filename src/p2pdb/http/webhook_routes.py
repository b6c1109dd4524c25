"""Webhook routes: register, list and delete the node's webhooks (delivery lives in ``p2pdb.cdc``).

The routes validate input and hand it to a webhook manager with this API (``p2pdb.cdc.webhooks.
WebhookManager``): ``register(url, db, table, secret) -> dict``, ``list() -> list[dict]`` (each: id,
url, db, table, cursor, lag, last_error, last_success_at, failures) and ``delete(id) -> bool``; each
may be a plain or an async method. Secrets are never sent back.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from yarl import URL

from p2pdb.http.auth import database, http_error

MAX_URL = 2048
MAX_SECRET = 1024
_ID = re.compile(r"^[A-Za-z0-9_.~-]{1,128}$")


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a manager method, plain or async; a client hanging up does not cancel it half-way."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await asyncio.shield(result)
    return result


def _public(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k != "secret"}


class WebhookRoutes:
    def __init__(self, node: Any, manager: Callable[[], Any]) -> None:
        self.node = node
        self._manager = manager  # resolved per request: the node may wire its manager after start

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/webhooks", self.register),
            web.get("/v1/webhooks", self.list),
            web.delete("/v1/webhooks/{id}", self.delete),
        ]

    def manager(self) -> Any:
        manager = self._manager()
        if manager is None:
            http_error(503, "webhooks are not enabled on this node")
        return manager

    async def register(self, request: web.Request) -> web.Response:
        manager = self.manager()
        body = await request.read()  # over client_max_size: 413 (error middleware)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            http_error(400, "the body must be a JSON object")
        if not isinstance(data, dict):
            http_error(400, "the body must be a JSON object")
        url, db_name, table, secret = (data.get(k) for k in ("url", "db", "table", "secret"))
        _check_url(url)
        if not isinstance(db_name, str):
            http_error(400, "db must be a string")
        database(self.node, db_name)
        if table is not None and (not isinstance(table, str) or not 0 < len(table) <= 64):
            http_error(400, "table must be a string of 1 to 64 characters")
        if not isinstance(secret, str) or not 0 < len(secret) <= MAX_SECRET:
            http_error(400, f"secret must be a string of 1 to {MAX_SECRET} characters")
        try:
            hook = await _call(manager.register, url, db_name, table, secret)
        except ValueError as exc:
            http_error(400, str(exc))
        return web.json_response(_public(hook), status=201)

    async def list(self, request: web.Request) -> web.Response:
        hooks = await _call(self.manager().list)
        return web.json_response({"webhooks": [_public(h) for h in hooks]})

    async def delete(self, request: web.Request) -> web.Response:
        manager = self.manager()
        hook_id = request.match_info["id"]
        if not _ID.match(hook_id):
            http_error(400, "malformed webhook id")
        if not await _call(manager.delete, hook_id):
            http_error(404, f"unknown webhook {hook_id!r}")
        return web.json_response({"deleted": hook_id})

    def metrics(self) -> Iterator[Metric]:
        """Per-webhook lag and failures, for /metrics (skipped when the manager's list is async)."""
        manager = self._manager()
        if manager is None:
            return
        hooks = manager.list()
        if inspect.iscoroutine(hooks):
            hooks.close()
            return
        lag = GaugeMetricFamily("p2pdb_webhook_lag", "Changes not yet delivered", labels=["id", "db"])
        failures = GaugeMetricFamily(
            "p2pdb_webhook_failures",
            "Failed deliveries (as the webhook manager counts them)",
            labels=["id", "db"],
        )
        for hook in hooks:
            labels = [str(hook.get("id")), str(hook.get("db"))]
            if isinstance(hook.get("lag"), int | float):
                lag.add_metric(labels, hook["lag"])
            if isinstance(hook.get("failures"), int | float):
                failures.add_metric(labels, hook["failures"])
        yield from (lag, failures)


def _check_url(url: Any) -> None:
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        http_error(400, f"url must be a string of 1 to {MAX_URL} characters")
    try:
        parsed = URL(url)
    except ValueError:
        http_error(400, "url is not a valid URL")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        http_error(400, "url must be an absolute http:// or https:// URL")
