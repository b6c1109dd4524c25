"""The Unix socket pair between the main process and one reader process.

A message is a 4-byte length, then a CBOR map. From the reader:

- ``{"handoff": state}``: a connection handed over; the client socket's descriptor travels with
  the message's first byte (``SCM_RIGHTS``). Only these messages carry a descriptor, so the
  receiver pairs descriptors with them in order;
- ``{"reply": n, ...}``: the answer to the main process's request ``n``;
- ``{"ready": true}``: the reader listens (before it, it has no session to ask about);
- ``{"sha2": [user, credential, stage2]}``: a full ``caching_sha2_password`` login succeeded (the
  main process keeps it and passes it to the other readers, so a client's next login anywhere takes
  the fast path, as with one process).

From the main process: ``{"request": n, "op": ...}`` (``processlist``; ``kill`` with ``id``,
``query`` and ``user``), answered by :func:`answer` in the reader, ``{"sha2": ...}`` as above, and
``{"handback": state}``: a connection given back to the reader once it serves only reads again,
its socket's descriptor travelling with the message as with ``handoff``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import cbor2

log = logging.getLogger(__name__)
_LENGTH = struct.Struct(">I")
_MAX_MESSAGE = 1 << 30
#: Seconds the main process waits for a reader's answer (a reader that does not answer is left out).
REQUEST_TIMEOUT = 2.0


def _framed(message: dict[str, Any]) -> bytes:
    body = cbor2.dumps(message)
    return _LENGTH.pack(len(body)) + body


class _Messages:
    """Length-prefixed CBOR messages out of a byte stream."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        out = []
        while len(self._buf) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buf, 0)
            if length > _MAX_MESSAGE:
                raise ValueError(f"a message of {length} bytes")
            if len(self._buf) < _LENGTH.size + length:
                break
            body = bytes(self._buf[_LENGTH.size : _LENGTH.size + length])
            del self._buf[: _LENGTH.size + length]
            message = cbor2.loads(body)
            if not isinstance(message, dict):
                raise ValueError("a message that is not a map")
            out.append(message)
        return out


