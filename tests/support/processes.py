"""The processes a test starts and checks: stopping one (QEMU, qemu-ga, sshd) politely
and then for sure, and which are still alive after qmpsh should have stopped everything it
started (``--launch``'s QEMU, qmpsh itself)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def end(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, and SIGKILL if ``process`` has not exited within ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def processes_mentioning(path: Path, *, environment: bool = False) -> list[int]:
    """Pids of live processes whose command line (or ``environment``) contains ``path``."""
    needle = str(path).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if environment:
                cmdline += (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids
