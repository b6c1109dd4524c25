"""The MySQL listener: accepts TCP connections and gives each a :class:`MySQLConnection`."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .backend import Backend
from .connection import MySQLConnection
from .context import ServerContext, ServerOptions

log = logging.getLogger("p2pdb.sql.protocol")


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise the soft limit on open files towards ``wanted`` (capped by the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit to %d: %s", target, exc)
    return soft


class MySQLServer:
    """A MySQL protocol server over a :class:`~p2pdb.sql.protocol.backend.Backend`.

    ``ssl_context`` (server side) enables TLS after the client's SSLRequest; ``rsa_key`` enables the
    RSA exchange of caching_sha2_password on plain connections (see :func:`load_or_create_rsa_key`).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        ssl_context: ssl.SSLContext | None = None,
        rsa_key: rsa.RSAPrivateKey | None = None,
        options: ServerOptions | None = None,
    ) -> None:
        self.context = ServerContext(backend, options or ServerOptions(), ssl_context, rsa_key)
        self._server: asyncio.Server | None = None

    async def start(
        self, host: str | None, port: int, *, backlog: int = 1024, reuse_port: bool = False
    ) -> None:
        """Listen on ``host:port`` (port 0 picks a free port; see :attr:`port`). With ``reuse_port``
        other processes of the same user may listen on the port too (SO_REUSEPORT); the kernel deals
        new connections among them (:mod:`p2pdb.sql.serving`)."""
        raise_fd_limit()
        loop = asyncio.get_running_loop()
        ctx = self.context
        # Accepted sockets get TCP_NODELAY from asyncio/uvloop transports.
        self._server = await loop.create_server(
            lambda: MySQLConnection(ctx),
            host,
            port,
            backlog=backlog,
            reuse_address=True,
            reuse_port=reuse_port or None,
        )

    @property
    def server(self) -> asyncio.Server:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self.server.sockets)

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        return len(self.context.connections)

    def close(self) -> None:
        """Stop listening and close every client connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.context.connections):
            conn.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> MySQLServer:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


async def serve(
    backend: Backend,
    host: str | None,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    rsa_key: rsa.RSAPrivateKey | None = None,
    max_packet: int | None = None,
    options: ServerOptions | None = None,
) -> MySQLServer:
    """Start a MySQL server on ``host:port`` and return it (already listening).

    ``max_packet`` overrides ``options.max_packet`` (``max_allowed_packet``, 64 MiB by default);
    ``options`` sets the rest (see :class:`ServerOptions`).
    """
    opts = options or ServerOptions()
    if max_packet is not None:
        opts = replace(opts, max_packet=max_packet)
    server = MySQLServer(backend, ssl_context=ssl_context, rsa_key=rsa_key, options=opts)
    await server.start(host, port)
    return server
