"""A script's lines read with plain blocking reads, for scripts run without asyncio.

``directscript`` waits on the script and the socket together (``select``), so it
needs to know when a read will not block; ``lines`` (asyncio) goes on from where
this stopped when a script hands over (``lines.resumed``). The splitting and
decoding of lines, and joining them into inputs, live here: both runners share them.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable

from qmpsh.language.syntax import is_incomplete

#: A script line and its number (from 1).
Line = tuple[int, str]


def decode(data: bytes) -> str:
    """Undecodable bytes become lone surrogates, which the parser rejects line by line
    instead of the whole script dying on a UnicodeDecodeError."""
    return data.decode("utf-8", "surrogateescape").rstrip("\r\n")


def split(partial: list[bytes], data: bytes) -> tuple[list[bytes], list[bytes]]:
    """(whole lines, the new partial tail) after ``data`` arrived behind ``partial``."""
    if b"\n" not in data:
        return [], [*partial, data]
    *whole, rest = (b"".join([*partial, data]) if partial else data).split(b"\n")
    return whole, [rest] if rest else []


class BlockingLines:
    """Numbered lines from a file descriptor (``fd``), or given (``-c``: ``fd`` None)."""

    def __init__(self, fd: int | None, given: Iterable[Line] = ()) -> None:
        self.fd = fd
        self.ready: deque[Line] = deque(given)
        self.partial: list[bytes] = []
        self.number = 0
        self.done = fd is None

    def take(self) -> Line | None:
        """The next line if it is already read (None if not yet, or at the end)."""
        return self.ready.popleft() if self.ready else None

    def unread(self, line: Line) -> None:
        self.ready.appendleft(line)

    def read(self) -> None:
        """One read of whatever is there (blocks if nothing is: select first)."""
        assert self.fd is not None
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:  # stdin closed under us: the end of the script
            data = b""
        if not data:
            if self.partial:  # a last line without its newline
                self.number += 1
                self.ready.append((self.number, decode(b"".join(self.partial))))
                self.partial = []
            self.done = True
            return
        whole, self.partial = split(self.partial, data)
        for raw in whole:
            self.number += 1
            self.ready.append((self.number, decode(raw)))


class Inputs:
    """Joins numbered lines into whole inputs: a ``transaction(`` may span lines up to
    its ``)``. Shared by both script runners, so a script means the same in each."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self.first = 0  # the number of the line the input being joined began on

    def add(self, line: Line, *, hmp_mode: bool) -> str | None:
        """The whole input once ``line`` completes one (it began on ``first``), else None."""
        number, text = line
        if not self._pending:
            self.first = number
        self._pending.append(text)
        joined = "\n".join(self._pending)
        if is_incomplete(joined, multiline_json=False, hmp_mode=hmp_mode):
            return None
        self._pending = []
        return joined

    def unfinished(self, label: str) -> str | None:
        """What to say at the end of the script if an input was left open."""
        if not self._pending:
            return None
        return f"{label} {self.first}: transaction( is missing its closing ')'"
