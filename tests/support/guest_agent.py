"""A real qemu-ga on this machine (unix-listen mode: no guest needed), for ``-N``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qmpsh.transport.launch import listening
from tests.support.places import short_tempdir
from tests.support.processes import end
from tests.support.waiting import within

#: Debian's qemu-guest-agent, run on this machine in unix-listen mode (no guest needed).
QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"
HARMLESS = {"guest-ping", "guest-info", "guest-sync", "guest-sync-delimited", "guest-get-time"}


@dataclass
class GuestAgent:
    process: subprocess.Popen[bytes]
    socket: Path
    directory: Path
    blocked: set[str]


def running_guest_agent() -> Iterator[GuestAgent]:
    """qemu-ga with every command blocked but the harmless ones; stopped afterwards."""
    if not os.access(QEMU_GA, os.X_OK):
        pytest.fail("qemu-ga is not installed; the README's test command installs it")
    listed = subprocess.run(
        [QEMU_GA, "--block-rpcs", "help"], capture_output=True, text=True, timeout=10
    )
    every = set(listed.stdout.split()) | set(listed.stderr.split())
    assert every >= HARMLESS, listed
    blocked = every - HARMLESS  # no shutdown, exec, file access or freeze of this machine
    directory = short_tempdir()
    sock = directory / "ga.sock"
    command = [
        QEMU_GA, "--method", "unix-listen", "--path", str(sock),
        "--statedir", str(directory), "--pidfile", str(directory / "qemu-ga.pid"),
        "--logfile", str(directory / "qemu-ga.log"), "--block-rpcs", ",".join(sorted(blocked)),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    if not within(lambda: listening(sock) or process.poll() is not None, 10) or not listening(sock):
        process.kill()
        process.wait()
        log = (directory / "qemu-ga.log").read_text(errors="replace")
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"qemu-ga did not start: {log}")
    agent = GuestAgent(process, sock, directory, blocked)
    yield agent
    end(process)
    shutil.rmtree(directory, ignore_errors=True)
