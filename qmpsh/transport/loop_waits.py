"""Waiting on the event loop: what the asyncio transports (qemu.qmp, libvirt) share.

The blocking transport waits in ``select``; these wait on asyncio futures, with
the same meaning (``Transport.wait``, ``submit``/``result``), written once here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping

from qmpsh.errors import ConnectionLost, NoReply
from qmpsh.transport import failures


class Arrivals:
    """Wakes what waits for the next message; an observer of every message received."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[bool]] = []

    def __call__(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction == "recv" and self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                _settle(waiter, False)

    async def wait(
        self,
        closed: Callable[[], Awaitable[str]],
        *,
        fd: int | None = None,
        timeout: float | None = None,
    ) -> bool:
        """``Transport.wait`` on the running loop; ``closed`` is the transport's
        ``wait_closed``."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(woken)
        watching = fd is not None and _watch(loop, fd, woken)
        ended = asyncio.ensure_future(closed())
        either: set[asyncio.Future[bool] | asyncio.Future[str]] = {woken, ended}
        try:
            await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if watching and fd is not None:
                loop.remove_reader(fd)
            ended.cancel()
            if woken in self._waiters:
                self._waiters.remove(woken)
        if woken.done() and not woken.cancelled():
            return woken.result()
        if ended.done() and not ended.cancelled():
            raise ConnectionLost(ended.result())
        return False


def _watch(loop: asyncio.AbstractEventLoop, fd: int, ready: asyncio.Future[bool]) -> bool:
    """Settle ``ready`` once ``fd`` is readable; whether the loop watches it. A file the
    loop cannot watch (``/dev/null``, a regular file) never blocks: it is ready now."""
    try:
        loop.add_reader(fd, _settle, ready, True)
    except PermissionError:
        _settle(ready, True)
        return False
    return True


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class _Sent:
    """A command sent ahead: the task that runs it, and its name for a timeout's words."""

    __slots__ = ("command", "task")

    def __init__(self, task: asyncio.Future[dict[str, object]], command: object) -> None:
        self.task, self.command = task, command


def submit(
    execute: Coroutine[object, object, dict[str, object]], message: Mapping[str, object]
) -> object:
    """Run ``execute`` (sending ``message``) as a task of its own; a ticket for ``result``."""
    task = asyncio.ensure_future(execute)
    task.add_done_callback(_retrieved)
    return _Sent(task, message.get("execute") or message.get("exec-oob"))


async def result(target: str, ticket: object, timeout: float | None) -> dict[str, object]:
    """The reply of a submitted command, waited for at most ``timeout`` seconds."""
    assert isinstance(ticket, _Sent)
    try:
        return await asyncio.wait_for(asyncio.shield(ticket.task), timeout)
    except TimeoutError:
        ticket.task.cancel()
        raise NoReply(failures.no_reply(target, ticket.command, timeout or 0)) from None


def drop(ticket: object) -> None:
    assert isinstance(ticket, _Sent)
    ticket.task.cancel()


def _retrieved(task: asyncio.Future[dict[str, object]]) -> None:
    """A reply dropped after a failure may have failed too: that is no news."""
    if not task.cancelled():
        task.exception()


class FileWaiter:
    """A ``batch.lines.Waiter`` for a script alone, on the running loop: ``--all`` reads
    its script while many connections live, each watched by its own commands."""

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[bool] = loop.create_future()
        watching = fd is not None and _watch(loop, fd, ready)
        try:
            return await asyncio.wait_for(ready, timeout)
        except TimeoutError:
            return False
        finally:
            if watching and fd is not None:
                loop.remove_reader(fd)
