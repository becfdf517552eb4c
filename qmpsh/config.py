"""Where qmpsh keeps its files, and how it creates them privately.

History can hold what a user typed about their VMs, so every file qmpsh
writes is created 0600 in a 0700 directory, and a symlink planted at its
path is refused rather than followed.
"""

from __future__ import annotations

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
