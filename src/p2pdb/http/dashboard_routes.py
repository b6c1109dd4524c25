"""The web dashboard: static pages under ``/dashboard/`` that read this node's HTTP API.

The files are part of the package (no network needed to show them). They hold no data, so they are
served without the bearer token; every request they make for data goes through the API, which asks
for it (the page takes the token once from ``?token=``, docs/http.md).
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

_FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}
#: Paths that need no bearer token: the dashboard's own files.
PUBLIC_PREFIX = "/dashboard/"


class DashboardRoutes:
    def __init__(self) -> None:
        root = resources.files("p2pdb.http") / "dashboard"
        self._files = {name: (root / name).read_bytes() for name in _FILES}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.home, allow_head=False),
            web.get("/dashboard", self.home, allow_head=False),
            web.get("/dashboard/", self.index),
            web.get("/dashboard/{name}", self.asset),
        ]

    async def home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/dashboard/" + (f"?{request.query_string}" if request.query_string else ""))

    async def index(self, request: web.Request) -> web.Response:
        return self._send("index.html")

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _FILES:
            raise web.HTTPNotFound()
        return self._send(name)

    def _send(self, name: str) -> web.Response:
        return web.Response(
            body=self._files[name],
            content_type=_FILES[name],
            charset="utf-8",
            headers={
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
                "Referrer-Policy": "no-referrer",
            },
        )
