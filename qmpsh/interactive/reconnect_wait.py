"""Waiting for QEMU to come back at the same target, for the prompt's reconnect.

No UI here: the REPL decides whether to wait (asks, or ``--reconnect``) and
shows the wait; this only retries until a connection is negotiated. A QEMU
restarted on the same socket path, or a monitor freed by another client, is
what it waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from qmpsh.errors import ConnectFailed
from qmpsh.transport.interface import Transport

#: One attempt to connect and negotiate; raises ``ConnectFailed`` when it cannot.
Connector = Callable[[], Awaitable[Transport]]
#: Told, after each failed attempt, how long the wait has lasted and why it failed.
Progress = Callable[[float, str], None]

#: Between attempts: quick enough that a restarted QEMU is found at once, rare enough
#: that a missing socket costs nothing.
INTERVAL = 0.25


async def wait_for_server(
    connect: Connector, *, interval: float = INTERVAL, progress: Progress | None = None
) -> Transport:
    """Retry ``connect`` until it succeeds; cancel the task to give up."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        try:
            return await connect()
        except ConnectFailed as err:
            if progress is not None:
                progress(loop.time() - start, str(err))
        await asyncio.sleep(interval)
