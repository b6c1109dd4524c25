"""The seam between the wire protocol and the database: what the protocol layer needs from the backend.

The protocol layer parses packets, authenticates, and encodes results; everything about SQL (parsing,
catalog, transactions, storage) is the backend's. One :class:`Session` serves one client connection; the
protocol layer never calls a session concurrently (one command at a time, in order), and always calls
:meth:`Session.close` exactly once when the connection ends, even after errors.

Errors: raise :class:`~p2pdb.sql.protocol.errors.MySQLError` for anything the client should see as an
ERR packet; the connection stays usable. Any other exception is treated as a server bug: it is logged
and reported as ERR 1105 (the connection also stays up).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .auth import Credential
from .constants import ServerStatus
from .results import Column, Result, SqlValue


class HandOff(Exception):
    """Raised by a session of a reader process (:mod:`p2pdb.sql.serving`) before a statement that it
    does not run (a write, a transaction, SET, node state...): the connection moves to the node's
    main process, which runs the statement. Nothing of the statement has run when it is raised."""


@dataclass(frozen=True, slots=True)
class Account:
    """What the backend knows of a user for a login attempt.

    ``host_allowed`` says whether this user may connect from the client's address. Independently of it,
    the protocol layer refuses an empty password from any non-loopback address.
    """

    credential: Credential
    host_allowed: bool = True


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """The authenticated connection a session is opened for."""

    connection_id: int
    user: str
    #: Database named in the handshake (CONNECT_WITH_DB), or None.
    database: str | None
    #: Client IP address, IPv4-mapped IPv6 addresses shown as IPv4.
    peer_host: str
    tls: bool
    #: CLIENT_FOUND_ROWS: UPDATE should report matched rows rather than changed rows as affected.
    found_rows: bool
    #: Collation id the client asked for in the handshake (45/255 = utf8mb4, 33 = utf8, 63 = binary).
    collation: int
    #: Connection attributes the client sent (``_client_name``, ``program_name``, ...).
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: Closes the connection (KILL CONNECTION from another session); None when there is none.
    closer: Callable[[], None] | None = field(default=None, compare=False, repr=False)


class PreparedStatement(Protocol):
    """A statement prepared by :meth:`Session.prepare`.

    ``params`` has one column per ``?`` placeholder (its length is the parameter count the client is
    told); ``columns`` describes the result rows if known at prepare time, else is empty.
    """

    @property
    def sql(self) -> str:
        """The statement's text as prepared."""
        ...

    @property
    def params(self) -> Sequence[Column]: ...

    @property
    def columns(self) -> Sequence[Column]: ...

    async def execute(self, params: Sequence[SqlValue]) -> Sequence[Result]:
        """Run with ``len(self.params)`` values (already decoded from the binary protocol).

        Usually returns one result; more only for statements such as CALL. Long data sent with
        COM_STMT_SEND_LONG_DATA arrives as ``bytes``. May be called many times.
        """
        ...

    def close(self) -> None:
        """Release the statement (COM_STMT_CLOSE, COM_RESET_CONNECTION, or connection end). Idempotent."""
        ...


class Session(Protocol):
    """One client's state: current database, transaction, session variables, prepared statements."""

    @property
    def autocommit(self) -> bool:
        """Reported to the client as SERVER_STATUS_AUTOCOMMIT after every command."""
        ...

    @property
    def in_transaction(self) -> bool:
        """Reported as SERVER_STATUS_IN_TRANS after every command."""
        ...

    async def execute(self, sql: str, *, multi: bool) -> Sequence[Result]:
        """Run a COM_QUERY text and return one result per statement, in order.

        ``sql`` is decoded as UTF-8 with ``surrogateescape``: bytes that are not UTF-8 (binary literals)
        are recovered with ``sql.encode("utf-8", "surrogateescape")``. When ``multi`` is False the client
        did not enable multi-statements and more than one statement must be refused (ERR 1064) before
        anything runs. When a later statement fails, raise MySQLError with ``partial`` = the results of
        the statements that completed. An empty sequence is answered with a plain OK.
        """
        ...

    async def prepare(self, sql: str) -> PreparedStatement:
        """COM_STMT_PREPARE: parse and plan ``sql`` with ``?`` placeholders; raise MySQLError if invalid."""
        ...

    async def use(self, database: str) -> None:
        """COM_INIT_DB: make ``database`` current; raise MySQLError(1049) if it does not exist."""
        ...

    async def field_list(self, table: str, wildcard: str) -> Sequence[Column]:
        """COM_FIELD_LIST (deprecated; used by the mysql/mariadb CLI for completion): columns of ``table``
        in the current database whose name matches the LIKE pattern ``wildcard`` (empty = all)."""
        ...

    async def reset(self) -> None:
        """COM_RESET_CONNECTION: roll back any transaction, reset session variables; keep user and
        database. (The protocol layer closes the prepared statements itself.)"""
        ...

    def close(self) -> None:
        """The connection ended: roll back any open transaction and release resources. Must not raise."""
        ...


class Backend(Protocol):
    """What the server needs from the database: accounts and sessions."""

    def lookup_account(self, user: str, peer_host: str) -> Account | None:
        """The account ``user`` logs in to from ``peer_host``, or None if there is no such user.

        Called once per login attempt, on the event loop: must be fast and must not block.
        """
        ...

    async def open_session(self, info: ConnectInfo) -> Session:
        """Open a session for an authenticated connection.

        Raise MySQLError to refuse it (e.g. 1049 unknown database, 1044 access denied to the database):
        the client gets the ERR packet and the connection is closed.
        """
        ...


_AUTOCOMMIT = int(ServerStatus.AUTOCOMMIT)
_IN_TRANS = int(ServerStatus.IN_TRANS)


def status_flags(session: Session | None) -> int:
    """SERVER_STATUS_AUTOCOMMIT / SERVER_STATUS_IN_TRANS for a session (autocommit before login)."""
    if session is None:
        return _AUTOCOMMIT
    flags = _AUTOCOMMIT if session.autocommit else 0
    if session.in_transaction:
        flags |= _IN_TRANS
    return flags


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (and their IPv4-mapped forms)."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def normalize_host(host: str) -> str:
    """Show IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) as IPv4."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)
