"""The command phase: dispatch of COM_* packets and sending of their results."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from . import prepared
from .backend import HandOff, Session
from .constants import (
    OPTION_MULTI_STATEMENTS_OFF,
    OPTION_MULTI_STATEMENTS_ON,
    Capability,
    Command,
    ServerStatus,
)
from .errors import ErrorCode, MalformedPacket, MySQLError, ProtocolViolation
from .packets import PayloadReader
from .results import LocalInfile, OkResult, Result, ResultSet, SqlValue
from .resultset import (
    Output,
    column_definition,
    end_of_rows,
    eof_packet,
    err_packet,
    ok_packet,
    shape_for,
    write_binary_rows,
    write_text_rows,
)

if TYPE_CHECKING:
    from .connection import MySQLConnection

log = logging.getLogger("p2pdb.sql.protocol")
_MORE_RESULTS = int(ServerStatus.MORE_RESULTS_EXISTS)
_PLAIN_ITERATORS: tuple[type, ...] = (type(iter([])), type(iter(())))

Handler = Callable[["MySQLConnection", bytes, Output], Awaitable[None]]


async def run_command(conn: MySQLConnection, payload: bytes) -> None:
    """Run one command packet (sequence id 0); replies start at sequence id 1. Never raises."""
    out = Output(1)
    try:
        if not payload:
            raise ProtocolViolation(MySQLError(ErrorCode.NET_READ_ERROR, "Got an empty command packet"))
        handler = _HANDLERS.get(payload[0])
        if handler is None:
            raise MySQLError(ErrorCode.UNKNOWN_COM_ERROR, "Unknown command")
        await handler(conn, payload, out)
    except HandOff:
        if await conn.hand_off(payload):
            return
        message = "This node's main process could not take over the connection; try again"
        out.add(err_packet(ErrorCode.UNKNOWN_ERROR, "HY000", message))
    except MySQLError as exc:
        out.add(err_packet(exc.code, exc.sqlstate, exc.message))
    except MalformedPacket as exc:
        out.add(err_packet(ErrorCode.NET_READ_ERROR, "08S01", f"Malformed packet: {exc}"))
    except ProtocolViolation as exc:
        conn.write(out.take())
        conn.fail(exc.error, out.seq)
        return
    except ConnectionError:
        conn.close()
        return
    except Exception:
        log.exception("connection %d: command failed", conn.connection_id)
        out.add(err_packet(ErrorCode.UNKNOWN_ERROR, "HY000", "Internal server error (see the server log)"))
    if out.parts:
        conn.write(out.take())


#: Commands a reader process always runs itself; COM_QUERY and COM_STMT_EXECUTE depend on the
#: statement; any other goes to the main process.
_HERE = frozenset(
    (
        Command.QUERY,
        Command.PING,
        Command.QUIT,
        Command.INIT_DB,
        Command.FIELD_LIST,
        Command.STMT_PREPARE,
        Command.STMT_SEND_LONG_DATA,
        Command.STMT_CLOSE,
        Command.STMT_RESET,
    )
)


def _runs_here(conn: MySQLConnection, payload: bytes) -> bool:
    command = payload[0]
    if command == Command.STMT_EXECUTE:
        try:
            state = conn.statements.get(prepared.statement_id(payload), "mysqld_stmt_execute")
        except MySQLError:
            return True  # answered with the error here
        here = getattr(state.stmt, "runs_here", None)
        return here is not None and bool(here())
    return command in _HERE


async def run_in_reader(conn: MySQLConnection, payload: bytes) -> None:
    """A reader process's :func:`run_command`: first pick up what the main process changed, then
    run the command here or hand the connection over with it."""
    before = conn.ctx.before_command
    if before is not None:
        before()
    if payload and payload[0] in _HANDLERS and not _runs_here(conn, payload):
        if await conn.hand_off(payload):
            return
        out = Output(1)
        message = "This node's main process could not take over the connection; try again"
        out.add(err_packet(ErrorCode.UNKNOWN_ERROR, "HY000", message))
        conn.write(out.take())
        return
    await run_command(conn, payload)


async def send_results(
    conn: MySQLConnection,
    out: Output,
    results: Sequence[Result],
    error: MySQLError | None = None,
    *,
    binary: bool = False,
) -> None:
    """Send results in order with SERVER_MORE_RESULTS_EXISTS between them, then ``error`` if any."""
    if not results and error is None:
        results = (OkResult(),)
    status = conn.status()
    last = len(results) - 1
    for i, result in enumerate(results):
        more = i < last or error is not None
        flags = status | _MORE_RESULTS if more else status
        if isinstance(result, ResultSet) and result.columns:
            if not await _send_result_set(conn, out, result, flags, binary):
                return  # an error replaced the rest of the rows and ends the reply
        elif isinstance(result, OkResult):
            out.add(
                ok_packet(result.affected_rows, result.last_insert_id, flags, result.warnings, result.info)
            )
        elif isinstance(result, ResultSet):  # a result set without columns cannot be sent: MySQL says OK
            out.add(ok_packet(0, 0, flags, result.warnings, ""))
        else:  # LOAD DATA LOCAL INFILE amid other results (prepared, multi-statement): refused
            message = "LOAD DATA LOCAL INFILE must be the only statement of its query"
            out.add(err_packet(ErrorCode.NOT_SUPPORTED_YET, "42000", message))
            return
    if error is not None:
        out.add(err_packet(error.code, error.sqlstate, error.message))


async def _send_result_set(
    conn: MySQLConnection, out: Output, rs: ResultSet, status: int, binary: bool
) -> bool:
    shape = shape_for(rs.columns)
    meta, count = shape.metadata(out.seq, conn.deprecate_eof, status & ~_MORE_RESULTS)
    out.add_framed(meta, count)
    rows: Iterator[Sequence[SqlValue]] = iter(rs.rows)
    batch = conn.ctx.options.write_batch
    max_row = conn.ctx.options.max_packet
    ncols = len(shape.columns)
    try:
        while not (
            write_binary_rows(out, rows, shape, batch, max_row)
            if binary
            else write_text_rows(out, rows, ncols, batch, max_row)
        ):
            await conn.flush(out)
            if conn.closing:
                return False
    except MySQLError as exc:
        out.add(err_packet(exc.code, exc.sqlstate, exc.message))
        return False
    except ConnectionError:
        raise  # the client left while we waited to write
    except Exception:
        log.exception("connection %d: producing result rows failed", conn.connection_id)
        out.add(err_packet(ErrorCode.UNKNOWN_ERROR, "HY000", "Internal error while sending rows"))
        return False
    finally:
        if type(rows) not in _PLAIN_ITERATORS:
            close = getattr(rows, "close", None)  # a generator stopped early: let it clean up
            if close is not None:
                close()
    out.add(end_of_rows(conn.deprecate_eof, rs.warnings, status))
    return True


def _session(conn: MySQLConnection) -> Session:
    session = conn.session
    if session is None:
        raise ProtocolViolation(None)
    return session


async def _query(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    sql = payload[1:].decode("utf-8", "surrogateescape")
    if not sql.strip():
        raise MySQLError(ErrorCode.EMPTY_QUERY, "Query was empty")
    try:
        results = await _session(conn).execute(sql, multi=conn.multi_statements)
    except MySQLError as exc:
        if not exc.partial:
            raise
        await send_results(conn, out, exc.partial, exc)
        return
    if results and isinstance(results[-1], LocalInfile):
        await _local_infile(conn, out, results)
        return
    await send_results(conn, out, results)


async def _local_infile(conn: MySQLConnection, out: Output, results: Sequence[Result]) -> None:
    """LOAD DATA LOCAL INFILE: ask the client for the file (0xFB + name), read its packets up to the
    empty one, load them. A client that did not enable local files gets 3948, as from MySQL."""
    request = results[-1]
    assert isinstance(request, LocalInfile)
    if len(results) > 1:
        raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "LOAD DATA LOCAL INFILE must be the only statement")
    if not conn.capabilities & Capability.LOCAL_FILES:
        raise MySQLError(
            3948, "Loading local data is disabled; this must be enabled on both the client and server sides"
        )
    out.add(b"\xfb" + request.filename.encode("utf-8", "surrogateescape"))
    seq = out.seq
    conn.write(out.take())
    chunks: list[bytes] = []
    size = 0
    limit = _LOCAL_INFILE_LIMIT
    while True:
        try:
            payload = await conn.read_command_packet(seq)
        except TimeoutError:
            conn.fail(
                MySQLError(ErrorCode.NET_READ_INTERRUPTED, "Got timeout reading communication packets"), seq
            )
            return
        seq = (seq + 1) & 0xFF
        if not payload:
            break
        size += len(payload)
        if size <= limit:
            chunks.append(payload)
    reply = Output(seq)
    if size > limit:
        reply.add(
            err_packet(
                ErrorCode.NET_PACKET_TOO_LARGE,
                "08S01",
                f"LOAD DATA LOCAL INFILE files are limited to {limit} bytes",
            )
        )
    else:
        try:
            result = await request.load(b"".join(chunks))
        except MySQLError as exc:
            reply.add(err_packet(exc.code, exc.sqlstate, exc.message))
        else:
            await send_results(conn, reply, [result])
    conn.write(reply.take())


#: The largest file LOAD DATA LOCAL INFILE takes (it is held in memory while it loads).
_LOCAL_INFILE_LIMIT = 256 << 20


async def _init_db(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    await _session(conn).use(payload[1:].decode("utf-8", "replace"))
    out.add(ok_packet(0, 0, conn.status(), 0, ""))


async def _ping(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    out.add(ok_packet(0, 0, conn.status(), 0, ""))


async def _quit(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    conn.close()


async def _field_list(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    r = PayloadReader(payload, 1)
    table = r.nul_bytes().decode("utf-8", "replace")
    wildcard = r.rest().decode("utf-8", "replace")
    columns = await _session(conn).field_list(table, wildcard)
    for column in columns:
        out.add(column_definition(column, field_list=True))
    out.add(end_of_rows(conn.deprecate_eof, 0, conn.status()))


async def _statistics(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    out.add(conn.ctx.statistics().encode())


async def _set_option(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    option = PayloadReader(payload, 1).u16()
    if option == OPTION_MULTI_STATEMENTS_ON:
        conn.multi_statements = True
        conn.capabilities |= Capability.MULTI_STATEMENTS
    elif option == OPTION_MULTI_STATEMENTS_OFF:
        conn.multi_statements = False
        conn.capabilities &= ~Capability.MULTI_STATEMENTS
    else:
        raise MySQLError(ErrorCode.UNKNOWN_COM_ERROR, "Unknown command")
    if conn.deprecate_eof:
        out.add(ok_packet(0, 0, conn.status(), 0, "", header=0xFE))
    else:
        out.add(eof_packet(0, conn.status()))


async def _refresh(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    """COM_REFRESH (``mysqladmin flush-*``, ``mariadb-dump --flush-logs``): as FLUSH, nothing to do."""
    out.add(ok_packet(0, 0, conn.status(), 0, ""))


async def _reset_connection(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    conn.statements.close_all()
    await _session(conn).reset()
    out.add(ok_packet(0, 0, conn.status(), 0, ""))


async def _prepare(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    await prepared.prepare(conn, _session(conn), payload[1:].decode("utf-8", "surrogateescape"), out)


async def _execute(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    results = await prepared.execute(conn, payload)
    if len(results) > 1 and not conn.capabilities & Capability.PS_MULTI_RESULTS:
        results = results[:1]
    await send_results(conn, out, results, binary=True)


async def _send_long_data(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    conn.statements.send_long_data(payload)


async def _stmt_close(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    conn.statements.close(PayloadReader(payload, 1).u32())


async def _stmt_reset(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    conn.statements.reset(PayloadReader(payload, 1).u32())
    out.add(ok_packet(0, 0, conn.status(), 0, ""))


async def _stmt_fetch(conn: MySQLConnection, payload: bytes, out: Output) -> None:
    raise MySQLError(ErrorCode.NOT_SUPPORTED_YET, "This version of P2PDB doesn't yet support 'cursors'")


_HANDLERS: dict[int, Handler] = {
    Command.QUERY: _query,
    Command.INIT_DB: _init_db,
    Command.PING: _ping,
    Command.QUIT: _quit,
    Command.FIELD_LIST: _field_list,
    Command.STATISTICS: _statistics,
    Command.REFRESH: _refresh,
    Command.SET_OPTION: _set_option,
    Command.RESET_CONNECTION: _reset_connection,
    Command.STMT_PREPARE: _prepare,
    Command.STMT_EXECUTE: _execute,
    Command.STMT_SEND_LONG_DATA: _send_long_data,
    Command.STMT_CLOSE: _stmt_close,
    Command.STMT_RESET: _stmt_reset,
    Command.STMT_FETCH: _stmt_fetch,
}
