"""Entry verification in a separate process, so that a big batch from a peer is hashed, walked
byte by byte and signature-checked on another core while the event loop applies the batch before it.

A Python thread does not help here: the checks are mostly Python (the strict dag-cbor walk), and a
thread fighting the event loop for the GIL made catch-up slower (measured, docs/performance.md). A
process has its own interpreter. It is a plain child (``python -m p2pdb.log.verifier``) talking over
its stdin and stdout, not a ``multiprocessing`` worker, so it never imports the parent's main module.

What it sends back is only the CIDs of the blocks that passed
:func:`~p2pdb.log.entry.decode_entry` in full; the log decodes those without checking them again
(:meth:`p2pdb.log.Log.join`, ``checked``) and checks everything else itself, so a block the worker
refused gets its exact error from the log, and a worker that fails or dies only costs speed.

Wire format (all integers big-endian, unsigned 32 bits): a request is ``count``, ``max_size``, then
``count`` times ``length`` and the block; a response is ``count``, then ``count`` times a one-byte
length and a CID. Responses come in request order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
import sys
from collections.abc import Sequence
from typing import BinaryIO

from p2pdb.log.cid import CID, cid_for_block
from p2pdb.log.entry import decode_entry
from p2pdb.log.errors import EntryError

log = logging.getLogger(__name__)

#: Batches smaller than this are checked by the log itself: a round trip to the worker costs more.
MIN_BLOCKS = 32
#: Seconds without work after which the worker exits (started again by the next big batch).
IDLE_SECONDS = 60.0
_U32 = struct.Struct(">I")
_HEAD = struct.Struct(">II")


def check_blocks(blocks: Sequence[bytes], max_size: int) -> list[bytes]:
    """The CIDs (as bytes) of the blocks that decode and verify in full."""
    passed: list[bytes] = []
    for data in blocks:
        cid = cid_for_block(data)
        try:
            decode_entry(data, cid, max_size=max_size)
        except EntryError:
            continue
        passed.append(bytes(cid))
    return passed


def encode_request(blocks: Sequence[bytes], max_size: int) -> bytes:
    parts = [_HEAD.pack(len(blocks), max_size)]
    for block in blocks:
        parts.append(_U32.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def encode_response(cids: Sequence[bytes]) -> bytes:
    return _U32.pack(len(cids)) + b"".join(bytes((len(c),)) + c for c in cids)


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    """The worker's loop: answer requests until the parent closes the pipe."""
    while True:
        head = source.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return
        count, max_size = _HEAD.unpack(head)
        blocks = []
        for _ in range(count):
            (length,) = _U32.unpack(source.read(_U32.size))
            blocks.append(source.read(length))
        sink.write(encode_response(check_blocks(blocks, max_size)))
        sink.flush()


class Verifier:
    """One worker process, started on first use. A batch's future never fails: if the worker cannot
    start, fails or dies, it gives "nothing checked" and the log verifies the blocks itself."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._outbox: collections.deque[tuple[bytes, asyncio.Future[set[CID]]]] = collections.deque()
        self._waiting: collections.deque[asyncio.Future[set[CID]]] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._exiting: list[asyncio.subprocess.Process] = []  # stopped, to be reaped
        self._broken = False
        #: A worker with nothing to do for this long exits (it costs a Python process's memory).
        self.idle_seconds = IDLE_SECONDS
        self.retired = 0
        self.batches = 0
        self.blocks = 0

    def submit(self, blocks: Sequence[bytes], max_size: int) -> asyncio.Future[set[CID]] | None:
        """Start checking ``blocks`` against the entry size limit ``max_size`` (None when the
        batch is small or the worker failed before)."""
        if len(blocks) < MIN_BLOCKS or self._broken:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[set[CID]] = loop.create_future()
        self._outbox.append((encode_request(blocks, max_size), future))
        if not self._tasks:
            self._wake, self._ready = asyncio.Event(), asyncio.Event()
            self._tasks = [loop.create_task(self._send()), loop.create_task(self._receive())]
        assert self._wake is not None
        self._wake.set()
        self.batches += 1
        self.blocks += len(blocks)
        return future

    async def _send(self) -> None:
        assert self._wake is not None and self._ready is not None
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "p2pdb.log.verifier",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C is the node's to handle; the worker ends on EOF
            )
            self._ready.set()
            assert self._proc.stdin is not None
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
                except TimeoutError:
                    if not self._waiting and not self._outbox:
                        self._retire()  # idle: the next big batch starts another worker
                        return
                    continue
                self._wake.clear()
                while self._outbox:
                    frame, future = self._outbox.popleft()
                    self._waiting.append(future)
                    self._proc.stdin.write(frame)
                    await self._proc.stdin.drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # it cannot start, or its pipe broke
            self._fail(exc)

    async def _receive(self) -> None:
        assert self._ready is not None
        try:
            await self._ready.wait()
            assert self._proc is not None and self._proc.stdout is not None
            stdout = self._proc.stdout
            while True:
                (count,) = _U32.unpack(await stdout.readexactly(_U32.size))
                cids: set[CID] = set()
                for _ in range(count):
                    length = (await stdout.readexactly(1))[0]
                    cids.add(CID(await stdout.readexactly(length)))
                future = self._waiting.popleft()
                if not future.done():
                    future.set_result(cids)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker died (EOF) or spoke nonsense
            self._fail(exc)

    def _stop_tasks(self) -> None:
        """Cancel the sender and the receiver (but the one calling)."""
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running loop
            current = None
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks = []

    def _retire(self) -> None:
        """Stop an idle worker: its stdin closes and it exits; nothing is marked broken."""
        self._stop_tasks()
        proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
            self._exiting = [p for p in self._exiting if p.returncode is None] + [proc]
        self.retired += 1

    def _fail(self, exc: BaseException) -> None:
        if not self._broken:
            log.warning("entry verifier process failed (%s): verifying in the node", exc or type(exc))
        self._broken = True
        self.close()

    def close(self) -> None:
        """Stop the worker (a batch still waiting gets "nothing checked")."""
        self._stop_tasks()
        for future in [*self._waiting, *(f for _, f in self._outbox)]:
            if not future.done():
                future.set_result(set())
        self._waiting.clear()
        self._outbox.clear()
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            self._exiting.append(proc)

    async def aclose(self) -> None:
        """:meth:`close`, then wait for the workers to exit."""
        self.close()
        exiting, self._exiting = self._exiting, []
        for proc in exiting:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.stdin.buffer, sys.stdout.buffer)
