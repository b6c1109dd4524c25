"""Server-side prepared statements: COM_STMT_PREPARE/EXECUTE/SEND_LONG_DATA/RESET/CLOSE.

Statement ids are per connection. Parameter types sent with "new params bound" = 1 are remembered and
reused when a later execution sends 0 (as libmysqlclient does when types did not change). Long data is
accumulated per parameter and used (then cleared) by the next execution.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .backend import PreparedStatement, Session
from .binary import decode_params
from .errors import ErrorCode, MalformedPacket, MySQLError
from .packets import PayloadReader
from .results import Result, SqlValue
from .resultset import Output, shape_for

if TYPE_CHECKING:
    from .connection import MySQLConnection

_MAX_PARAMS = 65535
_prepare_ok = struct.Struct("<BIHHBH").pack


class StatementState:
    """One prepared statement of a connection and what its executions carry over."""

    __slots__ = ("long_data", "long_data_error", "param_count", "raw_types", "stmt", "types")

    def __init__(self, stmt: PreparedStatement, param_count: int) -> None:
        self.stmt = stmt
        self.param_count = param_count
        self.types: list[tuple[int, bool]] | None = None
        #: The type block ``types`` was read from (clients resend the same one with every execution).
        self.raw_types = b""
        self.long_data: dict[int, bytearray] = {}
        self.long_data_error: MySQLError | None = None

    def clear_long_data(self) -> None:
        self.long_data = {}
        self.long_data_error = None


class StatementRegistry:
    """The prepared statements of one connection, by id."""

    __slots__ = ("_limit", "_max_long_data", "_next_id", "_statements")

    def __init__(self, limit: int, max_long_data: int) -> None:
        self._statements: dict[int, StatementState] = {}
        self._next_id = 1
        self._limit = limit
        self._max_long_data = max_long_data

    def __len__(self) -> int:
        return len(self._statements)

    def add(self, stmt: PreparedStatement, param_count: int) -> int:
        if len(self._statements) >= self._limit:
            raise MySQLError(
                ErrorCode.MAX_PREPARED_STMT_COUNT_REACHED,
                f"Can't create more than max_prepared_stmt_count statements (current value: {self._limit})",
            )
        stmt_id = self._next_id
        self._next_id = stmt_id % 0xFFFFFFFF + 1
        self._statements[stmt_id] = StatementState(stmt, param_count)
        return stmt_id

    def get(self, stmt_id: int, command: str) -> StatementState:
        state = self._statements.get(stmt_id)
        if state is None:
            raise MySQLError(
                ErrorCode.UNKNOWN_STMT_HANDLER,
                f"Unknown prepared statement handler ({stmt_id}) given to {command}",
            )
        return state

    def export(self) -> dict[str, Any]:
        """The statements as a reader process hands them over (:mod:`p2pdb.sql.serving`)."""
        return {
            "next": self._next_id,
            "statements": [
                {
                    "id": stmt_id,
                    "sql": state.stmt.sql,
                    "params": state.param_count,
                    "types": state.raw_types if state.types is not None else None,
                    "long_data": {str(k): bytes(v) for k, v in state.long_data.items()},
                }
                for stmt_id, state in self._statements.items()
            ],
        }

    def detach(self) -> dict[int, StatementState]:
        """Take the statements out (a connection that moved to another process leaves them here,
        for :meth:`restore` if it comes back)."""
        statements, self._statements = self._statements, {}
        return statements

    async def restore(
        self, session: Session, exported: dict[str, Any], kept: dict[int, StatementState] | None = None
    ) -> None:
        """Prepare again, under the same ids, the statements of :meth:`export`. One that no longer
        prepares (its table was dropped meanwhile) is left out: its next execution gets 1243.
        ``kept``: the statements this connection left in this process when it last moved away
        (:meth:`detach`); one of the same id and text is taken over by ``session`` instead of being
        prepared again (a connection that comes and goes between processes at every transaction
        would otherwise prepare all of its statements twice per transaction)."""
        adopt = getattr(session, "adopt", None)
        for item in exported["statements"]:
            found = kept.get(int(item["id"])) if kept else None
            if (
                found is not None
                and found.stmt.sql == item["sql"]
                and adopt is not None
                and adopt(found.stmt)
            ):
                stmt = found.stmt
            else:
                try:
                    stmt = await session.prepare(item["sql"])
                except MySQLError:
                    continue
            state = StatementState(stmt, int(item["params"]))
            raw = item["types"]
            if raw is not None:
                state.raw_types = bytes(raw)
                state.types = [(raw[i], bool(raw[i + 1] & 0x80)) for i in range(0, len(raw), 2)]
            state.long_data = {int(k): bytearray(v) for k, v in item["long_data"].items()}
            self._statements[int(item["id"])] = state
        self._next_id = int(exported["next"])

    def send_long_data(self, payload: bytes) -> None:
        """COM_STMT_SEND_LONG_DATA has no reply: problems are reported by the next execution."""
        r = PayloadReader(payload, 1)
        state = self._statements.get(r.u32())
        if state is None:
            return
        param = r.u16()
        if param >= state.param_count:
            state.long_data_error = MySQLError(
                ErrorCode.WRONG_ARGUMENTS, "Incorrect arguments to mysqld_stmt_send_long_data"
            )
            return
        buf = state.long_data.setdefault(param, bytearray())
        buf += r.rest()
        if len(buf) > self._max_long_data:
            state.long_data[param] = bytearray()
            state.long_data_error = MySQLError(
                ErrorCode.NET_PACKET_TOO_LARGE,
                "Parameter of prepared statement which is set through mysql_send_long_data() is longer "
                "than 'max_allowed_packet' bytes",
            )

    def reset(self, stmt_id: int) -> None:
        self.get(stmt_id, "mysqld_stmt_reset").clear_long_data()

    def close(self, stmt_id: int) -> None:
        state = self._statements.pop(stmt_id, None)
        if state is not None:
            state.stmt.close()

    def close_all(self) -> None:
        statements, self._statements = self._statements, {}
        for state in statements.values():
            state.stmt.close()


async def prepare(conn: MySQLConnection, session: Session, sql: str, out: Output) -> None:
    """COM_STMT_PREPARE: OK header, then parameter and column definitions (each list ended by EOF)."""
    stmt = await session.prepare(sql)
    params = tuple(stmt.params)
    columns = tuple(stmt.columns)
    if len(params) > _MAX_PARAMS:
        stmt.close()
        raise MySQLError(ErrorCode.PS_MANY_PARAM, "Prepared statement contains too many placeholders")
    try:
        stmt_id = conn.statements.add(stmt, len(params))
    except MySQLError:
        stmt.close()
        raise
    out.add(_prepare_ok(0, stmt_id, len(columns), len(params), 0, 0))
    status = conn.status()
    for group in (params, columns):
        if group:
            meta, count = shape_for(group).metadata(out.seq, conn.deprecate_eof, status, with_count=False)
            out.add_framed(meta, count)


_execute_header = struct.Struct("<IBI").unpack_from


def statement_id(payload: bytes) -> int:
    """The statement id of a COM_STMT_EXECUTE payload (ERR 1210 when it is too short to hold one)."""
    if len(payload) < 10:
        raise MySQLError(ErrorCode.WRONG_ARGUMENTS, "Incorrect arguments to mysqld_stmt_execute")
    # The flags (cursor type) are ignored: cursors are not supported, rows are always sent at once;
    # the iteration count is always 1.
    stmt_id, _flags, _iterations = _execute_header(payload, 1)
    return int(stmt_id)


def decode_execute(state: StatementState, payload: bytes) -> list[SqlValue]:
    """The parameter values of a COM_STMT_EXECUTE payload for ``state``'s statement. Every defect
    (truncated block, bad lengths, unknown types) is ERR 1210; long data is used up either way."""
    try:
        error = state.long_data_error
        if error is not None:
            raise error
        n = state.param_count
        values: list[SqlValue] = []
        if n:
            r = PayloadReader(payload, 10)
            null_bitmap = r.fixed((n + 7) // 8)
            if r.u8() == 1:
                raw = r.fixed(2 * n)
                if raw != state.raw_types or state.types is None:
                    state.types = [(raw[i], bool(raw[i + 1] & 0x80)) for i in range(0, 2 * n, 2)]
                    state.raw_types = raw
            if state.types is None:
                raise MySQLError(ErrorCode.WRONG_ARGUMENTS, "Incorrect arguments to mysqld_stmt_execute")
            values = decode_params(r, state.types, null_bitmap, state.long_data)
    except MalformedPacket:
        raise MySQLError(ErrorCode.WRONG_ARGUMENTS, "Incorrect arguments to mysqld_stmt_execute") from None
    finally:
        if state.long_data or state.long_data_error:
            state.clear_long_data()
    return values


async def execute(conn: MySQLConnection, payload: bytes) -> Sequence[Result]:
    """COM_STMT_EXECUTE: decode the parameters and run the statement."""
    state = conn.statements.get(statement_id(payload), "mysqld_stmt_execute")
    values = decode_execute(state, payload)
    return await state.stmt.execute(values)
