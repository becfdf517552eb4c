"""A child process on a pseudo-terminal, as a shell starts it, and what its terminal shows.

``PtyProcess`` runs a program with a pty of a fixed size as its controlling
terminal: its stdin, its stdout, and its stderr unless that goes to a file. A
``Reader`` thread drains the pty as a terminal would (answering cursor position
requests, counting lines that match a pattern), so the child never blocks on a
full terminal and the test waits on what arrives instead of polling.
``PtyProcess.qmpsh`` starts ``python -m qmpsh`` in a colour terminal's
environment, whatever the tester's own. ``plain`` is that output as a person
reads it, ``colour_codes`` the colours it set. The benchmarks use these too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.support.waiting import wait_until

#: How long a test waits for something to show.
DEADLINE = 15.0

# Any escape sequence a terminal program writes: CSI (colours, cursor), OSC, charset,
# keypad modes, save and restore the cursor, and the other two-byte escapes.
_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78]|[@-Z\\-_])")
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_CPR_REQUEST = b"\x1b[6n"
#: What the tester's own environment may hold that changes what qmpsh draws.
_TESTERS_OWN = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "PAGER", "LESS")


def plain(raw: str) -> str:
    """Terminal output as read: without escape sequences, lines ended by ``\\n`` alone."""
    return _ESCAPE.sub("", raw).replace("\r\n", "\n").replace("\r", "")


def colour_codes(raw: str) -> set[str]:
    """SGR parameters that set a colour (foreground or background), as written."""
    found = set()
    for params in _SGR.findall(raw):
        codes = [int(p) for p in params.split(";") if p]
        for i, code in enumerate(codes):
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 107 or code in (38, 48):
                found.add(";".join(str(c) for c in codes[i:]))
                break
    return found


def terminal_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment as a colour terminal's (``xterm-256color``), without
    the tester's own size, colour and pager settings, then ``overrides``. The size is
    the pty's; prompt_toolkit asks no cursor positions."""
    env = {k: v for k, v in os.environ.items() if k not in _TESTERS_OWN}
    env.update(TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    env.update(overrides or {})
    return env


class Reader:
    """Drains a file descriptor in a thread into ``data``; counts lines matching ``count``.

    ``answer_cpr`` answers a terminal's cursor position requests, as a terminal
    would. ``closed`` is set when every writer has gone (EOF, or EIO on a pty).
    """

    def __init__(
        self, fd: int, count: re.Pattern[bytes] | None = None, *, answer_cpr: bool = False
    ) -> None:
        self.fd = fd
        self.data = bytearray()
        self.counted = 0
        self.closed = False
        self._count = count
        self._partial = b""
        self._answer = answer_cpr
        self._changed = threading.Condition()
        self._wake, self._woken = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            ready = select.select([self.fd, self._wake], [], [])[0]
            chunk = b""
            if self._wake not in ready:
                with contextlib.suppress(OSError):  # EIO: the pty's other side is gone
                    chunk = os.read(self.fd, 1 << 16)
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

    def text(self, start: int = 0) -> str:
        """What was read from byte ``start`` on, as ``plain`` text."""
        return plain(bytes(self.data[start:]).decode("utf-8", "replace"))

    def wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` (called under the lock), EOF or the timeout; ``ready()``."""
        with self._changed:
            return self._changed.wait_for(lambda: ready() or self.closed, timeout) and ready()

    def wait_text(self, pattern: str, start: int = 0, timeout: float = 20) -> bool:
        """Wait for ``pattern`` (a regex) in the plain text read from byte ``start`` on."""
        return self.wait(lambda: re.search(pattern, self.text(start)) is not None, timeout)

    def close(self, timeout: float = 10) -> None:
        """Stop reading (at once if the writers are still there) and wait for the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(OSError):
                os.write(self._woken, b"x")
        self._thread.join(timeout)
        os.close(self._wake)
        os.close(self._woken)


class PtyProcess:
    """``argv`` with a pty of ``rows`` x ``cols`` as its controlling terminal and its
    stdout; its stdin too unless ``stdin`` is false, its stderr unless ``stderr`` names
    a file. ``env`` is the child's whole environment."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        rows: int = 24,
        cols: int = 100,
        stdin: bool = True,
        stderr: Path | None = None,
        cwd: Path | None = None,
        count: re.Pattern[bytes] | None = None,
    ) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.errors = stderr
        with contextlib.ExitStack() as closing:
            errors = slave if stderr is None else closing.enter_context(open(stderr, "wb"))
            self.process = subprocess.Popen(
                argv,
                stdin=slave if stdin else subprocess.DEVNULL,
                stdout=slave,
                stderr=errors,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,  # as a shell starts a job: the pty is its terminal
                preexec_fn=lambda: fcntl.ioctl(1, termios.TIOCSCTTY, 0),
            )
        os.close(slave)
        self.open = True
        self.reader = Reader(self.master, count, answer_cpr=True)

    @classmethod
    def qmpsh(
        cls,
        *args: str,
        env: Mapping[str, str] | None = None,
        rows: int = 24,
        cols: int = 100,
        stdin: bool = True,
        stderr: Path | None = None,
    ) -> PtyProcess:
        """``python -m qmpsh ARGS`` in ``terminal_env(env)``."""
        argv = [sys.executable, "-m", "qmpsh", *args]
        return cls(argv, terminal_env(env), rows=rows, cols=cols, stdin=stdin, stderr=stderr)

    @property
    def data(self) -> bytes:
        """Every byte written to the terminal so far, as written."""
        return bytes(self.reader.data)

    @property
    def raw(self) -> str:
        """``data`` decoded, escape sequences and all."""
        return self.data.decode("utf-8", "replace")

    def text(self) -> str:
        """What the terminal shows so far, as ``plain`` text."""
        return plain(self.raw)

    def expect(self, what: str | re.Pattern[str], start: int = 0, timeout: float = DEADLINE) -> int:
        """Wait until ``what`` (text or a pattern) is shown after ``start`` (a position in
        ``text()``); return where it ends there."""
        found: list[int] = []

        def shown() -> bool:
            text = self.text()
            if isinstance(what, str):
                at = text.find(what, start)
                end = at + len(what)
            else:
                match = what.search(text, start)
                at, end = (match.start(), match.end()) if match else (-1, -1)
            if at >= 0:
                found.append(end)
            return at >= 0

        if not self.reader.wait(shown, timeout):
            gone = " (the terminal was closed)" if self.reader.closed else ""
            raise AssertionError(f"no {what!r} on the terminal{gone}; it shows:\n{self.tail()}")
        return found[-1]

    def type(self, keys: str | bytes) -> None:
        """Keys as typed: ``\\r`` is Enter, ``\\x03`` Ctrl-C, ``\\x04`` Ctrl-D."""
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def reading(self) -> bool:
        """Whether a prompt reads the keys: the terminal is out of line mode (raw), as
        prompt_toolkit and readline set it, not in the mode a running command has."""
        return not termios.tcgetattr(self.master)[3] & termios.ICANON

    def wait_reading(self) -> None:
        """Wait until a prompt reads the keys: typed earlier, a control key would be the
        terminal's (Ctrl-C a signal, Ctrl-D the end of a line of input)."""
        wait_until(self.reading, "a prompt to read the keys", describe=self.tail)

    def enter(self, line: str, expect: str, prompt: str) -> str:
        """At the prompt, type a line and Enter; wait for ``expect``, then the next
        ``prompt``. Returns the text shown in between, the echo of the line included."""
        self.wait_reading()
        start = len(self.text())
        self.type(line + "\r")
        end = self.expect(prompt, self.expect(expect, start))
        return self.text()[start : end - len(prompt)]

    def exit_status(self, timeout: float = DEADLINE) -> int:
        """Wait for the child to leave, and for what it wrote to be read; its status."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(
                f"the child did not exit; the terminal shows:\n{self.tail()}"
            ) from None
        if self.open:
            self.reader.wait(lambda: False, timeout)  # EOF: the last output is in
        return status

    def finish(self, keys: str | bytes = "\x04", timeout: float = DEADLINE) -> int:
        """Once a prompt reads the keys, type ``keys`` (Ctrl-D leaves it); the exit status."""
        self.wait_reading()
        self.type(keys)
        return self.exit_status(timeout)

    def hang_up(self) -> None:
        """Close the terminal, as closing its window does (the kernel sends SIGHUP)."""
        self.reader.close()
        os.close(self.master)
        self.open = False

    def session(self) -> list[str]:
        """The command names of the processes in the child's session (the child, a pager
        it runs, the pager's children), from /proc."""
        names = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                text = stat.read_text()
                name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1]
                if int(fields.split()[3]) == self.process.pid:  # the session id
                    names.append(name)
        return names

    def cooked(self) -> bool:
        """Whether the terminal is back in the mode a shell expects (line editing, echo)."""
        local = termios.tcgetattr(self.master)[3]
        wanted = termios.ICANON | termios.ECHO | termios.ISIG
        return bool(local & wanted == wanted)

    def stderr(self) -> str:
        """What the child wrote to its stderr file."""
        assert self.errors is not None, "stderr goes to the terminal"
        return self.errors.read_text(errors="replace")

    def tail(self, size: int = 3000) -> str:
        return self.text()[-size:]

    def close(self) -> None:
        """Kill the child if it still runs; close the terminal."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.open:
            self.hang_up()
