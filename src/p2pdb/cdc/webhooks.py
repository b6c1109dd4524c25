"""Webhooks: the change feed of one database (optionally one table) POSTed to a URL, at least once, in order.

Each webhook has its own task, cursor and retry schedule, so a slow or dead endpoint never holds up
another. A task sends one batch at a time (up to ``batch_size`` events after its cursor, one JSON
request), moves its cursor only after a 2xx answer, and retries anything else (network error,
timeout, non-2xx, redirect) after an exponential, jittered, capped delay. It sleeps on the change
feed's listeners when it has caught up. Registrations, cursors and delivery status live in the
:class:`~p2pdb.cdc.cursor_store.CursorStore`, so pending deliveries survive a restart.

Request (docs/cdc.md)::

    POST <url>
    Content-Type: application/json
    X-P2PDB-Webhook: <webhook id>
    X-P2PDB-Delivery: <webhook id>-<first change id>-<last change id>
    X-P2PDB-Timestamp: <unix seconds, also "sent_at" in the body>
    X-P2PDB-Signature: sha256=<hex HMAC-SHA256 of the raw body with the webhook's secret>

    {"webhook": "<id>", "db": "shop", "sent_at": 1700000000, "events": [<event>, ...]}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from p2pdb import __version__
from p2pdb.cdc.cursor_store import CursorStore, WebhookRecord
from p2pdb.cdc.signing import SIGNATURE_HEADER, sign
from p2pdb.cdc.watch import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RETRY_BASE,
    DEFAULT_RETRY_CAP,
    FeedWatcher,
    backoff_delay,
    utc_now,
    wait_woken,
)
from p2pdb.store.changes import Change
from p2pdb.store.registry import Registry

log = logging.getLogger(__name__)

#: Events per request.
DEFAULT_BATCH_SIZE = 100
#: Seconds a request may take (connect, send, answer) before it counts as failed.
DEFAULT_REQUEST_TIMEOUT = 10.0
#: Lag of a table-filtered webhook is counted up to this many changes.

Batch = list[Change]  # (``list`` is also a method name of WebhookManager)


@dataclass(slots=True)
class _Hook:
    record: WebhookRecord
    cursor: int
    wake: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None
    attempt: int = 0
    gap_reported: int = -1

    @property
    def owner(self) -> str:
        return f"webhook:{self.record.id}"


class WebhookManager:
    """Registers webhooks and delivers their databases' changes.

    ``register``/``list``/``delete`` work whether or not the manager runs; deliveries happen
    between ``start()`` and ``stop()``. A stopped manager is not restarted: make a new one on the
    same ``state_path`` (that is what a node restart does).
    """

    def __init__(
        self,
        registry: Registry,
        state_path: Path,
        *,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_cap: float = DEFAULT_RETRY_CAP,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._registry = registry
        self._store = CursorStore(state_path)
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self.batch_size = batch_size
        self.request_timeout = request_timeout
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.poll_interval = poll_interval
        self._watcher = FeedWatcher(registry)
        self._running = False
        self._hooks: dict[str, _Hook] = {}
        for record in self._store.webhooks():
            cursor = self._store.cursors(f"webhook:{record.id}").get(record.db, 0)
            self._hooks[record.id] = _Hook(record, cursor)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            return
        self._session = (
            self._session_factory()
            if self._session_factory is not None
            else aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        )
        self._watcher.start()
        self._running = True
        for hook in self._hooks.values():
            self._spawn(hook)

    async def stop(self) -> None:
        """Stop delivering (an interrupted request is resent by the next manager)."""
        self._running = False
        tasks = [hook.task for hook in self._hooks.values() if hook.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watcher.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._store.close()

    # -- API (used by the HTTP routes) ----------------------------------------------------------

    def register(self, url: str, db: str, table: str | None, secret: str) -> dict[str, Any]:
        """Register a webhook; it receives the changes committed after this call.

        Raises ValueError for a URL that is not http(s) with a host, an empty database name,
        an empty table name or an empty secret. The database need not exist yet (when it
        appears, the webhook receives it from its first change).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook url must be an http:// or https:// URL with a host")
        if not isinstance(db, str) or not db:
            raise ValueError("webhook database must be a non-empty name")
        if table is not None and (not isinstance(table, str) or not table):
            raise ValueError("webhook table must be a non-empty name or null")
        if not isinstance(secret, str) or not secret:
            raise ValueError("webhook secret must not be empty")
        database = self._registry.get(db)
        cursor = database.changes.last_id() if database is not None else 0
        record = WebhookRecord(secrets.token_hex(8), url, db, table, secret, utc_now())
        self._store.add_webhook(record, cursor)
        hook = _Hook(record, cursor)
        self._hooks[record.id] = hook
        if self._running:
            self._spawn(hook)
        return self._describe(hook)

    def list(self) -> list[dict[str, Any]]:
        """Every webhook with its cursor, lag (changes not yet delivered) and delivery status."""
        return [self._describe(hook) for hook in self._hooks.values()]

    def get(self, webhook_id: str) -> dict[str, Any] | None:
        hook = self._hooks.get(webhook_id)
        return self._describe(hook) if hook is not None else None

    def delete(self, webhook_id: str) -> bool:
        """Forget a webhook and its cursor; False if there is no such webhook."""
        hook = self._hooks.pop(webhook_id, None)
        if hook is not None and hook.task is not None:
            hook.task.cancel()
            if hook.wake is not None:
                self._watcher.unsubscribe(hook.record.db, hook.wake)
        deleted = self._store.delete_webhook(webhook_id)
        return hook is not None or deleted

    def _describe(self, hook: _Hook) -> dict[str, Any]:
        record = hook.record
        return {
            "id": record.id,
            "url": record.url,
            "db": record.db,
            "table": record.table,
            "cursor": hook.cursor,
            "lag": self._lag(hook),
            "last_error": record.last_error,
            "last_success_at": record.last_success_at,
            "failures": record.failures,
            "created_at": record.created_at,
        }

    def _lag(self, hook: _Hook) -> int:
        database = self._registry.get(hook.record.db)
        if database is None:
            return 0
        if hook.record.table is None:
            # Change ids are consecutive (AUTOINCREMENT inside the committing transaction).
            return max(0, database.changes.last_id() - hook.cursor)
        return database.changes.count(hook.cursor, table=hook.record.table)

    # -- delivery -------------------------------------------------------------------------------

    def _spawn(self, hook: _Hook) -> None:
        hook.wake = self._watcher.subscribe(hook.record.db)
        hook.task = asyncio.create_task(self._run(hook), name=f"webhook-{hook.record.id}")

    async def _run(self, hook: _Hook) -> None:
        assert hook.wake is not None
        while True:
            hook.wake.clear()
            batch, upto = self._next_batch(hook)
            if not batch:
                if upto > hook.cursor:  # only other tables' changes: skip them
                    self._advance(hook, upto)
                await wait_woken(hook.wake, self.poll_interval)
                continue
            error = await self._deliver(hook, batch)
            if error is None:
                hook.attempt = 0
                hook.record.failures = 0
                hook.record.last_success_at = utc_now()
                self._advance(hook, max(upto, batch[-1].id))
                self._store.update_webhook(hook.record)
                continue
            hook.record.failures += 1
            hook.record.last_error = error
            self._store.update_webhook(hook.record)
            delay = backoff_delay(hook.attempt, self.retry_base, self.retry_cap)
            hook.attempt += 1
            log.info("webhook %s: %s; retrying in %.1f s", hook.record.id, error, delay)
            await asyncio.sleep(delay)

    def _next_batch(self, hook: _Hook) -> tuple[Batch, int]:
        """The next events to send, and the id up to which the feed has been looked at."""
        database = self._registry.get(hook.record.db)
        if database is None:
            return [], hook.cursor
        feed = database.changes
        last = feed.last_id()
        if last < hook.cursor:
            # Ids never go back in one feed: the database was dropped and created again.
            hook.record.last_error = f"change feed restarted (last id {last} < cursor {hook.cursor})"
            self._advance(hook, 0)
            self._store.update_webhook(hook.record)
        first = feed.first_id()
        if first > hook.cursor + 1 and first - 1 > hook.gap_reported:
            hook.gap_reported = first - 1
            log.warning(
                "webhook %s: changes %d..%d were pruned before delivery",
                hook.record.id,
                hook.cursor + 1,
                first - 1,
            )
        batch = feed.read(hook.cursor, table=hook.record.table, limit=self.batch_size)
        upto = last if len(batch) < self.batch_size else batch[-1].id
        return batch, upto

    def _advance(self, hook: _Hook, cursor: int) -> None:
        hook.cursor = cursor
        self._store.set_cursor(hook.owner, hook.record.db, cursor)

    async def _deliver(self, hook: _Hook, batch: Batch) -> str | None:
        """POST one batch; None on a 2xx answer, else what went wrong."""
        assert self._session is not None
        record = hook.record
        sent_at = int(time.time())
        document = {
            "webhook": record.id,
            "db": record.db,
            "sent_at": sent_at,
            "events": [c.to_json() for c in batch],
        }
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"p2pdb/{__version__}",
            "X-P2PDB-Webhook": record.id,
            "X-P2PDB-Delivery": f"{record.id}-{batch[0].id}-{batch[-1].id}",
            "X-P2PDB-Timestamp": str(sent_at),
            SIGNATURE_HEADER: sign(record.secret, body),
        }
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self._session.post(
                record.url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                if 200 <= response.status < 300:
                    return None
                detail = b""
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    detail = await response.content.read(200)
                text = detail.decode("utf-8", "replace").strip()
                return f"HTTP {response.status}" + (f": {text}" if text else "")
        except TimeoutError:
            return f"timeout after {self.request_timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
