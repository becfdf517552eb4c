"""Where qmpsh keeps its files, and how it creates them privately.

History can hold what a user typed about their VMs, so every file qmpsh
writes is created 0600 in a 0700 directory, and a symlink planted at its
path is refused rather than followed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def state_dir(env: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """``$XDG_STATE_HOME/qmpsh`` (``~/.local/state/qmpsh`` by default)."""
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "qmpsh"


def history_path(env: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    return state_dir(env) / "history"


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (0600, parents 0700) if missing; raise OSError if unsafe or impossible."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def trim_history(path: Path, keep: int) -> None:
    """Keep only the last ``keep`` entries of a prompt_toolkit history file.

    prompt_toolkit's ``FileHistory`` only ever appends; the user's
    ``history_size`` bounds it. Entries are a ``# time`` line and ``+line``
    lines. The file is replaced privately (0600) and atomically; a missing,
    unreadable or symlinked file is left alone (opening it reports that later).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    with open(fd, "rb") as file:
        data = file.read()
    entries: list[list[bytes]] = []
    in_text = False
    for line in data.splitlines(keepends=True):
        text = line.startswith(b"+")
        if not entries or (in_text and not text):
            entries.append([])
        entries[-1].append(line)
        in_text = text
    entries = [entry for entry in entries if any(ln.startswith(b"+") for ln in entry)]
    if len(entries) <= keep:
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # best effort: an untrimmed history is no reason not to start
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as file:
            file.write(b"".join(b"".join(entry) for entry in entries[len(entries) - keep :]))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
