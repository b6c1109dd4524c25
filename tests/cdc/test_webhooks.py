"""Webhooks: at-least-once, in order, signed, retried with backoff, durable across restarts, isolated."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from p2pdb.cdc import WebhookManager, sign, verify_signature
from p2pdb.cdc.watch import backoff_delay

from .conftest import free_port
from .helpers import Receiver, expected_events, insert_items, make_registry, wait_until

FAST = {"retry_base": 0.05, "retry_cap": 0.5, "batch_size": 25}


async def test_receiver_failing_three_times_gets_every_event_in_order_signed(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    receiver = await Receiver("s3cret", fail_first=3).start()
    manager = WebhookManager(registry, tmp_path / "cdc.sqlite", **FAST)
    await manager.start()
    try:
        start = db.changes.last_id()
        hook = manager.register(receiver.url, "shop", None, "s3cret")
        assert hook["cursor"] == start and hook["lag"] == 0 and hook["failures"] == 0
        insert_items(db, 1, 60)
        db.write(lambda c: c.execute("UPDATE items SET qty = 100 WHERE id < 5"))
        db.write(lambda c: c.execute("DELETE FROM items WHERE id = 7"))
        want = expected_events(db, start)
        await wait_until(lambda: len(receiver.accepted()) >= len(want), what="all events accepted")
        # The receiver answers before the manager records the delivery; a stop in between would
        # resend the last batch (at least once, by design), so wait for the record.
        await wait_until(lambda: manager.list()[0]["cursor"] == want[-1]["id"], what="delivery recorded")
    finally:
        await manager.stop()
        await receiver.stop()
    # Exactly once among the accepted requests, in change-id order; the failed attempts came first.
    assert receiver.accepted() == want
    assert [d.status for d in receiver.requests[:4]] == [500, 500, 500, 200]
    assert receiver.requests[0].body["events"] == receiver.requests[3].body["events"]
    assert receiver.bad_signatures == 0
    first = receiver.requests[0]
    assert first.headers["X-P2PDB-Webhook"] == hook["id"]
    assert first.headers["X-P2PDB-Timestamp"] == str(first.body["sent_at"])
    assert abs(first.body["sent_at"] - time.time()) < 60
    assert first.headers["X-P2PDB-Delivery"].startswith(f"{hook['id']}-{want[0]['id']}-")
    # A restarted manager on the same state shows the delivery history.
    again = WebhookManager(registry, tmp_path / "cdc.sqlite")
    [status] = again.list()
    assert status["cursor"] == want[-1]["id"] and status["lag"] == 0
    assert status["failures"] == 0 and status["last_error"].startswith("HTTP 500")
    assert status["last_success_at"] is not None
    await again.stop()


async def test_restart_with_pending_deliveries_delivers_everything(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    receiver = await Receiver("k").start()
    state = tmp_path / "cdc.sqlite"
    first = WebhookManager(registry, state, **FAST)
    await first.start()
    start = db.changes.last_id()
    hook = first.register(receiver.url, "shop", None, "k")
    insert_items(db, 1, 30)
    await wait_until(lambda: len(receiver.accepted()) == 30, what="first 30 events")
    await first.stop()
    # Written while no manager runs: pending.
    insert_items(db, 31, 40)
    second = WebhookManager(registry, state, **FAST)
    [pending] = second.list()
    assert pending["id"] == hook["id"] and pending["lag"] == 40
    await second.start()
    try:
        insert_items(db, 71, 5)
        want = expected_events(db, start)
        await wait_until(lambda: len(receiver.accepted()) >= len(want), what="all events after restart")
        await wait_until(lambda: second.list()[0]["lag"] == 0, what="lag 0")
    finally:
        await second.stop()
        await receiver.stop()
    assert receiver.accepted() == want


async def test_a_dead_endpoint_does_not_block_another_webhook(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    receiver = await Receiver("live").start()
    manager = WebhookManager(registry, tmp_path / "cdc.sqlite", **FAST)
    await manager.start()
    try:
        start = db.changes.last_id()
        dead = manager.register(f"http://127.0.0.1:{free_port()}/nobody", "shop", None, "dead")
        live = manager.register(receiver.url, "shop", None, "live")
        insert_items(db, 1, 50)
        want = expected_events(db, start)
        await wait_until(lambda: len(receiver.accepted()) >= len(want), what="live webhook caught up")
        assert receiver.accepted() == want
        await wait_until(lambda: manager.get(dead["id"])["failures"] >= 2, what="dead webhook retried")
        status = {h["id"]: h for h in manager.list()}
        assert status[dead["id"]]["lag"] == 50 and status[dead["id"]]["cursor"] == start
        assert "ClientConnectorError" in status[dead["id"]]["last_error"]
        assert status[live["id"]]["lag"] == 0 and status[live["id"]]["last_error"] is None
        assert manager.delete(dead["id"]) and not manager.delete(dead["id"])
        assert [h["id"] for h in manager.list()] == [live["id"]]
    finally:
        await manager.stop()
        await receiver.stop()


async def test_table_filter_and_database_created_later(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    orders = await Receiver("o").start()
    later = await Receiver("l").start()
    manager = WebhookManager(registry, tmp_path / "cdc.sqlite", **FAST)
    await manager.start()
    try:
        start = db.changes.last_id()
        hook = manager.register(orders.url, "shop", "orders", "o")
        manager.register(later.url, "later", None, "l")  # no such database yet
        insert_items(db, 1, 10)
        for i in range(1, 6):
            db.write(lambda c, i=i: c.execute("INSERT INTO orders VALUES (?, ?)", (i, i)))
        insert_items(db, 11, 10)
        want = expected_events(db, start, table="orders")
        await wait_until(lambda: len(orders.accepted()) >= 5, what="orders events")
        await wait_until(lambda: manager.get(hook["id"])["lag"] == 0, what="filtered lag 0")
        assert orders.accepted() == want and {e["table"] for e in want} == {"orders"}
        created = registry.create("later")
        created.write(lambda c: c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        created.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        await wait_until(lambda: len(later.accepted()) >= 2, what="new database's events")
        assert [e["op"] for e in later.accepted()] == ["ddl", "insert"]
    finally:
        await manager.stop()
        await orders.stop()
        await later.stop()


async def test_stuck_request_times_out_and_is_retried(tmp_path: Path) -> None:
    registry, db = make_registry(tmp_path)
    calls = 0
    release = asyncio.Event()
    from aiohttp import web

    async def slow(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()  # never answers in time
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    manager = WebhookManager(registry, tmp_path / "cdc.sqlite", request_timeout=0.3, **FAST)
    await manager.start()
    try:
        hook = manager.register(url, "shop", None, "x")
        insert_items(db, 1, 3)
        await wait_until(lambda: manager.get(hook["id"])["lag"] == 0, what="delivered after a timeout")
        status = manager.get(hook["id"])
        assert status is not None and status["last_error"].startswith("timeout")
    finally:
        release.set()
        await manager.stop()
        await runner.cleanup()


async def test_register_validates_its_arguments(tmp_path: Path) -> None:
    registry, _ = make_registry(tmp_path)
    manager = WebhookManager(registry, tmp_path / "cdc.sqlite")
    for url, db, table, secret in [
        ("ftp://x/", "shop", None, "s"),
        ("http:///nohost", "shop", None, "s"),
        ("http://127.0.0.1/", "", None, "s"),
        ("http://127.0.0.1/", "shop", "", "s"),
        ("http://127.0.0.1/", "shop", None, ""),
    ]:
        with pytest.raises(ValueError):
            manager.register(url, db, table, secret)
    assert manager.list() == []
    assert not manager.delete("nope")
    await manager.stop()
    assert (tmp_path / "cdc.sqlite").stat().st_mode & 0o077 == 0


def test_signature_and_backoff() -> None:
    body = b'{"events":[]}'
    header = sign("k", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("k", body, header)
    assert not verify_signature("other", body, header) and not verify_signature("k", body + b" ", header)
    assert not verify_signature("k", body, None)
    delays = [backoff_delay(n, 0.5, 30.0) for n in range(12)]
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0
    assert all(15.0 <= d <= 30.0 for d in delays[7:])
