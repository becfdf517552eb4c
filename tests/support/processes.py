"""Which processes are still alive: what a test checks after qmpsh should have stopped
everything it started (``--launch``'s QEMU, qmpsh itself)."""

from __future__ import annotations

from pathlib import Path


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
