"""One client connection: an ``asyncio.Protocol`` that frames packets and runs one command at a time.

1. ``connection_made`` sends the handshake and starts the login coroutine (:mod:`.login`).
2. Commands run eagerly (:mod:`.eager`), one at a time; one that awaits becomes a Task while later
   packets wait in the reader. Reading pauses when input piles up or the client does not read replies.
3. A protocol violation sends ERR, half-closes, discards input briefly so the client can read it, and
   closes. Session and prepared statements are released once, after any running command ended.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from enum import IntEnum
from typing import Any, cast

from . import commands, login
from .backend import Session, normalize_host, status_flags
from .constants import Capability
from .context import ServerContext
from .eager import run_eagerly
from .errors import ErrorCode, MalformedPacket, MySQLError, ProtocolViolation, out_of_order
from .packets import PacketReader, PacketTooLarge, frame
from .prepared import StatementRegistry
from .resultset import Output, err_packet
from .tls import TlsClosed, TlsLayer

log = logging.getLogger("p2pdb.sql.protocol")

_PAUSE_ABOVE = 1 << 20  # bytes of unparsed input held while busy before reading pauses
_LINGER = 2.0  # seconds of reading (and discarding) after a fatal ERR, before closing
_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)  # plain ints: flag arithmetic on the enum is slow
_MULTI_STATEMENTS = int(Capability.MULTI_STATEMENTS)


class Phase(IntEnum):
    LOGIN = 0
    COMMAND = 1
    CLOSING = 2
    CLOSED = 3


class MySQLConnection(asyncio.Protocol):
    """The server side of one MySQL client connection."""

    def __init__(self, ctx: ServerContext, adopted: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.loop = asyncio.get_running_loop()
        #: A connection a reader process handed over (:mod:`p2pdb.sql.serving`): its state.
        self._adopted = adopted
        self.connection_id = int(adopted["id"]) if adopted is not None else ctx.next_connection_id()
        self.peer_host = ""
        self.phase = Phase.LOGIN
        self.capabilities = 0
        self.deprecate_eof = False
        self.multi_statements = False
        self.session: Session | None = None
        self.statements = StatementRegistry(ctx.options.max_prepared_statements, ctx.options.max_packet)
        self.tls: TlsLayer | None = None
        self._transport: asyncio.Transport | None = None
        self._reader = PacketReader(ctx.options.max_login_packet)
        self._expected_seq = 0
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._read_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        #: Reader process, a TLS connection handed over: the main process's end of the relay.
        self._relay: asyncio.Transport | None = None
        #: Main process: a TLS connection a reader relays (it arrives in clear on a socket pair,
        #: which cannot be given back: the reader keeps serving the relay).
        self.relayed = False
        self._command = commands.run_in_reader if ctx.handoff is not None else commands.run_command

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self.ctx.connections.add(self)
        if self._adopted is None:
            peer = transport.get_extra_info("peername")
            self.peer_host = normalize_host(str(peer[0])) if isinstance(peer, tuple) else "localhost"
        self._timer = self.loop.call_later(self.ctx.options.handshake_timeout, self._login_timeout)
        adopted, self._adopted = self._adopted, None
        if adopted is None:
            self._run(login.login(self))
        else:
            self._run(login.take_over(self, adopted))
            if self._task is None:
                self._pump()  # commands the client sent before the handover

    def data_received(self, data: bytes) -> None:
        if self.phase >= Phase.CLOSING:
            return
        if self.tls is not None:
            try:
                data = self.tls.receive(data)
            except (ssl.SSLError, TlsClosed) as exc:
                log.debug("connection %d: TLS ended: %s", self.connection_id, exc)
                self.close()
                return
            if self._relay is not None:
                if data:
                    self._relay.write(data)
                return
        self._reader.feed(data)
        self._pump()
        if self.phase == Phase.COMMAND:
            self._watch_partial()

    def _watch_partial(self) -> None:
        """A command packet that stops arriving half-way closes the connection after
        ``read_timeout`` s of silence (ERR 1159), as MySQL's net_read_timeout."""
        timer = self._read_timer
        if timer is not None:
            timer.cancel()
            self._read_timer = None
        if self._task is None and not self._write_paused and self._reader.partial():
            self._read_timer = self.loop.call_later(self.ctx.options.read_timeout, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.phase == Phase.COMMAND and self._task is None and self._reader.partial():
            log.debug("connection %d: timed out reading a packet", self.connection_id)
            self.fail(
                MySQLError(ErrorCode.NET_READ_INTERRUPTED, "Got timeout reading communication packets"), 1
            )

    def eof_received(self) -> None:
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._relay is not None:
            self._relay.close()
        self.phase = Phase.CLOSED
        self.ctx.connections.discard(self)
        self._cancel_timer()
        lost = ConnectionResetError("client disconnected")
        for fut in (self._waiter, self._drain_waiter):
            if fut is not None and not fut.done():
                fut.set_exception(lost)
                fut.exception()  # mark retrieved: nobody may be waiting any more
        if self._task is None:
            self._release()

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._relay is not None:
            self._relay.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._relay is not None:
            self._relay.resume_reading()
            return
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        elif self._task is None and self.phase == Phase.COMMAND:
            self._resume_reading()
            self._pump()  # commands held back while the client was not reading its replies

    def _next_packet(self) -> tuple[int, bytes] | None:
        try:
            return self._reader.next_packet()
        except PacketTooLarge as exc:
            error = MySQLError(
                ErrorCode.NET_PACKET_TOO_LARGE, "Got a packet bigger than 'max_allowed_packet' bytes"
            )
            raise ProtocolViolation(error, seq=exc.seq + 1) from None
        except MalformedPacket as exc:
            raise ProtocolViolation(MySQLError(ErrorCode.NET_PACKETS_OUT_OF_ORDER, str(exc))) from None

    def _pump(self) -> None:
        """Deliver parsed packets: to the login coroutine if it waits for one, else run them as commands."""
        try:
            waiter = self._waiter
            if waiter is not None:
                if not waiter.done():
                    packet = self._next_packet()
                    if packet is not None:
                        waiter.set_result(packet)
                return
            # A client that sends commands without reading the replies fills the transport's write
            # buffer: stop running its commands (and reading) until the buffer drains.
            while self._task is None and self.phase == Phase.COMMAND and not self._write_paused:
                if self.ctx.hand_back is not None and self._leaves():
                    self._run(self._give_back())  # the commands not run yet go along
                    continue
                packet = self._next_packet()
                if packet is None:
                    break
                seq, payload = packet
                if seq != 0:
                    raise out_of_order()
                self.ctx.questions += 1
                self._run(self._command(self, payload))
            busy = self._task is not None or self._write_paused
            if busy and not self._read_paused and self._reader.buffered() > _PAUSE_ABOVE:
                self._read_paused = True
                if self._transport is not None:
                    self._transport.pause_reading()
        except ProtocolViolation as exc:
            # In the login phase the ERR continues the exchange's sequence; commands answer from 1.
            self.fail(exc.error, exc.seq if waiter is not None or exc.seq is not None else 1)

    async def read_packet(self) -> bytes:
        """Login phase: the next packet, its sequence id checked. ConnectionError if the client left."""
        packet = self._next_packet()
        if packet is None:
            if self.phase >= Phase.CLOSING:
                raise ConnectionResetError("connection closing")
            self._waiter = self.loop.create_future()
            try:
                packet = await self._waiter
            finally:
                self._waiter = None
        seq, payload = packet
        if seq != self._expected_seq:
            raise out_of_order()
        self._expected_seq = (seq + 1) & 0xFF
        return payload

    async def read_command_packet(self, seq: int) -> bytes:
        """Command phase: the next packet of an exchange inside a command (the file of LOAD DATA
        LOCAL INFILE), with sequence id ``seq``; reading resumes if it was paused meanwhile."""
        self._expected_seq = seq
        self._resume_reading()
        return await asyncio.wait_for(self.read_packet(), self.ctx.options.read_timeout)

    def write(self, data: bytes) -> None:
        if self.phase >= Phase.CLOSING or self._transport is None:
            return
        if self.tls is None:
            self._transport.write(data)
            return
        try:
            self.tls.send(data)
        except ssl.SSLError:
            self.close()

    def send(self, payload: bytes) -> None:
        """Login phase: send one packet with the next sequence id."""
        out = Output(self._expected_seq)
        out.add(payload)
        self._expected_seq = out.seq
        self.write(out.take())

    async def flush(self, out: Output) -> None:
        """Write ``out`` and wait while the transport's buffer is above its high-water mark."""
        self.write(out.take())
        if self._write_paused and self.phase < Phase.CLOSING:
            self._drain_waiter = self.loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    @property
    def closing(self) -> bool:
        return self.phase >= Phase.CLOSING

    def status(self) -> int:
        """SERVER_STATUS flags for the current session state."""
        return status_flags(self.session)

    def start_tls(self) -> None:
        """Switch to TLS after an SSLRequest; bytes already received belong to the TLS handshake."""
        assert self.ctx.ssl_context is not None and self._transport is not None
        self.tls = TlsLayer(self.ctx.ssl_context, self._transport.write)
        pending = self._reader.take_buffered()
        if pending:
            self.data_received(pending)

    def feed(self, data: bytes) -> None:
        """Bytes received before this process served the connection (a handover's unread input)."""
        self._reader.feed(data)

    async def hand_off(self, payload: bytes) -> bool:
        """Reader process: move this connection to the main process, which runs command ``payload``
        and everything after it. False (nothing moved) if the main process cannot take it."""
        session = self.session
        export = getattr(session, "export_state", None)
        if export is None or self.ctx.handoff is None:
            return False
        state: dict[str, Any] = {
            "id": self.connection_id,
            "peer_host": self.peer_host,
            "tls": self.tls is not None,
            "capabilities": self.capabilities,
            "session": export(),
            "statements": self.statements.export(),
        }
        log.debug("connection %d: handing over at %r", self.connection_id, payload[:60])
        framed, _ = frame(payload, 0)
        return await self._move(state, framed, self.ctx.handoff)

    def _leaves(self) -> bool:
        """Main process with reader processes: whether this connection goes back to one now (a plain
        connection whose session says it serves only reads again)."""
        if self.tls is not None or self.relayed:
            return False
        leave = getattr(self.session, "may_leave", None)
        return leave is not None and bool(leave())

    async def _give_back(self) -> None:
        """Main process: move this connection to a reader process (nothing happens if none takes it)."""
        export = getattr(self.session, "export_state", None)
        if export is None:
            return
        try:
            session = export()
        except ValueError:
            return
        state: dict[str, Any] = {
            "id": self.connection_id,
            "peer_host": self.peer_host,
            "tls": False,
            "capabilities": self.capabilities,
            "session": session,
            "statements": self.statements.export(),
        }
        log.debug("connection %d: giving it back to a reader process", self.connection_id)
        await self._move(state, b"", self.ctx.hand_back)

    async def _move(
        self,
        state: dict[str, Any],
        first: bytes,
        handoff: Callable[[int, dict[str, Any]], Awaitable[None]] | None,
    ) -> bool:
        transport = self._transport
        if transport is None or handoff is None or self.phase >= Phase.CLOSING:
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        # Replies already written go out before the main process answers anything.
        transport.set_write_buffer_limits(high=0)
        while transport.get_write_buffer_size() and self.phase < Phase.CLOSING:
            self._drain_waiter = self.loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
        transport.pause_reading()
        self._read_paused = True
        rest = self._reader.take_buffered()
        state["pending"] = first + rest
        # A plain connection moves whole; a TLS one cannot leave its TLS session, so this process
        # relays its plaintext to the main process over a socket pair.
        ours, theirs = socket.socketpair() if self.tls is not None else (None, None)
        fd = theirs.detach() if theirs is not None else os.dup(sock.fileno())
        try:
            await handoff(fd, state)
        except OSError as exc:
            log.log(
                logging.DEBUG if self.ctx.hand_back is not None else logging.WARNING,
                "connection %d: could not hand over to another process: %s",
                self.connection_id,
                exc,
            )
            if ours is not None:
                ours.close()
            self._reader.feed(rest)
            transport.set_write_buffer_limits()
            self._resume_reading()
            return False
        finally:
            os.close(fd)
        self._cancel_timer()
        if ours is None:
            # The other process holds the socket now: close only this process's descriptor (no FIN).
            # Its prepared statements stay here, to be taken over if it comes back.
            self.ctx.leave_statements(self.connection_id, self.statements.detach())
            self.phase = Phase.CLOSING
            transport.abort()
            return True
        relay, _ = await self.loop.connect_accepted_socket(lambda: _Relay(self), ours)
        self._relay = relay
        self._release()
        transport.set_write_buffer_limits()
        self._resume_reading()
        return True

    def enter_command_phase(self, capabilities: int) -> None:
        self.capabilities = capabilities
        self.deprecate_eof = bool(capabilities & _DEPRECATE_EOF)
        self.multi_statements = bool(capabilities & _MULTI_STATEMENTS)
        self._reader.max_payload = self.ctx.options.max_packet
        self._reader.skip_oversized = True
        self._cancel_timer()
        self.phase = Phase.COMMAND

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = run_eagerly(coro, self.loop)
        except Exception:
            log.exception("connection %d: unexpected error", self.connection_id)
            self.close()
            return
        if task is not None:
            self._task = task
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("connection %d: unexpected error", self.connection_id, exc_info=task.exception())
            self.close()
        if self.phase == Phase.CLOSED:
            self._release()
            return
        if not self._write_paused:
            self._resume_reading()
        self._pump()
        if self.phase == Phase.COMMAND:
            self._watch_partial()

    def _resume_reading(self) -> None:
        if self._read_paused and self._transport is not None:
            self._read_paused = False
            self._transport.resume_reading()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._read_timer is not None and self.phase >= Phase.CLOSING:
            self._read_timer.cancel()
            self._read_timer = None

    def _login_timeout(self) -> None:
        self._timer = None
        if self.phase == Phase.LOGIN:
            log.debug("connection %d: login timed out", self.connection_id)
            self.close()

    def fail(self, error: MySQLError | None, seq: int | None = None) -> None:
        """Fatal protocol error: send ``error`` (if any), close once the client had a chance to read it."""
        if self.phase >= Phase.CLOSING or self._transport is None:
            return
        if error is not None:
            out = Output(self._expected_seq if seq is None else seq)
            out.add(err_packet(error.code, error.sqlstate, error.message))
            self.write(out.take())
        self.phase = Phase.CLOSING
        self._reader.take_buffered()  # input from now on is discarded
        self._resume_reading()
        transport = self._transport
        if self.tls is None and transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(_LINGER, transport.close)
        else:
            transport.close()

    def close(self) -> None:
        """Close now (COM_QUIT, client EOF, timeouts)."""
        if self.phase < Phase.CLOSING:
            self.phase = Phase.CLOSING
        if self._transport is not None:
            self._transport.close()

    def _release(self) -> None:
        """Free the session and prepared statements (once, when no command runs any more)."""
        self.statements.close_all()
        session, self.session = self.session, None
        if session is not None:
            try:
                session.close()
            except Exception:
                log.exception("connection %d: session.close() failed", self.connection_id)


class _Relay(asyncio.Protocol):
    """Reader process: the main process's side of a TLS connection it took over (plaintext)."""

    def __init__(self, conn: MySQLConnection) -> None:
        self.conn = conn
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.conn.write(data)

    def eof_received(self) -> bool | None:
        self.conn.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()

    def pause_writing(self) -> None:  # the main process reads slower than the client sends
        transport = self.conn._transport
        if transport is not None:
            transport.pause_reading()

    def resume_writing(self) -> None:
        transport = self.conn._transport
        if transport is not None and not self.conn._read_paused:
            transport.resume_reading()