class ReaderEnd:
    """The reader process's end: hands connections over, answers the main process's requests,
    and calls ``closed()`` when the main process's end closes (it stopped or died)."""

    def __init__(
        self,
        sock: socket.socket,
        answer: Callable[[dict[str, Any]], dict[str, Any]],
        closed: Callable[[], None],
        take: Callable[[socket.socket, dict[str, Any]], None] | None = None,
    ) -> None:
        self._sock = sock
        self._sock.setblocking(True)  # sends hold the lock; what would block goes to a worker thread
        self._lock = threading.Lock()
        self._answer = answer
        self._closed = closed
        self._take = take
        self._messages = _Messages()
        self._fds: deque[int] = deque()
        # Reads on the event loop, from a second descriptor of the same socket.
        self._watch = socket.socket(fileno=os.dup(sock.fileno()))
        self._watch.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._watch.fileno(), self._readable)

    async def ready(self) -> None:
        await asyncio.to_thread(self._send_quietly, _framed({"ready": True}))

    def tell(self, message: dict[str, Any]) -> None:
        """Send a message that needs no answer (from a worker thread, in order with the rest)."""
        self._loop.run_in_executor(None, self._send_quietly, _framed(message))

    def _send_quietly(self, data: bytes) -> None:
        try:
            self._send(data, None)
        except OSError as exc:  # the main process is gone: reading the channel sees its end
            log.debug("channel to the main process: %s", exc)

    async def hand_off(self, fd: int, state: dict[str, Any]) -> None:
        data = _framed({"handoff": state})
        # Sent at once when the channel takes it (the usual case); else by a worker thread, in order
        # with the other messages.
        if not self._lock.acquire(blocking=False):
            await asyncio.to_thread(self._send, data, fd)
            return
        try:
            sent = socket.send_fds(self._sock, [data], [fd], socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            self._lock.release()
            await asyncio.to_thread(self._send, data, fd)
            return
        except BaseException:
            self._lock.release()
            raise
        if sent >= len(data):
            self._lock.release()
            return
        rest = data[sent:]  # the descriptor went with the first bytes

        def finish() -> None:
            try:
                self._sock.sendall(rest)
            finally:
                self._lock.release()

        await asyncio.to_thread(finish)

    def _send(self, data: bytes, fd: int | None) -> None:
        with self._lock:
            sent = socket.send_fds(self._sock, [data], [fd]) if fd is not None else 0
            if sent < len(data):
                self._sock.sendall(data[sent:])

    def _readable(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self._watch, 1 << 16, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        self._fds.extend(fds)
        if not data:
            self.close()
            self._closed()
            return
        try:
            messages = self._messages.feed(data)
        except ValueError as exc:
            log.error("channel from the main process: %s", exc)
            self.close()
            self._closed()
            return
        for message in messages:
            if "handback" in message:
                self._handback(message["handback"])
                continue
            if "request" not in message:
                self._answer(message)
                continue
            try:
                reply = self._answer(message)
            except Exception:
                log.exception("answering the main process failed")
                reply = {}
            reply["reply"] = message.get("request")
            self._loop.run_in_executor(None, self._send_quietly, _framed(reply))

    def _handback(self, state: Any) -> None:
        if not self._fds:
            log.error("channel from the main process: a connection without its socket")
            return
        client = socket.socket(fileno=self._fds.popleft())
        if self._take is None or not isinstance(state, dict):
            client.close()  # not served here: the client sees its connection close
            return
        try:
            self._take(client, state)
        except Exception:
            log.exception("could not take back a connection from the main process")
            client.close()

    def close(self) -> None:
        if self._watch.fileno() >= 0:
            self._loop.remove_reader(self._watch.fileno())
            self._watch.close()
        while self._fds:
            os.close(self._fds.popleft())


class MainEnd:
    """The main process's end for one reader: gives each connection handed over to
    ``take(sock, state)``, sends requests, and calls ``closed()`` once when the reader's end closes
    (it exited)."""

    def __init__(
        self,
        sock: socket.socket,
        take: Callable[[socket.socket, dict[str, Any]], None],
        closed: Callable[[], None],
        told: Callable[[dict[str, Any]], None],
    ) -> None:
        self._sock = sock
        self._sock.setblocking(False)
        self._take = take
        self._told = told
        self._closed = closed
        self._messages = _Messages()
        self._fds: deque[int] = deque()
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        self._open = True
        #: The reader listens (and may hold sessions).
        self.ready = False
        self._out = bytearray()  # what the socket did not take yet (sent when it is writable)

    def tell(self, message: dict[str, Any]) -> None:
        """Send a message that needs no answer."""
        self._write(_framed(message))

    def give(self, fd: int, state: dict[str, Any]) -> bool:
        """Give the reader a connection (``fd``, a descriptor of its socket, travels with the message);
        False, and nothing sent, when the reader cannot take it now (not ready, or the channel is
        full)."""
        if not (self._open and self.ready) or self._out:
            return False
        data = _framed({"handback": state})
        try:
            sent = socket.send_fds(self._sock, [data], [fd])
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            log.warning("reader channel: %s", exc)
            return False
        if sent < len(data):  # the descriptor went with the first bytes; the rest follows
            self._out += data[sent:]
            self._loop.add_writer(self._sock.fileno(), self._flush)
        return True

    def _write(self, data: bytes) -> None:
        if not self._open:
            return
        waiting = bool(self._out)
        self._out += data
        if not waiting:
            self._flush()

    def _flush(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            log.warning("reader channel: %s", exc)
            self._out.clear()
            return
        del self._out[:sent]
        if self._out:
            self._loop.add_writer(self._sock.fileno(), self._flush)
        else:
            self._loop.remove_writer(self._sock.fileno())

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Ask the reader; its answer, or {} if it did not answer in time (or is gone)."""
        if not (self._open and self.ready):
            return {}
        number = next(self._numbers)
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._requests[number] = future
        try:
            self._write(_framed({"request": number, "op": op, **args}))
            return await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError:
            return {}
        finally:
            self._requests.pop(number, None)

    def _readable(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self._sock, 1 << 16, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("reader channel failed: %s", exc)
            data, fds = b"", []
        self._fds.extend(fds)
        if not data:
            self._end()
            return
        try:
            messages = self._messages.feed(data)
        except ValueError as exc:
            log.error("reader channel: %s; closing it", exc)
            self._end()
            return
        for message in messages:
            if "handoff" in message:
                self._handoff(message["handoff"])
                if not self._open:
                    return
            elif message.get("ready"):
                self.ready = True
                self._told(message)
            elif "sha2" in message:
                self._told(message)
            else:
                future = self._requests.get(message.get("reply", -1))
                if future is not None and not future.done():
                    future.set_result(message)

    def _handoff(self, state: Any) -> None:
        if not self._fds:
            log.error("reader channel: a connection without its socket; closing the channel")
            self._end()
            return
        client = socket.socket(fileno=self._fds.popleft())
        try:
            if not isinstance(state, dict):
                raise TypeError("a connection's state is a map")
            self._take(client, state)
        except Exception:
            log.exception("could not take over a connection from a reader process")
            client.close()

    def _end(self) -> None:
        self.close()
        self._closed()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
            while self._fds:
                socket.socket(fileno=self._fds.popleft()).close()
            for future in self._requests.values():
                if not future.done():
                    future.set_result({})  # no answer
