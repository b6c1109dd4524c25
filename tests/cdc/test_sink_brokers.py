"""Broker sinks against the real servers: every event of a stream of writes arrives, in order, also
across a broker restart and a runner restart. Consumers use the same client libraries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from p2pdb.cdc import SinkRunner
from p2pdb.store import Database
from p2pdb.store.registry import Registry

from .conftest import Broker, RabbitMQ
from .helpers import expected_events, insert_items, make_registry, wait_until

FAST = {"retry_base": 0.05, "retry_cap": 0.5}


def first_occurrences(ids: list[int]) -> list[int]:
    """Ids in arrival order with resends (at-least-once duplicates) removed."""
    seen: set[int] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


async def caught_up(runner: SinkRunner, timeout: float = 20.0) -> None:
    await wait_until(lambda: all(s["lag"] == 0 for s in runner.status()), timeout, "sink lag 0")


async def run_scenario(
    tmp_path: Path, config: dict[str, Any], broker: Broker, registry: Registry, db: Database
) -> list[dict[str, Any]]:
    """Writes with the broker up, down and up again, then with the runner stopped and restarted.
    Returns the events the sink had to deliver."""
    state = tmp_path / "cdc.sqlite"
    start = db.changes.last_id()
    runner = SinkRunner(registry, [config], state, **FAST)
    await runner.start()
    try:
        insert_items(db, 1, 100)
        db.write(lambda c: c.execute("UPDATE items SET qty = -1 WHERE id <= 10"))
        db.write(lambda c: c.execute("DELETE FROM items WHERE id > 95"))
        await caught_up(runner)
        await broker.astop()
        insert_items(db, 101, 40)
        await wait_until(lambda: runner.status()[0]["failures"] >= 1, what="sink noticed the outage")
        assert not runner.status()[0]["connected"] and runner.status()[0]["lag"] > 0
        await broker.astart()
        await caught_up(runner)
    finally:
        await runner.stop()
    insert_items(db, 141, 10)  # no runner
    again = SinkRunner(registry, [config], state, **FAST)
    await again.start()
    try:
        await caught_up(again)
    finally:
        await again.stop()
    return expected_events(db, start)


async def test_nats_jetstream_sink(tmp_path: Path, nats_server: Broker) -> None:
    import nats

    registry, db = make_registry(tmp_path)
    url = f"nats://127.0.0.1:{nats_server.port}"
    config = {"type": "nats", "name": "js", "url": url, "stream": "P2PDB", "timeout": 2}
    want = await run_scenario(tmp_path, config, nats_server, registry, db)
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("P2PDB")
        assert info.config.subjects == ["p2pdb.*.*"]
        messages = [await js.get_msg("P2PDB", seq) for seq in range(1, info.state.last_seq + 1)]
    finally:
        await nc.close()
    events = [json.loads(m.data or b"") for m in messages]
    assert first_occurrences([e["id"] for e in events]) == [e["id"] for e in want]
    assert {e["id"]: e for e in events} == {e["id"]: e for e in want}
    assert {m.subject for m in messages} == {"p2pdb.shop.items"}
    assert messages[0].headers is not None
    assert messages[0].headers["Nats-Msg-Id"] == f"{registry.identity.peer_id}/shop/{want[0]['id']}"


async def test_rabbitmq_sink(tmp_path: Path, rabbitmq: RabbitMQ) -> None:
    import aio_pika

    registry, db = make_registry(tmp_path)
    tag = uuid.uuid4().hex[:8]
    config = {
        "type": "rabbitmq",
        "url": rabbitmq.url,
        "exchange": f"p2pdb-{tag}",
        "queue": f"events-{tag}",
        "routing_key": "{db}.{table}.{op}",
        "timeout": 3,
    }
    want = await run_scenario(tmp_path, config, rabbitmq, registry, db)
    connection = await aio_pika.connect(rabbitmq.url)
    received: list[tuple[str, dict[str, Any]]] = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"events-{tag}", durable=True, passive=True)
        while True:
            message = await queue.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                break
            received.append((message.routing_key or "", json.loads(message.body)))
    finally:
        await connection.close()
    events = [event for _, event in received]
    assert first_occurrences([e["id"] for e in events]) == [e["id"] for e in want]
    assert {e["id"]: e for e in events} == {e["id"]: e for e in want}
    assert {key for key, _ in received} == {"shop.items.insert", "shop.items.update", "shop.items.delete"}


async def test_mqtt_sink(tmp_path: Path, mosquitto: Broker) -> None:
    import aiomqtt

    registry, db = make_registry(tmp_path)
    received: list[tuple[str, dict[str, Any]]] = []
    subscribed = asyncio.Event()

    async def subscriber() -> None:
        # A persistent session (clean_session=False): the broker keeps QoS 1 messages for it
        # while it is disconnected, and across the broker's restart.
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", mosquitto.port, identifier="test-consumer", clean_session=False
                ) as client:
                    await client.subscribe("p2pdb/#", qos=1)
                    subscribed.set()
                    async for message in client.messages:
                        received.append((str(message.topic), json.loads(bytes(message.payload))))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    task = asyncio.create_task(subscriber())
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        config = {"type": "mqtt", "host": "127.0.0.1", "port": mosquitto.port, "qos": 1, "timeout": 2}
        want = await run_scenario(tmp_path, config, mosquitto, registry, db)
        await wait_until(
            lambda: {e["id"] for _, e in received} >= {e["id"] for e in want}, what="all messages"
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    events = [event for _, event in received]
    assert first_occurrences([e["id"] for e in events]) == [e["id"] for e in want]
    assert {e["id"]: e for e in events} == {e["id"]: e for e in want}
    assert {topic for topic, _ in received} == {"p2pdb/shop/items"}


@pytest.mark.parametrize("kind", ["nats", "mqtt"])
async def test_unreachable_broker_is_reported_and_retried(tmp_path: Path, kind: str) -> None:
    from .conftest import free_port

    registry, db = make_registry(tmp_path)
    port = free_port()
    config: dict[str, Any] = (
        {"type": "nats", "url": f"nats://127.0.0.1:{port}", "timeout": 1}
        if kind == "nats"
        else {"type": "mqtt", "host": "127.0.0.1", "port": port, "timeout": 1}
    )
    runner = SinkRunner(registry, [config], tmp_path / "cdc.sqlite", **FAST)
    await runner.start()
    try:
        insert_items(db, 1, 3)
        await wait_until(lambda: runner.status()[0]["failures"] >= 3, what="retries")
        status = runner.status()[0]
        assert status["lag"] == 3 and not status["connected"] and status["last_error"]
    finally:
        await runner.stop()
