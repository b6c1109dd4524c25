"""Server-wide options and shared state that every connection of one server sees."""

from __future__ import annotations

import itertools
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .auth import CACHING_SHA2_PASSWORD, Sha2Cache, public_key_pem
from .backend import Backend
from .constants import DEFAULT_MAX_PACKET, SERVER_CAPABILITIES, Capability

#: Connections whose statements a process keeps after they moved away (the oldest are forgotten:
#: they are prepared again if they come back). Each holds its statements and its closed session.
_LEFT_MAX = 256

if TYPE_CHECKING:
    from .connection import MySQLConnection

log = logging.getLogger("p2pdb.sql.protocol")


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Settings of the MySQL listener. Defaults in parentheses.

    - ``server_version``: version in the handshake ("8.0.36-p2pdb"); clients adapt to the major version.
    - ``max_packet``: ``max_allowed_packet``, the largest command payload accepted (64 MiB); a larger
      one is answered with ERR 1153 and the connection is closed.
    - ``max_login_packet``: largest packet before authentication (64 KiB), limiting unauthenticated memory.
    - ``handshake_timeout``: seconds a client has to complete the login (10, as MySQL's connect_timeout).
    - ``default_plugin``: authentication plugin proposed in the handshake (caching_sha2_password).
    - ``max_prepared_statements``: per connection (16382, MySQL's global default).
    - ``write_batch``: bytes of result rows encoded before each socket write (256 KiB).
    - ``read_timeout``: seconds of silence in the middle of a command packet before the connection
      is closed with ERR 1159 (30, MySQL's net_read_timeout); an idle connection has no timeout.
    """

    server_version: str = "8.0.36-p2pdb"
    max_packet: int = DEFAULT_MAX_PACKET
    max_login_packet: int = 65536
    handshake_timeout: float = 10.0
    default_plugin: str = CACHING_SHA2_PASSWORD
    max_prepared_statements: int = 16382
    write_batch: int = 262144
    read_timeout: float = 30.0


class ServerContext:
    """What the connections of one server share: backend, TLS/RSA material, auth cache, counters."""

    def __init__(
        self,
        backend: Backend,
        options: ServerOptions,
        ssl_context: ssl.SSLContext | None,
        rsa_key: rsa.RSAPrivateKey | None,
    ) -> None:
        self.backend = backend
        self.options = options
        self.ssl_context = ssl_context
        self.rsa_key = rsa_key
        self.public_key_pem = public_key_pem(rsa_key) if rsa_key is not None else None
        self.capabilities = int(SERVER_CAPABILITIES | (Capability.SSL if ssl_context is not None else 0))
        self.sha2_cache = Sha2Cache()
        self.connections: set[MySQLConnection] = set()
        self.started = time.monotonic()
        self.questions = 0
        self._ids = itertools.count(1)
        #: Connection ids are ``offset + stride * n``: each process serving the port (main, readers)
        #: gives out its own residue, so ids stay unique across them (:mod:`p2pdb.sql.serving`).
        self.id_stride = 1
        self.id_offset = 0
        #: Reader process only: ``await handoff(fd, state)`` gives a connection to the main process.
        self.handoff: Callable[[int, dict[str, Any]], Awaitable[None]] | None = None
        #: Main process with reader processes: ``await hand_back(fd, state)`` gives a connection to
        #: one of them (OSError: none can take it now).
        self.hand_back: Callable[[int, dict[str, Any]], Awaitable[None]] | None = None
        #: Reader process only: called before each login and command (picks up what the main
        #: process changed).
        self.before_command: Callable[[], None] | None = None
        #: Prepared statements of connections that moved to another process, by connection id,
        #: taken over again if they come back (:meth:`StatementRegistry.restore`); the oldest go.
        self.left: OrderedDict[int, dict[int, Any]] = OrderedDict()

    def leave_statements(self, connection_id: int, statements: dict[int, Any]) -> None:
        if statements:
            self.left[connection_id] = statements
            while len(self.left) > _LEFT_MAX:
                self.left.popitem(last=False)

    def next_connection_id(self) -> int:
        while True:
            value = (self.id_offset + self.id_stride * next(self._ids)) & 0xFFFFFFFF
            if value:
                return value

    def statistics(self) -> str:
        """The COM_STATISTICS line, in MySQL's format."""
        uptime = max(1, int(time.monotonic() - self.started))
        return (
            f"Uptime: {uptime}  Threads: {len(self.connections)}  Questions: {self.questions}  "
            f"Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0  "
            f"Queries per second avg: {self.questions / uptime:.3f}"
        )
