"""What ``benchmarks.run`` measures with: a private QEMU and timed child processes.

Children run in an environment of their own: ``HOME`` and the XDG directories
in the run's temporary directory (qmp-shell writes ``~/.qmp-shell_history``,
the REPL its history), and byte code cached under a private
``PYTHONPYCACHEPREFIX`` even where ``PYTHONDONTWRITEBYTECODE`` is set, so both
shells start as installed ones do (compiled once, by a warm-up run) and nothing
is written into the source tree.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QEMU = os.environ.get("QMPSH_QEMU", "qemu-system-x86_64")
ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """Something the benchmark needs did not work (QEMU, a child's output)."""


# -- the machine ------------------------------------------------------------------------


def machine_line() -> str:
    """Date, CPUs, CPU model, Python and QEMU versions: the row label of a recorded result."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(
        [QEMU, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    qemu = version[0].removeprefix("QEMU emulator version ") if version else "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} CPUs ({model}), "
        f"Python {platform.python_version()}, QEMU {qemu}, load average {load}"
    )


# -- QEMU -------------------------------------------------------------------------------


@dataclass
class Qemu:
    """One QEMU under TCG with two QMP monitors: ``qmp`` for the tools, ``spare`` for us."""

    process: subprocess.Popen[bytes]
    qmp: Path
    spare: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_qemu(directory: Path, machine: str = "none") -> Qemu:
    if shutil.which(QEMU) is None:
        raise BenchError(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    qmp, spare = directory / "qmp.sock", directory / "spare.sock"
    command = [
        QEMU, "-machine", machine, "-accel", "tcg", "-nodefaults", "-display", "none",
        "-m", "64", "-name", "bench",
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-qmp", f"unix:{spare},server=on,wait=off",
    ]  # fmt: skip
    with open(directory / "qemu.log", "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while not (qmp.exists() and spare.exists()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = (directory / "qemu.log").read_text(errors="replace")
            raise BenchError(f"QEMU did not start: {output}")
        time.sleep(0.02)
    return Qemu(process, qmp, spare)


class Monitor:
    """A blocking QMP client of our own, on the spare monitor."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(str(path))
        self.stream = self.sock.makefile("rwb")
        self.greeting = self._read()
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.stream.readline()
        if not line:
            raise BenchError("QEMU closed the spare monitor")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str) -> Any:
        """The return value of ``command``; events meanwhile are dropped."""
        self.stream.write(json.dumps({"execute": command}).encode() + b"\n")
        self.stream.flush()
        while "event" in (reply := self._read()):
            pass
        if "return" not in reply:
            raise BenchError(f"{command}: {reply}")
        return reply["return"]

    def stop_cont(self, pairs: int) -> dict[str, int]:
        """``stop`` then ``cont``, ``pairs`` times, written ahead of the replies (QEMU still
        runs them one by one): 2 x ``pairs`` events. Returns the events seen here, by name,
        once every reply is in."""
        block = b'{"execute": "stop"}\n{"execute": "cont"}\n' * pairs
        writer = threading.Thread(target=self._write_all, args=(block,), daemon=True)
        writer.start()
        seen: dict[str, int] = {}
        replies = 0
        while replies < 2 * pairs:
            message = self._read()
            if "event" in message:
                seen[message["event"]] = seen.get(message["event"], 0) + 1
            elif "return" in message:
                replies += 1
            else:
                raise BenchError(f"stop/cont: {message}")
        writer.join()
        # The events of the last command may follow its reply: wait for the full count.
        while sum(seen.values()) < 2 * pairs:
            message = self._read()
            if "event" in message:
                seen[message["event"]] = seen.get(message["event"], 0) + 1
        return seen

    def _write_all(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


# -- children ---------------------------------------------------------------------------


def child_env(directory: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    home = directory / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        PYTHONPYCACHEPREFIX=str(directory / "pycache"),
        # qmpsh and benchmarks from this tree, even when it is not the one installed.
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    )
    env.pop("NO_COLOR", None)
    return env


@dataclass(frozen=True)
class Timed:
    """One whole child process: wall time from spawn to reaped, its own CPU time (user +
    system), its peak RSS, its output."""

    seconds: float
    cpu: float
    maxrss_kb: int
    status: int
    stdout: bytes
    stderr: bytes


class Launcher:
    """Runs timed children through ``benchmarks/launcher.py`` (see there why)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).with_name("launcher.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def run(
        self,
        argv: Sequence[str],
        stdin: bytes,
        env: Mapping[str, str],
        *,
        cwd: Path,
        timeout: float = 300,
    ) -> Timed:
        """Run ``argv`` with ``stdin`` on a pipe; stdout and stderr go to files."""
        paths = {name: self.scratch / name for name in ("stdin", "stdout", "stderr")}
        paths["stdin"].write_bytes(stdin)
        request = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "timeout": timeout,
            **{name: str(path) for name, path in paths.items()},
        }
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise BenchError("the launcher died")
        result = json.loads(line)
        return Timed(
            result["seconds"],
            result["cpu"],
            result["maxrss_kb"],
            result["status"],
            paths["stdout"].read_bytes(),
            paths["stderr"].read_bytes(),
        )

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """A private directory with a short path: unix socket paths are limited to 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="qmpsh-b", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def python() -> str:
    return sys.executable
