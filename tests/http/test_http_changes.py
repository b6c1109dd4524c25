"""The change feed over HTTP: resume without loss or duplicates, live events, filters, limits."""

from __future__ import annotations

import asyncio

import aiohttp

from p2pdb.http import HttpApi
from p2pdb.http.changes import Subscription
from p2pdb.node import Node
from p2pdb.store import Database

from .conftest import TIMEOUT, MakeApi
from .helpers import all_ids, insert, insert_rows, make_table, read_ndjson, read_sse, read_ws

BACKLOG = 10_000  # changes written before the stream starts (1 CREATE TABLE + 9,999 inserts)
LIVE = 500  # changes written while the client streams, disconnects and resumes
CUT = 3_777  # events read before the client disconnects


def _backlog(node: Node, name: str) -> Database:
    db = make_table(node, name)
    insert_rows(db, 1, BACKLOG - 1)
    assert db.changes.last_id() == BACKLOG
    return db


async def _write_live(db: Database) -> None:
    for batch in range(10):
        await asyncio.sleep(0.01)
        insert_rows(db, BACKLOG + batch * 50, 50, per_commit=50)


def _assert_exactly_once(db: Database, ids: list[int]) -> None:
    expected = all_ids(db)
    assert len(expected) == BACKLOG + LIVE
    assert ids == expected  # every change, once, in id order


