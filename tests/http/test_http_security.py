"""Bearer token, bind rules and malformed requests: every refusal is a 4xx with a JSON error."""

from __future__ import annotations

import aiohttp
import pytest

from p2pdb.http import HttpApi, HttpConfigError, HttpStartError
from p2pdb.node import Node

from .conftest import TIMEOUT, FakeWebhooks, MakeApi
from .helpers import make_table

TOKEN = "t0ken-with-enough-entropy"


async def _session(api: HttpApi, **headers: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        f"http://127.0.0.1:{api.port}", headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    )


def test_a_non_loopback_address_needs_a_token() -> None:
    with pytest.raises(HttpConfigError, match="http_token"):
        HttpApi(object(), host="0.0.0.0", port=0)
    with pytest.raises(HttpConfigError):
        HttpApi(object(), host="192.0.2.1", port=0, token="")
    HttpApi(object(), host="0.0.0.0", port=0, token=TOKEN)  # constructed, never started
    HttpApi(object(), host="::1", port=0)
    HttpApi(object(), host="localhost", port=0)


async def test_a_port_in_use_is_a_one_line_error(node: Node, make_api: MakeApi) -> None:
    api = await make_api(node)
    with pytest.raises(HttpStartError, match="--http-port") as raised:
        await HttpApi(node, port=api.port).start()
    assert isinstance(raised.value, OSError) and raised.value.strerror  # e.g. "Address already in use"


ROUTES = [
    ("GET", "/v1/status"),
    ("GET", "/v1/peers"),
    ("GET", "/v1/log/sec"),
    ("GET", "/metrics"),
    ("GET", "/v1/changes?db=sec"),
    ("GET", "/v1/changes/ws?db=sec"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"),
    ("DELETE", "/v1/webhooks/wh1"),
    ("GET", "/no/such/route"),
]


async def test_with_a_token_every_route_requires_it(node: Node, make_api: MakeApi) -> None:
    make_table(node, "sec")
    api = await make_api(node, token=TOKEN, webhooks=FakeWebhooks())
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        async with await _session(api, **headers) as client:
            for method, path in ROUTES:
                response = await client.request(method, path)
                assert response.status == 401, (method, path, headers)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert "token" in (await response.json())["error"]
    async with await _session(api, Authorization=f"Bearer {TOKEN}") as client:
        assert (await client.get("/v1/status")).status == 200
        assert (await client.get("/metrics")).status == 200
        ws = await client.ws_connect("/v1/changes/ws?db=sec")
        assert (await ws.receive_json(timeout=TIMEOUT))["op"] == "ddl"
        await ws.close()


MALFORMED = [
    ("GET", "/v1/changes", 400, "db is required"),
    ("GET", "/v1/changes?db=nope", 404, "unknown database"),
    ("GET", "/v1/changes?db=" + "x" * 300, 404, "unknown database"),
    ("GET", "/v1/changes?db=bad&from=abc", 400, "from"),
    ("GET", "/v1/changes?db=bad&from=-1", 400, "from"),
    ("GET", "/v1/changes?db=bad&from=1.5", 400, "from"),
    ("GET", "/v1/changes?db=bad&from=99999999999999999999999", 400, "from"),
    ("GET", "/v1/changes?db=bad&table=", 400, "table"),
    ("GET", "/v1/changes/ws?db=bad&from=x", 400, "from"),
    ("GET", "/v1/changes/ws?db=nope", 404, "unknown database"),
    ("GET", "/v1/log/nope", 404, "unknown database"),
    ("GET", "/v1/log/bad?limit=0", 400, "limit"),
    ("GET", "/v1/log/bad?limit=many", 400, "limit"),
    ("GET", "/v1/log/bad?limit=100000", 400, "limit"),
    ("PUT", "/v1/status", 405, "not allowed"),
    ("GET", "/v2/anything", 404, "not found"),
    ("DELETE", "/v1/webhooks/a%20b", 400, "webhook id"),
    ("DELETE", "/v1/webhooks/unknown", 404, "unknown webhook"),
]


@pytest.mark.parametrize(("method", "path", "status", "message"), MALFORMED)
async def test_malformed_requests_get_a_json_4xx(
    node: Node, api: HttpApi, client: aiohttp.ClientSession, method: str, path: str, status: int, message: str
) -> None:
    make_table(node, "bad")
    response = await client.request(method, path)
    assert response.status == status
    assert response.content_type == "application/json"
    assert message in (await response.json())["error"]


async def test_sse_with_a_malformed_last_event_id_is_400(
    node: Node, api: HttpApi, client: aiohttp.ClientSession
) -> None:
    make_table(node, "bad")
    response = await client.get(
        "/v1/changes?db=bad", headers={"Accept": "text/event-stream", "Last-Event-ID": "abc"}
    )
    assert response.status == 400 and "Last-Event-ID" in (await response.json())["error"]


BAD_BODIES: list[tuple[object, int, str]] = [
    (b"not json", 400, "JSON object"),
    (b"[1, 2]", 400, "JSON object"),
    (b"\xff\xfe", 400, "JSON object"),
    ({"db": "bad", "secret": "s"}, 400, "url"),
    ({"url": "ftp://x/y", "db": "bad", "secret": "s"}, 400, "http"),
    ({"url": "/relative", "db": "bad", "secret": "s"}, 400, "http"),
    ({"url": "http://h/" + "x" * 3000, "db": "bad", "secret": "s"}, 400, "url"),
    ({"url": "http://h/x", "secret": "s"}, 400, "db"),
    ({"url": "http://h/x", "db": "nope", "secret": "s"}, 404, "unknown database"),
    ({"url": "http://h/x", "db": "bad", "table": 5, "secret": "s"}, 400, "table"),
    ({"url": "http://h/x", "db": "bad"}, 400, "secret"),
    ({"url": "http://h/x", "db": "bad", "secret": ""}, 400, "secret"),
    (b"x" * 200_000, 413, "body size"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
async def test_bad_webhook_bodies_get_a_json_4xx(
    node: Node, api: HttpApi, client: aiohttp.ClientSession, body: object, status: int, message: str
) -> None:
    make_table(node, "bad")
    if isinstance(body, bytes):
        response = await client.post("/v1/webhooks", data=body)
    else:
        response = await client.post("/v1/webhooks", json=body)
    assert response.status == status
    assert message in (await response.json())["error"]
