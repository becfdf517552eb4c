"""Terminals and pipes for the benchmarks, on the tests' pty driver (``tests.support.pty_process``).

``on_pty`` runs a program on a pty of ``COLUMNS`` x ``ROWS`` whose reader answers
its cursor position requests as a terminal would (prompt_toolkit asks before it
draws a completion menu) and counts the lines that match a pattern (events
printed). ``drained_pty`` and ``drained_pipe`` give a renderer a terminal or a
pipe whose other end ``cat`` empties, as a terminal emulator or a reader would.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import subprocess
import termios
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from benchmarks.harness import BenchError
from tests.support.pty_process import PtyProcess

COLUMNS, ROWS = 120, 40
#: Keys that leave a prompt whatever is typed: Ctrl-C clears the line, Ctrl-D leaves.
LEAVE = "\x03\x04"


def on_pty(
    argv: Sequence[str],
    env: Mapping[str, str],
    count: re.Pattern[bytes] | None = None,
    *,
    cwd: Path | None = None,
) -> PtyProcess:
    """``argv`` on a colour terminal of ``COLUMNS`` x ``ROWS``, in ``env``."""
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)}
    return PtyProcess(argv, env, rows=ROWS, cols=COLUMNS, cwd=cwd, count=count)


def vmhwm_kb(pid: int) -> int:
    """A process's peak resident set so far (``VmHWM``), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise BenchError("no VmHWM in /proc/PID/status")
    return int(match.group(1))


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