async def test_ndjson_resume_after_disconnect_loses_and_duplicates_nothing(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = _backlog(node, "feed")
    writer = asyncio.ensure_future(_write_live(db))
    response = await client.get("/v1/changes", params={"db": "feed"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    first = await read_ndjson(response, CUT)
    response.close()  # drop the connection mid-stream, unread data and all
    resumed = await client.get("/v1/changes", params={"db": "feed", "from": str(first[-1]["id"])})
    second = await read_ndjson(resumed, BACKLOG + LIVE - CUT)
    await asyncio.wait_for(writer, TIMEOUT)
    resumed.close()
    _assert_exactly_once(db, [e["id"] for e in first + second])
    event = next(e for e in first if e["pk"] == [1])
    assert set(event) == {"id", "db", "table", "op", "pk", "row", "changed", "cid", "author", "clock", "wall"}
    assert event["op"] == "insert" and event["pk"] == [1] and event["row"] == {"id": 1, "v": "v1"}
    assert isinstance(event["wall"], int) and event["wall"] > 1_700_000_000_000  # ms since the epoch
    assert node.identity is not None and event["author"] == node.identity.peer_id


async def test_sse_resume_with_last_event_id_loses_and_duplicates_nothing(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = _backlog(node, "feed")
    writer = asyncio.ensure_future(_write_live(db))
    headers = {"Accept": "text/event-stream"}
    response = await client.get("/v1/changes", params={"db": "feed"}, headers=headers)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    first = await read_sse(response, CUT)
    response.close()
    # As a reconnecting EventSource does: the same URL (here with from=0) plus Last-Event-ID, which wins.
    resumed = await client.get(
        "/v1/changes",
        params={"db": "feed", "from": "0"},
        headers={**headers, "Last-Event-ID": str(first[-1][0])},
    )
    second = await read_sse(resumed, BACKLOG + LIVE - CUT)
    await asyncio.wait_for(writer, TIMEOUT)
    resumed.close()
    assert all(event_id == event["id"] for event_id, event in first + second)
    _assert_exactly_once(db, [event_id for event_id, _ in first + second])


async def test_websocket_resume_loses_and_duplicates_nothing(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = _backlog(node, "feed")
    writer = asyncio.ensure_future(_write_live(db))
    ws = await client.ws_connect("/v1/changes/ws", params={"db": "feed"})
    first = await read_ws(ws, CUT)
    await ws.close()
    ws = await client.ws_connect("/v1/changes/ws", params={"db": "feed", "from": str(first[-1]["id"])})
    second = await read_ws(ws, BACKLOG + LIVE - CUT)
    await asyncio.wait_for(writer, TIMEOUT)
    await ws.close()
    _assert_exactly_once(db, [e["id"] for e in first + second])


async def test_live_events_arrive_after_the_stream_started(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = make_table(node, "live")
    start = db.changes.last_id()
    ws = await client.ws_connect("/v1/changes/ws", params={"db": "live", "from": str(start)})
    sse = await client.get(
        "/v1/changes",
        params={"db": "live", "from": str(start)},
        headers={"Accept": "text/event-stream"},
    )
    nd = await client.get("/v1/changes", params={"db": "live", "from": str(start)})
    await asyncio.sleep(0.1)  # the streams are idle, waiting for commits
    db.write(lambda c: c.execute("INSERT INTO t VALUES (7, 'seven')"))
    db.write(lambda c: c.execute("UPDATE t SET v = 'SEVEN' WHERE id = 7"))
    db.write(lambda c: c.execute("DELETE FROM t WHERE id = 7"))
    for events in (await read_ndjson(nd, 3), [e for _, e in await read_sse(sse, 3)], await read_ws(ws, 3)):
        assert [e["op"] for e in events] == ["insert", "update", "delete"]
        assert events[1]["changed"] == ["v"] and events[1]["row"]["v"] == "SEVEN"
        assert events[2]["row"] == {} and events[2]["pk"] == [7]
    nd.close()
    sse.close()
    await ws.close()


async def test_idle_streams_send_heartbeats(node: Node, make_api: MakeApi) -> None:
    make_table(node, "quiet")
    api = await make_api(node, heartbeat=0.3)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{api.port}") as client:
        nd = await client.get("/v1/changes", params={"db": "quiet", "from": "1"})
        async with asyncio.timeout(TIMEOUT):
            assert await nd.content.readline() == b"\n"
        sse = await client.get(
            "/v1/changes", params={"db": "quiet", "from": "1"}, headers={"Accept": "text/event-stream"}
        )
        async with asyncio.timeout(TIMEOUT):
            assert await sse.content.readline() == b": heartbeat\n"
        nd.close()
        sse.close()


async def test_table_filter_and_resume(node: Node, api: HttpApi, client: aiohttp.ClientSession) -> None:
    assert node.registry is not None
    db = make_table(node, "two", "a")
    db.write(lambda c: c.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)"))
    for i in range(1, 31):
        insert_rows(db, i, 1, table="a" if i % 3 else "b")
    response = await client.get("/v1/changes", params={"db": "two", "table": "b"})
    events = await read_ndjson(response, 11)  # the CREATE TABLE b and 10 inserts
    assert {e["table"] for e in events} == {"b"} and events[0]["op"] == "ddl"
    assert [e["id"] for e in events] == all_ids(db, table="b")
    insert_rows(db, 100, 5, table="a")
    insert_rows(db, 200, 1, table="b")
    assert [e["pk"] for e in await read_ndjson(response, 1)] == [[200]]
    response.close()


async def test_from_older_than_retention_is_410_and_future_is_400(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = make_table(node, "pruned")
    db.changes.retention = 100
    insert_rows(db, 1, 1_100, per_commit=1_100)  # pruning runs every 1,000 recorded changes
    first = db.changes.first_id()
    assert first > 1
    for path in ("/v1/changes", "/v1/changes/ws"):
        response = await client.get(path, params={"db": "pruned", "from": "0"})
        assert response.status == 410
        body = await response.json()
        assert body["oldest_id"] == first and str(first) in body["error"]
    ok = await client.get("/v1/changes", params={"db": "pruned", "from": str(first - 1)})
    assert ok.status == 200
    assert (await read_ndjson(ok, 1))[0]["id"] == first
    ok.close()
    # Without `from`: from the oldest retained change.
    default = await client.get("/v1/changes", params={"db": "pruned"})
    assert (await read_ndjson(default, 1))[0]["id"] == first
    default.close()
    last = db.changes.last_id()
    future = await client.get("/v1/changes", params={"db": "pruned", "from": str(last + 1)})
    assert future.status == 400 and (await future.json())["last_id"] == last


async def test_slow_client_holds_back_the_stream(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    """A client that does not read makes the stream wait: pages are read only as the socket drains."""
    db = make_table(node, "big")
    big = "x" * 4000
    for first in range(1, 5001, 250):
        insert(db, "t", [(i, big) for i in range(first, first + 250)])
    pages = 0
    read = db.changes.read

    def counting_read(after: int, **kwargs: object) -> list:  # type: ignore[type-arg]
        nonlocal pages
        pages += 1
        return read(after, **kwargs)  # type: ignore[arg-type]

    db.changes.read = counting_read  # type: ignore[method-assign]
    response = await client.get("/v1/changes", params={"db": "big"})
    await asyncio.sleep(1.0)  # the client reads nothing
    stalled = pages
    await asyncio.sleep(0.5)
    assert pages == stalled, "the stream kept reading pages for a client that reads nothing"
    assert stalled * 500 < 5001, "the whole feed (20 MB) was read into a stalled client's buffers"
    events = await read_ndjson(response, 5001)
    assert [e["id"] for e in events] == all_ids(db)
    response.close()


def _stream_listeners(db: Database) -> int:
    """Listeners of the feed that are change streams (the node's webhooks and sinks add theirs)."""
    return sum(isinstance(getattr(f, "__self__", None), Subscription) for f in db.changes.listeners)


async def test_stop_ends_open_streams(node: Node, make_api: MakeApi) -> None:
    db = make_table(node, "s")
    api = await make_api(node, heartbeat=30)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{api.port}") as client:
        response = await client.get("/v1/changes", params={"db": "s"})
        await read_ndjson(response, 1)
        ws = await client.ws_connect("/v1/changes/ws", params={"db": "s"})
        await read_ws(ws, 1)
        closing = asyncio.ensure_future(ws.receive())  # a client answers the close handshake
        async with asyncio.timeout(5):
            await api.stop()
            assert await response.content.read() == b""
            message = await closing
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert _stream_listeners(db) == 0 and not api.changes.subscriptions


async def test_client_disconnect_removes_the_listener(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = make_table(node, "gone")
    response = await client.get("/v1/changes", params={"db": "gone"})
    await read_ndjson(response, 1)
    assert _stream_listeners(db) == 1
    response.close()
    async with asyncio.timeout(TIMEOUT):
        while _stream_listeners(db):
            await asyncio.sleep(0.02)
    metrics = await (await client.get("/metrics")).text()
    assert "p2pdb_http_change_streams 0.0" in metrics


async def test_dropping_the_database_ends_its_streams(node: Node, make_api: MakeApi) -> None:
    assert node.registry is not None
    make_table(node, "doomed")
    api = await make_api(node, heartbeat=0.3)  # a stream notices the drop at its next heartbeat
    async with aiohttp.ClientSession(f"http://127.0.0.1:{api.port}") as client:
        response = await client.get("/v1/changes", params={"db": "doomed"})
        await read_ndjson(response, 1)
        node.registry.drop("doomed")
        async with asyncio.timeout(TIMEOUT):
            rest = await response.content.read()
        assert rest.strip() == b""
        assert (await client.get("/v1/changes", params={"db": "doomed"})).status == 404
