"""A QMP socket nobody else can get into: its one client taken, its listen queue full."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

#: More clients than any listen queue QEMU sets up for a monitor.
_AT_MOST = 256


@contextlib.contextmanager
def queue_filled(path: Path) -> Iterator[int]:
    """Connect clients that wait (never greeted: the monitor is held) until the socket's
    queue is full, that is until connect() says EAGAIN; yields how many wait."""
    waiting: list[socket.socket] = []
    try:
        while len(waiting) < _AT_MOST:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            try:
                client.connect(str(path))
            except BlockingIOError:
                client.close()
                break
            waiting.append(client)
        else:
            raise AssertionError(f"{path}: the queue took {_AT_MOST} clients")
        yield len(waiting)
    finally:
        for client in waiting:
            client.close()
