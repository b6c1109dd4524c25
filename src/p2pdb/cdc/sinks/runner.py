"""The sink runner: feeds every configured sink from the change feeds, with a durable cursor per database.

One task per sink. A pass reads, for every database the sink wants, the next batch after that
database's cursor, hands it to the sink, and moves the cursor once the sink returns (every event
acknowledged). Any exception closes the sink; the task waits (exponential backoff with jitter,
capped), reconnects and resends from the cursor, so delivery is at-least-once and in order per
database. An idle task sleeps on the change feeds' listeners.

Where a sink starts: a sink seen for the first time (no state under its ``name``) starts after the
databases' current last change (``"start": "now"``, the default) or from the oldest retained change
(``"start": "oldest"``); a database that appears later is sent from its first change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2pdb.cdc.cursor_store import CursorStore
from p2pdb.cdc.sinks.base import Sink, SinkEvent
from p2pdb.cdc.watch import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RETRY_BASE,
    DEFAULT_RETRY_CAP,
    FeedWatcher,
    backoff_delay,
    utc_now,
    wait_woken,
)
from p2pdb.store.changes import ChangeFeed
from p2pdb.store.registry import Registry

log = logging.getLogger(__name__)

#: Events per batch handed to a sink (option ``batch``).
DEFAULT_BATCH = 256
#: Longest a sink's connect() or publish() may take before the runner treats it as failed
#: (sinks have their own, shorter timeouts; this guards against one that hangs).
DEFAULT_CALL_TIMEOUT = 120.0


def _load_nats() -> type[Sink]:
    from p2pdb.cdc.sinks.nats import NatsSink

    return NatsSink


def _load_rabbitmq() -> type[Sink]:
    from p2pdb.cdc.sinks.rabbitmq import RabbitMQSink

    return RabbitMQSink


def _load_mqtt() -> type[Sink]:
    from p2pdb.cdc.sinks.mqtt import MqttSink

    return MqttSink


#: Sink types by the ``type`` of a configuration entry: (loader, pip package). Loaders import
#: lazily, so a client library is needed only when its sink is configured.
SINK_TYPES: dict[str, tuple[Callable[[], type[Sink]], str]] = {
    "nats": (_load_nats, "nats-py"),
    "rabbitmq": (_load_rabbitmq, "aio-pika"),
    "mqtt": (_load_mqtt, "aiomqtt"),
}


def make_sink(config: Mapping[str, Any]) -> Sink:
    """Build a sink from its configuration entry (ValueError when it is invalid)."""
    kind = config.get("type")
    if kind not in SINK_TYPES:
        raise ValueError(f"unknown sink type {kind!r} (known: {', '.join(sorted(SINK_TYPES))})")
    loader, package = SINK_TYPES[kind]
    try:
        cls = loader()
    except ImportError as exc:
        raise ValueError(f"the {kind} sink needs the {package} package ({exc})") from exc
    return cls.from_config(sink_name(config), config)


def sink_name(config: Mapping[str, Any]) -> str:
    """The configured ``name``, else ``<type>-<hash of the entry>`` (changing the entry then starts a
    new sink with a new cursor: set ``name`` to keep the cursor across edits)."""
    name = config.get("name")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ValueError("sink name must be a non-empty string")
        return name
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return f"{config['type']}-{digest[:10]}"


@dataclass(slots=True)
class _SinkState:
    sink: Sink
    config: Mapping[str, Any]
    db: str | None
    table: str | None
    batch: int
    cursors: dict[str, int] = field(default_factory=dict)
    connected: bool = False
    failures: int = 0
    last_error: str | None = None
    last_success_at: str | None = None
    wake: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None

    @property
    def owner(self) -> str:
        return f"sink:{self.sink.name}"


class SinkRunner:
    """Runs the sinks of the node's ``sinks`` configuration (ValueError at construction if invalid)."""

    def __init__(
        self,
        registry: Registry,
        configs: list[dict[str, Any]],
        state_path: Path,
        *,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_cap: float = DEFAULT_RETRY_CAP,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self._registry = registry
        self._state_path = state_path
        self.call_timeout = call_timeout
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.poll_interval = poll_interval
        self._states = [_state(config) for config in configs]
        names = [state.sink.name for state in self._states]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate sink names: {', '.join(duplicates)}")
        self._store: CursorStore | None = None
        self._watcher = FeedWatcher(registry)

    async def start(self) -> None:
        if self._store is not None or not self._states:
            return
        store = self._store = CursorStore(self._state_path)
        for state in self._states:
            state.cursors = store.cursors(state.owner)
            if not store.known(state.owner):
                # A new sink: position it in every existing database before any task runs.
                for name in self._registry.names():
                    database = self._registry.get(name)
                    if database is not None and self._wants(state, name):
                        start = _option_start(state.config)
                        self._set_cursor(state, name, database.changes.last_id() if start == "now" else 0)
                store.remember(state.owner, utc_now())
        self._watcher.start()
        for state in self._states:
            state.wake = self._watcher.subscribe(state.db)
            state.task = asyncio.create_task(self._run(state), name=f"sink-{state.sink.name}")

    async def stop(self) -> None:
        tasks = [state.task for state in self._states if state.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._states:
            state.task = None
            state.connected = False
            await state.sink.close()
        self._watcher.stop()
        if self._store is not None:
            self._store.close()
            self._store = None

    def status(self) -> list[dict[str, Any]]:
        """Per sink: name, type, connected, cursors per database, lag, failures, last error/success."""
        out = []
        for state in self._states:
            lag = 0
            for name, cursor in state.cursors.items():
                database = self._registry.get(name)
                if database is not None:
                    lag += max(0, database.changes.last_id() - cursor)
            out.append(
                {
                    "name": state.sink.name,
                    "type": state.sink.type,
                    "connected": state.connected,
                    "cursors": dict(state.cursors),
                    "lag": lag,
                    "failures": state.failures,
                    "last_error": state.last_error,
                    "last_success_at": state.last_success_at,
                }
            )
        return out

    # -- the loop of one sink -------------------------------------------------------------------

    async def _run(self, state: _SinkState) -> None:
        assert state.wake is not None
        attempt = 0
        while True:
            state.wake.clear()
            try:
                sent = await self._pass(state)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any client-library failure: reconnect and resend
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                state.connected = False
                await state.sink.close()
                delay = backoff_delay(attempt, self.retry_base, self.retry_cap)
                attempt += 1
                log.warning("sink %s: %s; retrying in %.1f s", state.sink.name, state.last_error, delay)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            if not sent:
                await wait_woken(state.wake, self.poll_interval)

    async def _pass(self, state: _SinkState) -> int:
        """Send one batch of every database with pending changes; the number of events sent."""
        sent = 0
        node = self._registry.identity.peer_id
        for name in self._registry.names():
            database = self._registry.get(name)
            if database is None or not self._wants(state, name):
                continue
            feed = database.changes
            cursor = self._cursor(state, name, feed)
            last = feed.last_id()
            batch = feed.read(cursor, table=state.table, limit=state.batch)
            upto = last if len(batch) < state.batch else batch[-1].id
            if batch:
                events = [SinkEvent.from_json(c.to_json(), node) for c in batch]
                async with asyncio.timeout(self.call_timeout):
                    if not state.connected:
                        await state.sink.connect()
                        state.connected = True
                    await state.sink.publish(events)
                state.failures = 0
                state.last_success_at = utc_now()
                sent += len(batch)
            if upto > cursor:
                self._set_cursor(state, name, upto)
        return sent

    def _wants(self, state: _SinkState, name: str) -> bool:
        return state.db is None or state.db == name

    def _cursor(self, state: _SinkState, name: str, feed: ChangeFeed) -> int:
        cursor = state.cursors.get(name, 0)
        if feed.last_id() < cursor:
            # Ids never go back in one feed: the database was dropped and created again.
            log.warning(
                "sink %s: change feed of %s restarted; sending it from the start", state.sink.name, name
            )
            cursor = 0
            self._set_cursor(state, name, cursor)
        return cursor

    def _set_cursor(self, state: _SinkState, name: str, cursor: int) -> None:
        state.cursors[name] = cursor
        assert self._store is not None
        self._store.set_cursor(state.owner, name, cursor)


def _option_start(config: Mapping[str, Any]) -> str:
    return str(config.get("start", "now"))


def _state(config: Mapping[str, Any]) -> _SinkState:
    if not isinstance(config, Mapping):
        raise ValueError(f"a sink configuration must be an object, not {config!r}")
    sink = make_sink(config)
    db, table, batch = config.get("db"), config.get("table"), config.get("batch", DEFAULT_BATCH)
    if db is not None and (not isinstance(db, str) or not db):
        raise ValueError(f"sink {sink.name}: db must be a database name")
    if table is not None and (not isinstance(table, str) or not table):
        raise ValueError(f"sink {sink.name}: table must be a table name")
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 10_000:
        raise ValueError(f"sink {sink.name}: batch must be an integer from 1 to 10000")
    if _option_start(config) not in ("now", "oldest"):
        raise ValueError(f"sink {sink.name}: start must be 'now' or 'oldest'")
    return _SinkState(sink, config, db, table, batch)
