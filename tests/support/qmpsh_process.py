"""The real ``qmpsh`` (``python -m qmpsh``) as a child process reading a pipe, as scripts run it.

``run_qmpsh`` runs it to the end on a script given at once; ``run_plain`` also
checks what every plain script run must leave (no traceback, no terminal
escape); ``PipedQmpsh`` keeps its stdin open, so the test writes the script
slowly and acts in between. Each run gets a private state directory, so no
history or schema cache is shared between runs.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import termios
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from tests.support.places import short_tempdir
from tests.support.waiting import DEADLINE, wait_until


def run_qmpsh(
    *args: str,
    input: str | bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``qmpsh`` (``python -m qmpsh``) as a user would, from a pipe."""
    state = short_tempdir()
    full_env = {**os.environ, "XDG_STATE_HOME": str(state), **(env or {})}
    data = input.encode() if isinstance(input, str) else input
    try:
        done = subprocess.run(
            [sys.executable, "-m", "qmpsh", *args],
            input=data if data is not None else b"",
            capture_output=True,
            timeout=timeout,
            env=full_env,
        )
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


class Result:
    """How a plain script run ended; made only from output with no traceback and no
    terminal escape, which no plain run may print."""

    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        for stream in (stdout, stderr):
            assert "Traceback" not in stream, stream
            assert "\x1b" not in stream, stream
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"Result(code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def run_plain(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run qmpsh from a pipe; every run is checked for tracebacks and escape sequences."""
    done = run_qmpsh(*args, input=input, env=env)
    return Result(done.returncode, done.stdout, done.stderr)


def lines(text: str) -> list[str]:
    """The lines of ``text`` that are not empty."""
    return [line for line in text.splitlines() if line]


def out_lines(text: str) -> list[str]:
    """The lines of output that must end with a newline (or be empty)."""
    assert text == "" or text.endswith("\n"), text
    return text.splitlines()


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in lines(text)]


def compact(value: Any) -> str:
    """``value`` as qmpsh prints a result: compact JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def no_traceback(*outputs: str | Sequence[str]) -> None:
    for out in outputs:
        assert "Traceback" not in str(out), out


class PipedQmpsh:
    """``python -m qmpsh ARGS`` reading a pipe the test keeps open: a slow script.

    stdout and stderr go to files, so 10,000 events or a 50 MB reply never stall
    qmpsh on a full pipe. ``TMPDIR`` is private, so what ``--launch`` leaves
    behind can be seen. A context manager: leaving it kills qmpsh if it still runs.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.directory = short_tempdir()
        self.tmpdir = self.directory / "tmp"
        self.tmpdir.mkdir()
        self._out = open(self.directory / "stdout", "w+b")  # noqa: SIM115 - closed in close()
        self._err = open(self.directory / "stderr", "w+b")  # noqa: SIM115
        self._read = 0  # of stdout, in characters: what read_line has returned
        full_env = {
            **os.environ,
            "XDG_STATE_HOME": str(self.directory / "state"),
            "TMPDIR": str(self.tmpdir),
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qmpsh", *args],
            stdin=subprocess.PIPE,
            stdout=self._out,
            stderr=self._err,
            env=full_env,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, *lines: str) -> None:
        """Write these lines to qmpsh's stdin."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write("".join(line + "\n" for line in lines).encode())
        stdin.flush()

    def unread(self) -> int:
        """How many bytes sent are still in the pipe, not yet read by qmpsh."""
        assert self.process.stdin is not None
        count = array.array("i", [0])
        fcntl.ioctl(self.process.stdin.fileno(), termios.FIONREAD, count)
        return count[0]

    def wait_taken(self) -> None:
        """Wait until qmpsh has read every line sent (qmpsh must still be running)."""
        self._wait(lambda: self.unread() == 0, "qmpsh to read the lines sent")

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def stdout(self) -> str:
        return (self.directory / "stdout").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.directory / "stderr").read_text(errors="replace")

    def wait_output(self, condition: Callable[[str], bool], what: str) -> None:
        """Wait until stdout satisfies ``condition`` (qmpsh must still be running)."""
        self._wait(lambda: condition(self.stdout()), what)

    def read_line(self) -> str:
        """The next line qmpsh prints on stdout, once it is whole."""
        self._wait(lambda: "\n" in self.stdout()[self._read :], "a line on stdout")
        out = self.stdout()
        end = out.index("\n", self._read) + 1
        line, self._read = out[self._read : end], end
        return line

    def exit_status(self, timeout: float = DEADLINE) -> int:
        """Wait for qmpsh to leave; fail (and kill it) if it hangs."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"qmpsh did not exit within {timeout:g} s; stderr: {self.stderr()!r}; "
                f"stdout ends: {self.stdout()[-300:]!r}"
            ) from None

    def finish(self, timeout: float = 20) -> Result:
        """Wait for qmpsh to exit by itself; what it printed after the lines already read."""
        code = self.exit_status(timeout)
        return Result(code, self.stdout()[self._read :], self.stderr())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None:
            # Lines qmpsh left unread (it exited first) are not the test's failure.
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        self._out.close()
        self._err.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        def done() -> bool:
            if condition():
                return True
            if self.process.poll() is not None:
                raise AssertionError(
                    f"qmpsh exited ({self.process.returncode}) before {what}; "
                    f"stdout: {self.stdout()[-500:]!r}; stderr: {self.stderr()!r}"
                )
            return False

        wait_until(done, what, describe=lambda: f"stdout holds {len(self.stdout())} characters")


#: Runs qmpsh's main() and then says which heavy modules it imported.
PROBE = """
import sys
from qmpsh.cli.main import main
status = main(sys.argv[1:])
heavy = ("asyncio", "qemu.qmp", "prompt_toolkit", "rich")
print("imported:", *sorted(m for m in heavy if m in sys.modules), file=sys.stderr)
sys.exit(status)
"""


def run_python(code: str, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS``, fed ``input``: qmpsh entered in ways its binary is not."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    """qmpsh run with ``args``; its stderr ends with the heavy modules it imported."""
    return run_python(PROBE, *args, input=input)
