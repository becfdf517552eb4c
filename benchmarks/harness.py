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
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.places import ROOT
from tests.support.qemu import QEMU, Qemu, QemuDidNotStart
from tests.support.qemu import start_qemu as start_tests_qemu
from tests.support.rawqmp import RawQmp


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


def start_qemu(directory: Path, machine: str = "none") -> Qemu:
    """The tests' QEMU (``tests.support.qemu``), named ``bench``, in ``directory/qemu``."""
    try:
        return start_tests_qemu(machine=machine, name="bench", directory=directory / "qemu")
    except QemuDidNotStart as err:
        raise BenchError(str(err)) from None


def stop_cont(monitor: RawQmp, pairs: int) -> dict[str, int]:
    """``stop`` then ``cont``, ``pairs`` times, written ahead of the replies (QEMU still
    runs them one by one): 2 x ``pairs`` events. Returns the events seen on ``monitor``,
    by name, once every reply is in."""
    block = b'{"execute": "stop"}\n{"execute": "cont"}\n' * pairs
    writer = threading.Thread(target=monitor.write, args=(block,), daemon=True)
    writer.start()
    seen: dict[str, int] = {}
    replies = 0
    while replies < 2 * pairs:
        message = monitor.read()
        if "event" in message:
            seen[message["event"]] = seen.get(message["event"], 0) + 1
        elif "return" in message:
            replies += 1
        else:
            raise BenchError(f"stop/cont: {message}")
    writer.join()
    # The events of the last command may follow its reply: wait for the full count.
    while sum(seen.values()) < 2 * pairs:
        message = monitor.read()
        if "event" in message:
            seen[message["event"]] = seen.get(message["event"], 0) + 1
    return seen


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
