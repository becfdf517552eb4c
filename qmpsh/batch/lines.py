"""Where a script's lines come from: a file, a pipe, ``-c``; numbered, without blocking.

Lines already read are taken at once (no task, no trip through the event loop),
which also lets the script runner look at the lines behind the one it runs (to
send queries ahead). Waiting for a line that has not come yet still races the
connection's end, so a QEMU that goes away while a slow pipe thinks is noticed
at once (``ConnectionLost``, exit 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import IO, Any

from qmpsh.batch.blocking_lines import BlockingLines, Line, decode, split
from qmpsh.errors import ConnectionLost

__all__ = ["IteratedLines", "Line", "Lines", "numbered", "read_lines", "resumed"]
#: A pipe is not read further while this many characters of whole lines wait to run.
_HIGH_WATER = 1 << 20


class Lines:
    """A script's numbered lines; those already read are taken at once (``take``).

    Taking a line that is already here costs no task and no trip through the
    event loop, and lets a script look at the lines behind the one it runs
    (to send queries ahead). Subclasses read a file or a pipe; ``numbered``
    gives one with every line already in.
    """

    def __init__(self, lines: Iterable[Line] = (), *, done: bool = True) -> None:
        self._ready: deque[Line] = deque(lines)
        self._done = done  # no line will come but those in _ready
        self._wake: asyncio.Future[None] | None = None

    def take(self) -> Line | None:
        """The next line if it is already here: None if it is not (yet), or at the end."""
        if not self._ready:
            self._fill()
        return self._ready.popleft() if self._ready else None

    def unread(self, line: Line) -> None:
        """Put back a line taken to look at: it comes next again."""
        self._ready.appendleft(line)

    async def next(self, closed: asyncio.Future[str] | None = None) -> Line | None:
        """The next line (None at the end), or ``ConnectionLost`` if ``closed`` ends first."""
        while (line := self.take()) is None:
            if self._done:
                return None
            await self._wait(closed)
        return line

    async def _wait(self, closed: asyncio.Future[str] | None) -> None:
        await self._start()
        if self._ready or self._done:
            return
        wake = self._wake = asyncio.get_running_loop().create_future()
        try:
            if closed is None:
                await wake
                return
            either: list[asyncio.Future[Any]] = [wake, closed]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wake = None
        if closed.done() and not (self._ready or self._done):
            raise ConnectionLost(closed.result())

    def _woken(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _fill(self) -> None:
        """Read more lines if that cannot block (a regular file)."""

    async def _start(self) -> None:
        """Begin reading (a pipe is connected to the event loop on first need)."""

    def close(self) -> None:
        """Stop reading; lines not taken are dropped."""

    def __aiter__(self) -> AsyncIterator[Line]:
        """``async for``: a generator, so that leaving the loop early still closes this
        (asyncio finalizes abandoned async generators; stdin gets its blocking mode back)."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Line]:
        try:
            while (line := await self.next()) is not None:
                yield line
        finally:
            self.close()

    async def __anext__(self) -> Line:
        line = await self.next()
        if line is None:
            self.close()
            raise StopAsyncIteration
        return line


class _FileLines(Lines):
    """A regular file: reading it never blocks, so lines are read as they are taken."""

    def __init__(self, fd: int) -> None:
        super().__init__(done=False)
        self._file: IO[bytes] = open(fd, "rb", closefd=False)  # noqa: SIM115 - see close()
        self._number = 0
        self._partial: list[bytes] = []  # read before this went on (``resumed``)

    def _fill(self) -> None:
        if self._done:
            return
        data = self._file.readline()
        if self._partial:
            data, self._partial = b"".join([*self._partial, data]), []
        if not data:
            self._done = True
            return
        self._number += 1
        self._ready.append((self._number, decode(data)))

    def close(self) -> None:
        self._done = True
        self._file.close()


class _PipeLines(Lines, asyncio.Protocol):
    """A pipe or terminal, read through the event loop so replies and events keep
    flowing while the writer thinks; a very long backlog pauses the reading."""

    def __init__(self, fd: int) -> None:
        super().__init__(done=False)
        self._fd = fd
        self._transport: asyncio.ReadTransport | None = None
        self._was_blocking = True
        self._partial: list[bytes] = []
        self._number = 0
        self._size = 0  # characters in _ready
        self._paused = False

    async def _start(self) -> None:
        if self._transport is not None or self._done:
            return
        self._was_blocking = os.get_blocking(self._fd)
        pipe = open(self._fd, "rb", closefd=False)  # noqa: SIM115 - the transport closes it
        self._transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: self, pipe)

    def data_received(self, data: bytes) -> None:
        whole, self._partial = split(self._partial, data)
        if not whole:
            return
        for raw in whole:
            self._number += 1
            text = decode(raw)
            self._ready.append((self._number, text))
            self._size += len(text)
        if self._size > _HIGH_WATER and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        self._woken()

    def eof_received(self) -> bool | None:
        if self._partial:  # a last line without its newline
            self._number += 1
            self._ready.append((self._number, decode(b"".join(self._partial))))
            self._partial = []
        self._done = True
        self._woken()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._woken()

    def take(self) -> Line | None:
        line = super().take()
        if line is not None:
            self._size -= len(line[1])
            if self._paused and self._size < _HIGH_WATER // 4 and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
        return line

    def unread(self, line: Line) -> None:
        super().unread(line)
        self._size += len(line[1])

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            os.set_blocking(self._fd, self._was_blocking)
        self._done = True


class IteratedLines(Lines):
    """Any async iterator of lines: nothing is known to be here before it is asked for."""

    def __init__(self, lines: AsyncIterator[Line]) -> None:
        super().__init__(done=False)
        self._lines = lines

    async def next(self, closed: asyncio.Future[str] | None = None) -> Line | None:
        if self._ready:
            return self._ready.popleft()
        if closed is None:
            return await anext(self._lines, None)
        reading = asyncio.ensure_future(anext(self._lines, None))
        either: list[asyncio.Future[Any]] = [reading, closed]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if reading.done():
            return reading.result()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        raise ConnectionLost(closed.result())


# -- where lines come from -------------------------------------------------------------


def numbered(commands: Iterable[str]) -> Lines:
    """``-c`` commands, numbered from 1."""
    return Lines(enumerate(commands, 1))


def read_lines(fd: int) -> Lines:
    """Lines of a script as they arrive, without blocking the event loop on a pipe.

    A regular file never blocks, so it is read directly; a pipe or terminal is
    read through asyncio so replies and events keep flowing while the writer
    thinks. Undecodable bytes become lone surrogates, which the parser rejects
    line by line instead of the whole script dying on a UnicodeDecodeError.
    """
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return _FileLines(fd)
    return _PipeLines(fd)


def resumed(blocking: BlockingLines) -> Lines:
    """Go on reading where a script run without asyncio stopped (``directscript``)."""
    if blocking.fd is None or blocking.done:
        return Lines(blocking.ready)
    fd = blocking.fd
    lines: _FileLines | _PipeLines
    lines = _FileLines(fd) if stat.S_ISREG(os.fstat(fd).st_mode) else _PipeLines(fd)
    lines._ready.extend(blocking.ready)
    lines._partial = list(blocking.partial)
    lines._number = blocking.number
    if isinstance(lines, _PipeLines):
        lines._size = sum(len(text) for _, text in blocking.ready)
    return lines
