"""Guards of the HTTP API: who may call it (bearer token) and how refusals look (JSON errors).

Every refusal is a 4xx response with a JSON body ``{"error": "..."}`` (sometimes with more keys,
such as ``oldest_id`` on a 410). Handlers raise :func:`http_error`; the error middleware turns
aiohttp's own exceptions (unknown route, wrong method, body over ``client_max_size``) into the same
shape, and anything unexpected into a logged 500 that says nothing about the internals.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.typedefs import Middleware

from p2pdb.sql.protocol import is_loopback

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_UINT = re.compile(r"^[0-9]{1,18}$")  # below 2**63: fits SQLite's INTEGER


class HttpConfigError(ValueError):
    """The HTTP API cannot start with this configuration; the message is one line for the user."""


def is_local(host: str) -> bool:
    return host == "localhost" or is_loopback(host)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a bearer token."""
    if not is_local(host) and not token:
        raise HttpConfigError(
            f"--http-host {host} is not a loopback address: set http_token in the configuration first"
        )


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"error": message, **extra}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


_ERRORS: dict[int, type[web.HTTPError]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    410: web.HTTPGone,
    503: web.HTTPServiceUnavailable,
}


def http_error(status: int, message: str, **extra: Any) -> NoReturn:
    """Raise a JSON error response (``status`` must be one of the codes above)."""
    body = json.dumps({"error": message, **extra})
    raise _ERRORS[status](text=body, content_type="application/json")


def database(node: Any, name: str | None) -> Any:
    """The node's database ``name`` (400 without a name, 404 when unknown, 503 while stopping)."""
    if not name:
        http_error(400, "db is required")
    registry = getattr(node, "registry", None)
    if registry is None:
        http_error(503, "the node is not running")
    db = registry.get(name) if len(name) <= 64 else None
    if db is None:
        http_error(404, f"unknown database {name[:80]!r}")
    return db


def query_uint(request: web.Request, name: str, *, default: int | None = None) -> int | None:
    """An optional non-negative integer query parameter (400 when malformed)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    return parse_uint(raw, name)


def parse_uint(raw: str, name: str) -> int:
    if not _UINT.match(raw):
        http_error(400, f"{name} must be a non-negative integer, not {raw[:40]!r}")
    return int(raw)


def _message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if text and not text.startswith(f"{exc.status}:"):
        return text.strip()
    return exc.reason.lower()


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        response = json_error(exc.status, _message(exc))
        for header in ("Allow", "WWW-Authenticate"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        return json_error(500, "internal error (see the node's log)")


def auth_middleware(token: str | None) -> Middleware:
    """Require ``Authorization: Bearer <token>`` on every route when a token is configured."""
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        # The dashboard's static files hold no data: its pages ask the API (token and all) for data.
        public = request.path in ("/", "/dashboard") or request.path.startswith("/dashboard/")
        if expected is not None and not public:
            given = request.headers.get("Authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                response = json_error(401, "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = 'Bearer realm="p2pdb"'
                return response
        return await handler(request)

    return check
