"""The node's HTTP API: change feed, webhooks, admin routes and metrics on one aiohttp server.

``HttpApi(node, host=..., port=..., token=...)`` builds the application; :meth:`HttpApi.start` listens
(port 0 picks a free port, see :attr:`HttpApi.port`) and :meth:`HttpApi.stop` ends open streams and
closes the listener. The API binds to 127.0.0.1 by default; on any other address a bearer token is
mandatory (:class:`~p2pdb.http.auth.HttpConfigError` otherwise), and whenever a token is set every
route requires it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from p2pdb.http.admin import AdminRoutes
from p2pdb.http.auth import auth_middleware, check_bind, error_middleware
from p2pdb.http.changes import ChangeRoutes
from p2pdb.http.dashboard_routes import DashboardRoutes
from p2pdb.http.inspect_routes import InspectRoutes
from p2pdb.http.metrics import MetricsRoute
from p2pdb.http.webhook_routes import WebhookRoutes

log = logging.getLogger(__name__)

#: Largest request body accepted (webhook registrations are a few hundred bytes); larger: 413.
MAX_BODY = 64 * 1024
#: Seconds a stopping server waits for handlers before cancelling them.
SHUTDOWN_TIMEOUT = 2.0


class HttpStartError(OSError):
    """The HTTP API cannot listen: ``errno``/``strerror`` of the cause, ``str()`` one line for the user."""

    def __init__(self, cause: OSError, message: str) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.message = message

    def __str__(self) -> str:
        return self.message


class HttpApi:
    """The HTTP API of one node.

    ``node`` is a started :class:`p2pdb.node.Node` (read through its ``registry``, ``replicator``,
    ``mysql``, ``identity``, ``started`` and ``status()``). ``webhooks`` is a
    ``p2pdb.cdc.webhooks.WebhookManager`` (or anything with its API); when None, the node's
    ``webhooks`` attribute is used if it has one, else the webhook routes answer 503.
    ``heartbeat``: seconds of silence after which a change stream sends a heartbeat (15).
    """

    def __init__(
        self,
        node: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        webhooks: Any = None,
        heartbeat: float = 15.0,
    ) -> None:
        check_bind(host, token)
        self.node = node
        self.host = host
        self.requested_port = port
        self.token = token or None
        self._webhooks = webhooks
        self.changes = ChangeRoutes(node, heartbeat=heartbeat)
        self.webhook_routes = WebhookRoutes(node, self.webhooks)
        self.metrics = MetricsRoute(node, extra=self._extra_metrics)
        self.admin = AdminRoutes(node, http_address=lambda: self.address)
        self.inspect = InspectRoutes(node)
        self.dashboard = DashboardRoutes()
        self._runner: web.AppRunner | None = None

    def webhooks(self) -> Any:
        return self._webhooks if self._webhooks is not None else getattr(self.node, "webhooks", None)

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[error_middleware, auth_middleware(self.token)]
        )
        for routes in (
            self.changes,
            self.admin,
            self.inspect,
            self.metrics,
            self.webhook_routes,
            self.dashboard,
        ):
            app.add_routes(routes.routes())
        return app

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app(), access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpStartError(
                exc,
                f"cannot listen for HTTP on {self.host}:{self.requested_port} ({exc.strerror});"
                " choose another port with --http-port",
            ) from exc
        self._runner = runner
        log.info("HTTP API on %s", self.address)

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("HTTP API not started")
        return int(self._runner.addresses[0][1])

    @property
    def address(self) -> str | None:
        if self._runner is None or not self._runner.addresses:
            return None
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{host}:{self.port}"

    async def stop(self) -> None:
        self.changes.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _extra_metrics(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "p2pdb_http_change_streams", "Open change-feed streams", value=len(self.changes.subscriptions)
        )
        yield from self.webhook_routes.metrics()
