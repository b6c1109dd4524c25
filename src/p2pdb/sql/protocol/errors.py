"""MySQL error codes with their SQLSTATE, and the exception the backend raises to send an ERR packet."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import Result


class ErrorCode(IntEnum):
    """Server error numbers (``ER_*`` in MySQL's ``mysqld_error.h``); ``.sqlstate`` gives the SQLSTATE."""

    CON_COUNT_ERROR = 1040
    HANDSHAKE_ERROR = 1043
    DBACCESS_DENIED_ERROR = 1044
    ACCESS_DENIED_ERROR = 1045
    NO_DB_ERROR = 1046
    UNKNOWN_COM_ERROR = 1047
    BAD_NULL_ERROR = 1048
    BAD_DB_ERROR = 1049
    TABLE_EXISTS_ERROR = 1050
    BAD_TABLE_ERROR = 1051
    BAD_FIELD_ERROR = 1054
    DUP_ENTRY = 1062
    PARSE_ERROR = 1064
    EMPTY_QUERY = 1065
    SERVER_SHUTDOWN = 1053
    NO_SUCH_THREAD = 1094
    KILL_DENIED = 1095
    WRONG_TABLE_NAME = 1103
    UNKNOWN_ERROR = 1105
    HOST_NOT_PRIVILEGED = 1130
    WRONG_VALUE_COUNT_ON_ROW = 1136
    TABLEACCESS_DENIED_ERROR = 1142
    NO_SUCH_TABLE = 1146
    ABORTING_CONNECTION = 1152
    NET_PACKET_TOO_LARGE = 1153
    NET_READ_ERROR_FROM_PIPE = 1154
    NET_PACKETS_OUT_OF_ORDER = 1156
    NET_READ_ERROR = 1158
    NET_READ_INTERRUPTED = 1159
    UNKNOWN_SYSTEM_VARIABLE = 1193
    LOCK_WAIT_TIMEOUT = 1205
    WRONG_ARGUMENTS = 1210
    LOCK_DEADLOCK = 1213
    SPECIFIC_ACCESS_DENIED_ERROR = 1227
    WRONG_VALUE_FOR_VAR = 1231
    WRONG_TYPE_FOR_VAR = 1232
    NOT_SUPPORTED_YET = 1235
    UNKNOWN_STMT_HANDLER = 1243
    NOT_SUPPORTED_AUTH_MODE = 1251
    WARN_USING_OTHER_HANDLER = 1266
    OPTION_PREVENTS_STATEMENT = 1290
    UNSUPPORTED_PS = 1295
    WARN_ALLOWED_PACKET_OVERFLOWED = 1301
    QUERY_INTERRUPTED = 1317
    NO_DEFAULT_FOR_FIELD = 1364
    TRUNCATED_WRONG_VALUE_FOR_FIELD = 1366
    PS_MANY_PARAM = 1390
    DATA_TOO_LONG = 1406
    ROW_IS_REFERENCED_2 = 1451
    NO_REFERENCED_ROW_2 = 1452
    MAX_PREPARED_STMT_COUNT_REACHED = 1461
    DATA_OUT_OF_RANGE = 1690
    CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792
    QUERY_TIMEOUT = 3024
    SECURE_TRANSPORT_REQUIRED = 3159
    CAPACITY_EXCEEDED = 3170
    CTE_MAX_RECURSION_DEPTH = 3636

    @property
    def sqlstate(self) -> str:
        """The SQLSTATE MySQL reports with this error ("HY000" when it has no specific one)."""
        return _SQLSTATES.get(self, "HY000")


_SQLSTATES: dict[ErrorCode, str] = {
    ErrorCode.CON_COUNT_ERROR: "08004",
    ErrorCode.HANDSHAKE_ERROR: "08S01",
    ErrorCode.DBACCESS_DENIED_ERROR: "42000",
    ErrorCode.ACCESS_DENIED_ERROR: "28000",
    ErrorCode.NO_DB_ERROR: "3D000",
    ErrorCode.UNKNOWN_COM_ERROR: "08S01",
    ErrorCode.SERVER_SHUTDOWN: "08S01",
    ErrorCode.WRONG_TABLE_NAME: "42000",
    ErrorCode.WRONG_TYPE_FOR_VAR: "42000",
    ErrorCode.BAD_NULL_ERROR: "23000",
    ErrorCode.BAD_DB_ERROR: "42000",
    ErrorCode.TABLE_EXISTS_ERROR: "42S01",
    ErrorCode.BAD_TABLE_ERROR: "42S02",
    ErrorCode.BAD_FIELD_ERROR: "42S22",
    ErrorCode.DUP_ENTRY: "23000",
    ErrorCode.PARSE_ERROR: "42000",
    ErrorCode.EMPTY_QUERY: "42000",
    ErrorCode.WRONG_VALUE_COUNT_ON_ROW: "21S01",
    ErrorCode.TABLEACCESS_DENIED_ERROR: "42000",
    ErrorCode.NO_SUCH_TABLE: "42S02",
    ErrorCode.ABORTING_CONNECTION: "08S01",
    ErrorCode.NET_PACKET_TOO_LARGE: "08S01",
    ErrorCode.NET_READ_ERROR_FROM_PIPE: "08S01",
    ErrorCode.NET_PACKETS_OUT_OF_ORDER: "08S01",
    ErrorCode.NET_READ_ERROR: "08S01",
    ErrorCode.NET_READ_INTERRUPTED: "08S01",
    ErrorCode.LOCK_DEADLOCK: "40001",
    ErrorCode.SPECIFIC_ACCESS_DENIED_ERROR: "42000",
    ErrorCode.WRONG_VALUE_FOR_VAR: "42000",
    ErrorCode.NOT_SUPPORTED_YET: "42000",
    ErrorCode.NOT_SUPPORTED_AUTH_MODE: "08004",
    ErrorCode.QUERY_INTERRUPTED: "70100",
    ErrorCode.DATA_TOO_LONG: "22001",
    ErrorCode.ROW_IS_REFERENCED_2: "23000",
    ErrorCode.NO_REFERENCED_ROW_2: "23000",
    ErrorCode.MAX_PREPARED_STMT_COUNT_REACHED: "42000",
    ErrorCode.DATA_OUT_OF_RANGE: "22003",
    ErrorCode.CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: "25006",
}


class MySQLError(Exception):
    """An error reported to the client as an ERR packet; the connection stays usable.

    ``code`` is a MySQL error number (an :class:`ErrorCode` or any int), ``sqlstate`` five characters
    (defaults to the code's usual SQLSTATE). For a multi-statement query, ``partial`` holds the results
    of the statements that completed before the failing one: they are sent before the ERR packet.
    """

    def __init__(
        self,
        code: int,
        message: str,
        sqlstate: str | None = None,
        *,
        partial: Sequence[Result] = (),
    ) -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.message = message
        if sqlstate is None:
            try:
                sqlstate = ErrorCode(self.code).sqlstate
            except ValueError:
                sqlstate = "HY000"
        if len(sqlstate) != 5 or not sqlstate.isascii():
            raise ValueError(f"SQLSTATE must be 5 ASCII characters, got {sqlstate!r}")
        self.sqlstate = sqlstate
        self.partial = partial

    def __str__(self) -> str:
        return f"({self.code}, {self.sqlstate}) {self.message}"


class ProtocolViolation(Exception):
    """The peer broke the protocol: the server answers with ``error`` (if any) and closes the connection."""

    def __init__(self, error: MySQLError | None, *, seq: int | None = None) -> None:
        super().__init__(str(error) if error else "connection dropped")
        self.error = error
        #: Sequence id for the ERR packet (None: the next one of the current exchange).
        self.seq = seq


def out_of_order() -> ProtocolViolation:
    return ProtocolViolation(MySQLError(ErrorCode.NET_PACKETS_OUT_OF_ORDER, "Got packets out of order"))


class MalformedPacket(Exception):
    """A payload ended early or held an impossible value while being parsed."""
