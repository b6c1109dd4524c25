"""The main process's side: starts the reader processes, takes the connections they hand over,
restarts a reader that died, and tells readers about changes (:mod:`.generation`)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2

from p2pdb.sql.protocol.auth import Credential
from p2pdb.sql.protocol.connection import MySQLConnection
from p2pdb.sql.protocol.context import ServerContext

from .channel import MainEnd
from .generation import Generation
from .reader import GENERATION_FILE, GLOBALS_FILE

log = logging.getLogger(__name__)
_RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class ReaderProcesses:
    """``count`` reader processes for one MySQL listener (``ctx``) of the main process."""

    def __init__(
        self,
        ctx: ServerContext,
        data_dir: Path,
        settings: dict[str, Any],
        count: int,
        globals_of: Callable[[], dict[str, Any]],
    ) -> None:
        self.ctx = ctx
        self._globals_of = globals_of
        self.data_dir = data_dir
        self.settings = settings
        self.count = count
        self.generation = Generation(data_dir / GENERATION_FILE, create=True)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._channels: dict[int, MainEnd] = {}
        self._failures: dict[int, int] = {}
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._globals: dict[str, Any] = {}
        self._turn = 0
        self.write_globals(globals_of())
        ctx.sha2_cache.shared = self._share
        ctx.hand_back = self._hand_back

    def start(self) -> None:
        for index in range(1, self.count + 1):
            self._spawn(index)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs.values() if proc.poll() is None]

    def write_globals(self, values: dict[str, Any]) -> None:
        """Write the global variables for readers, when they differ from the last ones written."""
        if values == self._globals:
            return
        self._globals = dict(values)
        path = self.data_dir / GLOBALS_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(cbor2.dumps(values))
        os.replace(tmp, path)

    def changed(self) -> None:
        """Something readers must read again changed and is committed: count it (before the client
        that made the change gets its answer)."""
        self.write_globals(self._globals_of())
        self.generation.bump()

    def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        settings = {**self.settings, "index": index, "processes": self.count + 1}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "p2pdb.sql.serving.reader", "--channel", str(theirs.fileno())],
                stdin=subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as exc:
            log.error("could not start reader process %d: %s", index, exc)
            ours.close()
            theirs.close()
            self._restart_later(index)
            return
        finally:
            theirs.close()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(settings).encode())
        proc.stdin.close()
        self._procs[index] = proc
        self._channels[index] = MainEnd(
            ours, self._take, lambda: self._exited(index), lambda message: self._told(index, message)
        )

    async def processlist(self) -> list[tuple[Any, ...]]:
        """The sessions of every reader process (SHOW PROCESSLIST)."""
        answers = await asyncio.gather(*(end.request("processlist") for end in self._channels.values()))
        return [tuple(row) for answer in answers for row in answer.get("rows", [])]

    async def kill(self, connection_id: int, *, query: bool, user: str) -> dict[str, Any]:
        """KILL a session of a reader process: the one that gave out ``connection_id`` first, then
        the others (a connection given back may be served by any of them)."""
        first = connection_id % (self.count + 1)
        ends = sorted(self._channels.items(), key=lambda item: item[0] != first)
        for _index, end in ends:
            answer = await end.request("kill", id=connection_id, query=query, user=user)
            if answer.get("found"):
                return answer
        return {}

    def give(self, fd: int, state: dict[str, Any]) -> bool:
        """Give a connection to a reader process (the next ready one, in turn); False if none took it."""
        indexes = sorted(self._channels)
        if not indexes:
            return False
        self._turn = (self._turn + 1) % len(indexes)
        for index in indexes[self._turn :] + indexes[: self._turn]:
            if self._channels[index].give(fd, state):
                return True
        return False

    def _share(self, user: str, credential: Credential, stage2: bytes, *, skip: int = 0) -> None:
        """A full caching_sha2_password login succeeded here or in reader ``skip``: tell the others."""
        message = {"sha2": [user, credential.encode(), stage2]}
        for index, end in self._channels.items():
            if index != skip:
                end.tell(message)

    def _told(self, index: int, message: dict[str, Any]) -> None:
        if message.get("ready"):  # a reader (re)started: it learns the logins made so far
            end = self._channels.get(index)
            for user, credential, stage2 in self.ctx.sha2_cache.items():
                if end is not None:
                    end.tell({"sha2": [user, credential.encode(), stage2]})
            return
        user, text, stage2 = message["sha2"]
        credential = Credential.decode(str(text))
        self.ctx.sha2_cache.put(str(user), credential, bytes(stage2), share=False)
        self._share(str(user), credential, bytes(stage2), skip=index)

    async def _hand_back(self, fd: int, state: dict[str, Any]) -> None:
        if not self.give(fd, state):
            raise OSError("no reader process can take the connection now")

    def _take(self, sock: socket.socket, state: dict[str, Any]) -> None:
        ctx = self.ctx
        task = self._loop.create_task(
            self._loop.connect_accepted_socket(lambda: MySQLConnection(ctx, adopted=state), sock)
        )
        task.add_done_callback(_report)

    def _exited(self, index: int) -> None:
        self._channels.pop(index, None)
        proc = self._procs.pop(index, None)
        if self._stopping:
            return
        code = proc.poll() if proc is not None else None
        log.error("reader process %d ended (exit code %s); starting it again", index, code)
        self._restart_later(index)

    def _restart_later(self, index: int) -> None:
        failures = self._failures.get(index, 0)
        self._failures[index] = failures + 1
        delay = _RESTART_DELAYS[min(failures, len(_RESTART_DELAYS) - 1)]
        self._loop.call_later(delay, self._respawn, index)

    def _respawn(self, index: int) -> None:
        if not self._stopping:
            self._spawn(index)

    async def stop(self) -> None:
        self._stopping = True
        for channel in self._channels.values():
            channel.close()  # a reader ends when its channel closes
        self._channels.clear()
        procs, self._procs = list(self._procs.values()), {}
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        self.generation.close()


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("taking over a connection failed", exc_info=task.exception())
