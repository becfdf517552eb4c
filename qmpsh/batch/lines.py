"""Where a script's lines come from: a file, a pipe, ``-c``; numbered, and joined into inputs.

Lines already read are taken at once (``take``), which lets the runner look at
the lines behind the one it runs (to send queries ahead). Waiting for a line that
has not come yet is the transport's ``wait``, so events that arrive meanwhile are
handed on and a QEMU that goes away while a slow pipe thinks is noticed at once
(``ConnectionLost``, exit 4), with or without an event loop.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from qmpsh.language.syntax import OpenInput

#: A script line and its number (from 1).
Line = tuple[int, str]
#: How much one read takes from a file or pipe.
_CHUNK = 1 << 16


class Waiter(Protocol):
    """What waits for a line: a transport (``Transport.wait``), or ``--all``'s loop."""

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool: ...


class ScriptLines:
    """Numbered lines from a file descriptor, or given (``-c``: ``fd`` None)."""

    def __init__(self, fd: int | None, given: Iterable[str] = ()) -> None:
        self.fd = fd
        self._ready: deque[Line] = deque(enumerate(given, 1))
        self._partial: list[bytes] = []
        self._number = 0
        self.done = fd is None
        #: A regular file never blocks: it is read as lines are taken.
        self._regular = fd is not None and stat.S_ISREG(os.fstat(fd).st_mode)

    def take(self) -> Line | None:
        """The next line if it is already read (None if not yet, or at the end)."""
        if not self._ready and self._regular and not self.done:
            self.read()
        return self._ready.popleft() if self._ready else None

    def unread(self, line: Line) -> None:
        """Put back a line taken to look at: it comes next again."""
        self._ready.appendleft(line)

    async def next(self, waiter: Waiter | None) -> Line | None:
        """The next line (None at the end). While none is there, ``waiter`` waits for
        the script and the connection together; without one (after ``quit``, when
        only the script matters) the read blocks."""
        while (line := self.take()) is None:
            if self.done:
                return None
            if waiter is None or await waiter.wait(fd=self.fd):
                self.read()
        return line

    def read(self) -> None:
        """One read of whatever is there (it blocks if nothing is: wait first)."""
        assert self.fd is not None
        try:
            data = os.read(self.fd, _CHUNK)
        except OSError:  # stdin closed under us: the end of the script
            data = b""
        if not data:
            if self._partial:  # a last line without its newline
                self._add(b"".join(self._partial))
                self._partial = []
            self.done = True
            return
        if b"\n" not in data:
            self._partial.append(data)
            return
        *whole, rest = (b"".join([*self._partial, data]) if self._partial else data).split(b"\n")
        self._partial = [rest] if rest else []
        for raw in whole:
            self._add(raw)

    def _add(self, raw: bytes) -> None:
        self._number += 1
        # Undecodable bytes become lone surrogates, which the parser rejects line by
        # line instead of the whole script dying on a UnicodeDecodeError.
        self._ready.append((self._number, raw.decode("utf-8", "surrogateescape").rstrip("\r")))

    def close(self) -> None:
        """Stop reading; lines not taken are dropped."""
        self.done = True
        self._ready.clear()


class Inputs:
    """Joins numbered lines into whole inputs: a ``transaction(`` may span lines up to
    its ``)``. Each line is looked at once (``OpenInput``), so a long transaction
    costs time linear in its length."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._open = OpenInput(multiline_json=False)
        self.first = 0  # the number of the line the input being joined began on

    def add(self, line: Line, *, hmp_mode: bool) -> str | None:
        """The whole input once ``line`` completes one (it began on ``first``), else None."""
        number, text = line
        if not self._pending:
            self.first = number
            self._open = OpenInput(multiline_json=False, hmp_mode=hmp_mode)
        else:
            self._open.feed("\n")
        self._pending.append(text)
        self._open.feed(text)
        if self._open.incomplete:
            return None
        joined = "\n".join(self._pending)
        self._pending = []
        return joined

    def unfinished(self, label: str) -> str | None:
        """What to say at the end of the script if an input was left open."""
        if not self._pending:
            return None
        return f"{label} {self.first}: transaction( is missing its closing ')'"
