"""MySQL wire protocol server: speaks MySQL to clients, hands statements to a :class:`Backend`.

Start one with :func:`serve` (or :class:`MySQLServer`); implement :class:`Backend`, :class:`Session`
and :class:`PreparedStatement` (see :mod:`.backend`) to give it a database. See docs/mysql-protocol.md.
"""

from .auth import CACHING_SHA2_PASSWORD, NATIVE_PASSWORD, Credential, load_or_create_rsa_key
from .backend import Account, Backend, ConnectInfo, PreparedStatement, Session, is_loopback
from .constants import Capability, ColumnFlag, Command, FieldType, ServerStatus
from .context import ServerOptions
from .errors import ErrorCode, MySQLError
from .results import OK, Column, OkResult, Result, ResultSet, SqlValue
from .server import MySQLServer, serve

__all__ = [
    "CACHING_SHA2_PASSWORD",
    "NATIVE_PASSWORD",
    "OK",
    "Account",
    "Backend",
    "Capability",
    "Column",
    "ColumnFlag",
    "Command",
    "ConnectInfo",
    "Credential",
    "ErrorCode",
    "FieldType",
    "MySQLError",
    "MySQLServer",
    "OkResult",
    "PreparedStatement",
    "Result",
    "ResultSet",
    "ServerOptions",
    "ServerStatus",
    "Session",
    "SqlValue",
    "is_loopback",
    "load_or_create_rsa_key",
    "serve",
]
