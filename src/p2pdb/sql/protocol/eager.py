"""Run a coroutine eagerly: synchronously until it first suspends, and only then as an asyncio Task.

Most commands complete without suspending (the backend answers from memory); running them inline in
``data_received`` saves creating and scheduling a Task per query. Python 3.12's eager task factory does
the same; this works on 3.11 and with uvloop.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], first: Any) -> Generator[Any, Any, None]:
    """Continue ``coro`` inside a Task, starting by handing the Task what ``coro`` already yielded."""
    value = first
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation and anything thrown in by the Task
            try:
                value = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                value = coro.send(sent)
            except StopIteration:
                return


async def _continue(coro: Coroutine[Any, Any, None], first: Any) -> None:
    await _resume(coro, first)


def run_eagerly(
    coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop
) -> asyncio.Task[None] | None:
    """Run ``coro`` until it suspends or ends. Return the Task that continues it, or None if it ended.

    Exceptions raised before the first suspension propagate to the caller.
    """
    try:
        first = coro.send(None)
    except StopIteration:
        return None
    task = loop.create_task(_continue(coro, first))
    task.add_done_callback(lambda _: _finish(coro))
    return task


def _finish(coro: Coroutine[Any, Any, None]) -> None:
    """A Task cancelled before its first step never resumed ``coro``: deliver the cancellation now."""
    if getattr(coro, "cr_frame", None) is None:
        return
    try:
        coro.throw(asyncio.CancelledError())
    except (asyncio.CancelledError, StopIteration):
        pass
    finally:
        coro.close()
