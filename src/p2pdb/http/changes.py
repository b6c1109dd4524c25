"""Change-feed routes: a database's changes as NDJSON, Server-Sent Events or WebSocket messages.

``GET /v1/changes?db=D[&table=T][&from=ID]`` and ``GET /v1/changes/ws`` (same parameters) send every
change with an id above ``from`` (default: from the oldest retained change), in id order, then stay
open and send new changes as they commit. Resuming with the last id received gives every later
change exactly once: ids are strictly increasing on this node and the feed is read in id order.

How a stream runs (:meth:`ChangeRoutes._pump`):
1. Read one page (at most ``PAGE`` changes) after the last id sent, synchronously on the event loop
   (the store has one writer connection and commits synchronously, so a page never sees half a
   transaction).
2. Write the page; the write waits while the socket's buffer is full, so a slow client holds at most
   one page plus the transport's buffer in memory.
3. When a page comes back short, everything committed so far was sent: wait for the feed's listener
   to signal a commit (or send a heartbeat after ``heartbeat`` seconds of silence) and go to 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import apsw
import msgspec
from aiohttp import WSMsgType, web

from p2pdb.http.auth import database, http_error, parse_uint, query_uint
from p2pdb.store.changes import Change, ChangeFeed

log = logging.getLogger(__name__)

#: Changes read from the feed per page (and so the most a stream buffers besides the socket's own).
PAGE = 500
MAX_TABLE_NAME = 64
#: Seconds a closing WebSocket waits for the client's close frame.
CLOSE_TIMEOUT = 2.0
_encode = msgspec.json.Encoder().encode

SendPage = Callable[[list[Change]], Awaitable[None]]
Heartbeat = Callable[[], Awaitable[None]]


class Subscription:
    """Wakes one stream when its database's feed commits; :meth:`close` ends the stream."""

    __slots__ = ("_event", "closed", "feed")

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self.closed = False
        self._event = asyncio.Event()
        feed.listeners.append(self._on_commit)

    def _on_commit(self, last_id: int) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """Wait for a commit (True) or ``timeout`` seconds of silence (False)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.closed = True
        self._event.set()
        with contextlib.suppress(ValueError):
            self.feed.listeners.remove(self._on_commit)


@dataclass(slots=True)
class FeedRequest:
    db: Any  # p2pdb.store.Database
    table: str | None
    after: int


def ndjson_page(page: list[Change]) -> bytes:
    return b"".join(_encode(c.to_json()) + b"\n" for c in page)


def sse_page(page: list[Change]) -> bytes:
    # msgspec escapes control characters, so one event's JSON is always one `data:` line.
    return b"".join(b"id: %d\ndata: %s\n\n" % (c.id, _encode(c.to_json())) for c in page)


class ChangeRoutes:
    def __init__(self, node: Any, *, heartbeat: float = 15.0) -> None:
        self.node = node
        self.heartbeat = heartbeat
        self.subscriptions: set[Subscription] = set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/changes", self.stream, allow_head=False),
            web.get("/v1/changes/ws", self.websocket, allow_head=False),
            web.get("/v1/history", self.history),
        ]

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        for sub in list(self.subscriptions):
            sub.close()

    # -- requests -------------------------------------------------------------------------------

    def _parse(self, request: web.Request, *, sse: bool) -> FeedRequest:
        db = database(self.node, request.query.get("db"))
        table = request.query.get("table")
        if table is not None and not 0 < len(table) <= MAX_TABLE_NAME:
            http_error(400, f"table must be 1 to {MAX_TABLE_NAME} characters")
        after = query_uint(request, "from")
        last_event = request.headers.get("Last-Event-ID") if sse else None
        if last_event:
            # A reconnecting EventSource repeats its URL (with the original `from`): the header wins.
            after = parse_uint(last_event.strip(), "Last-Event-ID")
        feed: ChangeFeed = db.changes
        if after is None:
            return FeedRequest(db, table, 0)
        first, last = feed.first_id(), feed.last_id()
        if first and after < first - 1:
            http_error(
                410,
                f"changes after {after} are no longer retained; the oldest retained change is {first}",
                oldest_id=first,
            )
        if after > last:
            http_error(
                400,
                f"from {after} is beyond this node's newest change {last} (change ids are per node)",
                last_id=last,
            )
        return FeedRequest(db, table, after)

    async def history(self, request: web.Request) -> web.Response:
        """``GET /v1/history?db=D&table=T[&key=JSON]``: every retained version of the rows of T (of
        the row whose primary-key values are the JSON array ``key``), oldest first, each with its
        author's peer id, Lamport clock, entry CID and wall time (DATETIME(3) text, UTC)."""
        db = database(self.node, request.query.get("db"))
        table = request.query.get("table")
        if table is None or not 0 < len(table) <= MAX_TABLE_NAME:
            http_error(400, f"table must be 1 to {MAX_TABLE_NAME} characters")
        key = None
        if "key" in request.query:
            try:
                key = json.loads(request.query["key"])
            except ValueError:
                key = None
            if not isinstance(key, list):
                http_error(400, "key must be a JSON array of the primary-key values, e.g. [42]")
        versions = [
            {
                "id": id_,
                "table": tbl,
                "key": json.loads(pk),
                "op": op,
                "row": json.loads(row),
                "changed": json.loads(changed),
                "author": author,
                "clock": clock,
                "cid": cid,
                "wall": wall,
            }
            for id_, tbl, pk, op, row, changed, author, clock, cid, wall in db.changes.history(table, key)
        ]
        return web.json_response({"db": db.name, "table": table, "versions": versions})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        sse = "text/event-stream" in request.headers.get("Accept", "")
        feed_request = self._parse(request, sse=sse)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream" if sse else "application/x-ndjson",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        encode = sse_page if sse else ndjson_page
        beat = b": heartbeat\n\n" if sse else b"\n"

        async def send_page(page: list[Change]) -> None:
            await response.write(encode(page))

        async def heartbeat() -> None:
            await response.write(beat)

        with contextlib.suppress(ConnectionError):
            await self._pump(feed_request, send_page, heartbeat)
        return response

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        feed_request = self._parse(request, sse=False)
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=65536, timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)

        async def send_page(page: list[Change]) -> None:
            for change in page:
                await ws.send_str(_encode(change.to_json()).decode())

        async def heartbeat() -> None:
            return None  # the WebSocket's own ping/pong (heartbeat=) keeps the connection

        pump = asyncio.ensure_future(self._pump(feed_request, send_page, heartbeat))
        reader = asyncio.ensure_future(_read_until_closed(ws))
        try:
            await asyncio.wait((pump, reader), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, reader):
                task.cancel()
            for task in (pump, reader):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
            await ws.close(code=1001, message=b"server closing")
        return ws

    # -- the stream loop --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _subscribe(self, feed: ChangeFeed) -> Iterator[Subscription]:
        sub = Subscription(feed)
        self.subscriptions.add(sub)
        try:
            yield sub
        finally:
            sub.close()
            self.subscriptions.discard(sub)

    async def _pump(self, request: FeedRequest, send_page: SendPage, heartbeat: Heartbeat) -> None:
        db, table, after = request.db, request.table, request.after
        feed: ChangeFeed = db.changes
        with self._subscribe(feed) as sub:
            while not sub.closed and self._is_open(db):
                # 1. One page after the last id sent (synchronous: no commit can interleave).
                sub.clear()
                try:
                    last = feed.last_id()
                    page = feed.read(after, table=table, limit=PAGE)
                except apsw.Error as exc:  # the database was dropped or closed meanwhile
                    log.info("change stream of %s ended: %s", db.name, exc)
                    return
                # 2. Send it; the write waits while the client's socket is full.
                if page:
                    await send_page(page)
                    after = page[-1].id
                if len(page) == PAGE:
                    await asyncio.sleep(0)  # let other tasks run between pages of a long catch-up
                    continue
                # 3. All committed changes up to `last` are sent (those of other tables skipped).
                after = max(after, last)
                if not await sub.wait(self.heartbeat):
                    await heartbeat()

    def _is_open(self, db: Any) -> bool:
        registry = getattr(self.node, "registry", None)
        return registry is not None and registry.get(db.name) is db


async def _read_until_closed(ws: web.WebSocketResponse) -> None:
    """Consume (and ignore) client messages so pongs and the close handshake are processed."""
    async for message in ws:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
