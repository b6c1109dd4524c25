"""Waking consumers of the change feeds, and the retry schedule they share.

:class:`FeedWatcher` hangs one listener on every database's :class:`~p2pdb.store.changes.ChangeFeed`
(and on the registry, for databases that appear later) and sets the :class:`asyncio.Event` of every
consumer interested in that database. Consumers (a webhook, a broker sink) clear their event, read
the feed, and wait on the event when nothing is left: no busy polling. A slow periodic poll
(``poll_interval``) is only a safety net for a wake-up that could not be delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from p2pdb.store.changes import ChangeFeed
from p2pdb.store.registry import Registry

#: First retry delay, seconds; doubles with every consecutive failure.
DEFAULT_RETRY_BASE = 0.5
#: Longest retry delay, seconds.
DEFAULT_RETRY_CAP = 30.0
#: Safety poll of an idle consumer, seconds (listeners normally wake it at once).
DEFAULT_POLL_INTERVAL = 5.0


def backoff_delay(attempt: int, base: float = DEFAULT_RETRY_BASE, cap: float = DEFAULT_RETRY_CAP) -> float:
    """Delay before retry number ``attempt`` (0 = first retry): exponential, capped, with jitter.

    "Equal jitter": half of ``min(cap, base * 2**attempt)`` is fixed and half is random, so retries
    of many consumers that failed together spread out, yet a delay never collapses to zero.
    """
    delay = min(cap, math.ldexp(base, min(attempt, 32)))
    return delay / 2 + random.uniform(0, delay / 2)


async def wait_woken(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes (whichever comes first)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (how status reports show times)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FeedWatcher:
    """Sets consumers' events when a database's change feed moves or a database appears."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._events: dict[str | None, set[asyncio.Event]] = {}
        self._attached: dict[str, tuple[ChangeFeed, Callable[[int], None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None

    def start(self) -> None:
        """Attach to every database (call on the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._registry.listeners.append(self._on_database)
        for name in self._registry.names():
            self._attach(name)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._registry.listeners.remove(self._on_database)
        for feed, listener in self._attached.values():
            with contextlib.suppress(ValueError):
                feed.listeners.remove(listener)
        self._attached.clear()

    def subscribe(self, db: str | None) -> asyncio.Event:
        """An event set whenever database ``db`` (any database when None) changes or appears."""
        event = asyncio.Event()
        self._events.setdefault(db, set()).add(event)
        return event

    def unsubscribe(self, db: str | None, event: asyncio.Event) -> None:
        self._events.get(db, set()).discard(event)

    def _on_database(self, name: str) -> None:
        self._attach(name)
        self._wake(name)

    def _attach(self, name: str) -> None:
        db = self._registry.get(name)
        if db is None:
            return
        current = self._attached.get(name)
        if current is not None:
            if current[0] is db.changes:
                return
            # The database was dropped and created again: its feed is a new object.
            with contextlib.suppress(ValueError):
                current[0].listeners.remove(current[1])

        def listener(_last_id: int) -> None:
            self._wake(name)

        db.changes.listeners.append(listener)
        self._attached[name] = (db.changes, listener)

    def _wake(self, name: str) -> None:
        if self._loop is not None and threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self._wake, name)
            return
        for key in (name, None):
            for event in self._events.get(key, ()):
                event.set()
