"""Terminals and pipes for the benchmarks: a child on a pty, a reader that counts lines.

``PtyChild`` runs a program on a pty of ``COLUMNS`` x ``ROWS`` and answers its
cursor position requests as a terminal would (prompt_toolkit asks before it
draws a completion menu); ``Reader`` drains a descriptor in a thread, keeps
what it read and counts the lines that match a pattern (events printed).
``drained_pty`` and ``drained_pipe`` give a renderer a terminal or a pipe whose
other end ``cat`` empties, as a terminal emulator or a reader would.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from benchmarks.harness import BenchError

COLUMNS, ROWS = 120, 40
_ANSI = re.compile(rb"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78])")
_CPR_REQUEST = b"\x1b[6n"


class Reader:
    """Drains a file descriptor in a thread; counts lines that match ``count``.

    ``answer_cpr`` answers a terminal's cursor position requests, as a terminal
    would (prompt_toolkit asks before drawing a menu).
    """

    def __init__(
        self,
        fd: int,
        count: re.Pattern[bytes] | None = None,
        *,
        answer_cpr: bool = False,
    ) -> None:
        self.fd = fd
        self.data = bytearray()
        self.counted = 0
        self._count = count
        self._partial = b""
        self._answer = answer_cpr
        self._changed = threading.Condition()
        self.closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:  # EIO: the pty's other side is gone
                chunk = b""
            if self._answer and _CPR_REQUEST in chunk:
                with contextlib.suppress(OSError):
                    os.write(self.fd, b"\x1b[1;1R" * chunk.count(_CPR_REQUEST))
            with self._changed:
                if not chunk:
                    self.closed = True
                    self._changed.notify_all()
                    return
                self.data += chunk
                if self._count is not None:
                    lines = (self._partial + chunk).split(b"\n")
                    self._partial = lines.pop()
                    self.counted += sum(1 for line in lines if self._count.search(line))
                self._changed.notify_all()

    def wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` (called under the lock) or the timeout; return ``ready()``."""
        with self._changed:
            return self._changed.wait_for(lambda: ready() or self.closed, timeout) and ready()

    def wait_text(self, pattern: bytes, start: int = 0, timeout: float = 20) -> bool:
        """Wait for ``pattern`` (a regex) in the output from ``start``, escapes stripped."""
        return self.wait(lambda: bool(re.search(pattern, visible(self.data[start:]))), timeout)

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)


def visible(data: bytes | bytearray) -> bytes:
    """Terminal output without its escape sequences."""
    return _ANSI.sub(b"", bytes(data))


class PtyChild:
    """A process whose stdin, stdout and stderr are a pty of ``COLUMNS`` x ``ROWS``."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        count: re.Pattern[bytes] | None = None,
        *,
        cwd: Path | None = None,
    ) -> None:
        master, slave = os.openpty()
        _window(slave)
        self.master = master
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)},
            start_new_session=True,
            cwd=cwd,
        )
        os.close(slave)
        self.reader = Reader(master, count, answer_cpr=True)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def vmhwm_kb(self) -> int:
        """The child's peak resident set so far (``VmHWM``), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if match is None:
            raise BenchError("no VmHWM in /proc/PID/status")
        return int(match.group(1))

    def finish(self, keys: bytes = b"\x03\x04", timeout: float = 10) -> int:
        """Type ``keys`` (Ctrl-C clears the line, Ctrl-D leaves); kill if it lingers."""
        with contextlib.suppress(OSError):
            self.send(keys)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self.reader.join()
        os.close(self.master)
        return status

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.process.pid, sig)


@contextlib.contextmanager
def drained_pty() -> Iterator[TextIO]:
    """A text file on a pty whose other side ``cat`` reads (a terminal)."""
    master, slave = os.openpty()
    _window(slave)
    cat = subprocess.Popen(
        ["cat"], stdin=master, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(master)
    with open(slave, "w", encoding="utf-8") as terminal:
        yield terminal
    cat.wait(10)


@contextlib.contextmanager
def drained_pipe() -> Iterator[TextIO]:
    read, write = os.pipe()
    cat = subprocess.Popen(["cat"], stdin=read, stdout=subprocess.DEVNULL)
    os.close(read)
    with open(write, "w", encoding="utf-8") as pipe:
        yield pipe
    cat.wait(10)


@contextlib.contextmanager
def terminal_environment() -> Iterator[None]:
    """What rich sees at a colour terminal, whatever this run's own environment is."""
    saved = dict(os.environ)
    os.environ["TERM"] = "xterm-256color"
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _window(fd: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
