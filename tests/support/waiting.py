"""Waiting for what a test awaits, with a deadline: never ``sleep`` and hope.

Most of what a test waits for is another process's state (a socket file, a
line on a screen, a domain gone), which only polling can see; ``within`` polls
it briefly until a deadline, ``wait_until`` also fails with what it was waiting
for when the deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a test waits for something that takes a moment on an idle machine.
DEADLINE = 15.0


def within(condition: Callable[[], T], timeout: float, interval: float = 0.02) -> T | None:
    """``condition()``'s first true value, polled until ``timeout`` seconds have passed;
    None if it never was."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
    return value


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = DEADLINE,
    *,
    describe: Callable[[], str] | None = None,
    interval: float = 0.02,
) -> T:
    """``condition()``'s first true value; fail with ``what`` (and ``describe()``, the
    state seen) if ``timeout`` seconds pass without one."""
    value = within(condition, timeout, interval)
    if value is None or not value:
        seen = f"; {describe()}" if describe is not None else ""
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{seen}")
    return value


async def until(condition: Callable[[], T], what: str, timeout: float = DEADLINE) -> T:
    """``wait_until`` inside an event loop: the loop runs (tasks progress) between looks."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)
    return value
