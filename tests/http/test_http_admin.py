"""Admin routes and metrics: shapes of /v1/status, /v1/log, /metrics and the webhook routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import aiomysql
import pytest
from prometheus_client.parser import text_string_to_metric_families

from p2pdb.http import HttpApi
from p2pdb.node import Node
from p2pdb.sql import lexer, like
from p2pdb.store import collation

from .conftest import TIMEOUT, MakeApi
from .helpers import insert_rows, make_table


async def test_status_shape(node: Node, api: HttpApi, client: aiohttp.ClientSession) -> None:
    db = make_table(node, "shop")
    insert_rows(db, 1, 10)
    response = await client.get("/v1/status")
    assert response.status == 200
    status = await response.json()
    assert node.identity is not None and status["peer_id"] == node.identity.peer_id
    assert status["version"] and status["uptime_seconds"] >= 0
    assert status["addresses"]["http"] == f"127.0.0.1:{api.port}"
    assert status["addresses"]["mysql"] and status["addresses"]["p2p"]
    assert status["native"] == {
        "collations": collation.native(),
        "like": like.native(),
        "lexer": lexer.native(),
    }
    (shop,) = [d for d in status["databases"] if d["name"] == "shop"]
    assert shop["entries"] == 2 and shop["heads"] == [str(h) for h in db.log.heads]
    assert shop["changes"] == {"first_id": 1, "last_id": 11}
    assert status["peers"] == []


async def test_log_returns_the_newest_entries_first(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    db = make_table(node, "hist")
    for i in range(1, 6):
        insert_rows(db, i * 10, i, per_commit=i)
    body = await (await client.get("/v1/log/hist", params={"limit": "3"})).json()
    assert body["db"] == "hist" and body["total"] == 6 and len(body["entries"]) == 3
    newest = body["entries"][0]
    assert set(newest) == {"cid", "parents", "clock", "author", "ops"}
    assert newest["cid"] == body["heads"][0] and newest["ops"] == 5
    assert [e["clock"] for e in body["entries"]] == [6, 5, 4]
    assert body["entries"][1]["cid"] in newest["parents"]
    assert node.identity is not None and newest["author"] == node.identity.peer_id
    default = await (await client.get("/v1/log/hist")).json()
    assert [e["clock"] for e in default["entries"]] == [6, 5, 4, 3, 2, 1]


async def test_metrics_collect_node_counters_on_scrape(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    make_table(node, "m")
    await client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "db": "m", "secret": "s3cret"})
    conn = await aiomysql.connect(
        host="127.0.0.1", port=node.mysql.port if node.mysql else 0, user="root", db="m", autocommit=True
    )
    async with conn.cursor() as cur:
        await cur.execute("INSERT INTO t VALUES (1, 'a')")
        await cur.execute("SELECT * FROM t")
        response = await client.get("/metrics")
    conn.close()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }
    assert samples[("p2pdb_mysql_connections", ())] == 1
    assert samples[("p2pdb_mysql_queries_total", ())] >= 2
    assert samples[("p2pdb_group_commit_transactions_total", ())] >= 1
    assert samples[("p2pdb_group_commits_total", ())] >= 1
    assert samples[("p2pdb_changes_last_id", (("db", "m"),))] == 2
    assert samples[("p2pdb_log_entries", (("db", "m"),))] == 2
    assert samples[("p2pdb_replication_peers", ())] == 0
    for key in ("entries_sent", "entries_received", "entries_rejected"):
        assert samples[(f"p2pdb_replication_{key}_total", ())] == 0
    assert samples[("p2pdb_webhook_lag", (("db", "m"), ("id", "wh1")))] == 3
    assert samples[("p2pdb_http_change_streams", ())] == 0
    assert samples[("p2pdb_uptime_seconds", ())] >= 0


async def test_webhook_routes(node: Node, api: HttpApi, client: aiohttp.ClientSession) -> None:
    make_table(node, "hooks")
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://example.test/in", "db": "hooks", "table": "t", "secret": "k"},
    )
    assert created.status == 201
    hook = await created.json()
    assert hook["id"] and hook["url"] == "https://example.test/in" and hook["table"] == "t"
    assert "secret" not in hook
    listed = await (await client.get("/v1/webhooks")).json()
    assert [h["id"] for h in listed["webhooks"]] == [hook["id"]]
    assert all("secret" not in h for h in listed["webhooks"])
    assert {"cursor", "lag", "last_error", "last_success_at", "failures"} <= set(listed["webhooks"][0])
    deleted = await client.delete(f"/v1/webhooks/{hook['id']}")
    assert deleted.status == 200 and (await deleted.json()) == {"deleted": hook["id"]}
    again = await client.delete(f"/v1/webhooks/{hook['id']}")
    assert again.status == 404 and "error" in await again.json()
    refused = await client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/refuse", "db": "hooks", "secret": "k"}
    )
    assert refused.status == 400 and (await refused.json())["error"] == "receiver refused"


async def test_webhook_routes_without_a_manager_are_503(
    node: Node, make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node, "webhooks", None, raising=False)
    api = await make_api(node)
    async with aiohttp.ClientSession(
        f"http://127.0.0.1:{api.port}", timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as client:
        response = await client.get("/v1/webhooks")
        assert response.status == 503 and "not enabled" in (await response.json())["error"]


async def test_webhook_routes_with_the_real_manager(node: Node, make_api: MakeApi, tmp_path: Path) -> None:
    webhooks = pytest.importorskip("p2pdb.cdc.webhooks")
    assert node.registry is not None
    db = make_table(node, "real")
    manager = webhooks.WebhookManager(node.registry, tmp_path / "webhooks.sqlite")  # not started
    api = await make_api(node, webhooks=manager)
    async with aiohttp.ClientSession(
        f"http://127.0.0.1:{api.port}", timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as client:
        created = await client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/in", "db": "real", "secret": "k"}
        )
        assert created.status == 201
        hook = await created.json()
        assert "secret" not in hook and hook["cursor"] == db.changes.last_id()
        insert_rows(db, 1, 5)
        listed = (await (await client.get("/v1/webhooks")).json())["webhooks"]
        assert [(h["id"], h["lag"]) for h in listed] == [(hook["id"], 5)]
        metrics = await (await client.get("/metrics")).text()
        assert f'p2pdb_webhook_lag{{db="real",id="{hook["id"]}"}} 5.0' in metrics
        assert (await client.delete(f"/v1/webhooks/{hook['id']}")).status == 200
        assert (await (await client.get("/v1/webhooks")).json())["webhooks"] == []
    await manager.stop()


async def test_without_a_manager_argument_the_nodes_webhooks_serve(node: Node, make_api: MakeApi) -> None:
    if getattr(node, "webhooks", None) is None:
        pytest.skip("this node has no webhook manager")
    make_table(node, "wired")
    api = await make_api(node)
    async with aiohttp.ClientSession(
        f"http://127.0.0.1:{api.port}", timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as client:
        created = await client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/in", "db": "wired", "secret": "k"}
        )
        assert created.status == 201
        hook_id = (await created.json())["id"]
        assert hook_id in [h["id"] for h in node.webhooks.list()]
        assert (await client.delete(f"/v1/webhooks/{hook_id}")).status == 200
