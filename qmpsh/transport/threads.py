"""Blocking calls (the libvirt binding) off the event loop, never holding up exit.

``asyncio.to_thread`` would do, but its executor's threads are joined when the
interpreter exits: one call that never returns (a dead remote libvirt host)
would keep qmpsh from exiting after it has said why it is leaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_thread(call: Callable[[], T]) -> asyncio.Future[T]:
    """Run a blocking call on a worker thread; its result on the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(settle: Callable[[Any], None], value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_settle, future, settle, value)

    def job() -> None:
        try:
            result = call()
        except BaseException as err:
            deliver(future.set_exception, err)
        else:
            deliver(future.set_result, result)

    _WORKERS.submit(job)
    return future


def _settle(future: asyncio.Future[Any], settle: Callable[[Any], None], value: object) -> None:
    if not future.done():  # not given up on (cancelled, timed out)
        settle(value)


class _Workers:
    """Daemon threads for blocking calls, kept for the next call.

    Not ``asyncio.to_thread``: its executor's threads are joined at exit, so one
    libvirt call that never returns (a dead remote host) would keep qmpsh alive;
    and not a thread per call, which costs a third of a command's time. A new
    thread starts only when every one is busy (a command and completion lookups).
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._work, name="qmpsh-blocking", daemon=True).start()

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()
