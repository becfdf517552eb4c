"""Where qmpsh keeps its files, and how it creates them privately.

History can hold what a user typed about their VMs, so every file qmpsh
writes is created 0600 in a 0700 directory, and a symlink planted at its
path is refused rather than followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime


def state_dir(env: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """``$XDG_STATE_HOME/qmpsh`` (``~/.local/state/qmpsh`` by default)."""
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "qmpsh"


def history_path(env: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    return state_dir(env) / "history"


#: Why a symlink at one of qmpsh's file paths was refused (O_NOFOLLOW's own ELOOP
#: message, "Too many levels of symbolic links", names neither the cause nor the rule).
SYMLINK_REFUSED = "it is a symbolic link, which qmpsh never follows"


def open_private(path: Path) -> int:
    """Open ``path`` for appending, creating it 0600 (its directory 0700); the fd.

    Raise OSError (with a readable ``strerror``) if that is unsafe or impossible: a
    symlink at ``path`` is refused, not followed. Only a regular file is made
    private: ``-l /dev/null`` run as root must not make ``/dev/null`` 0600 for
    everyone. A FIFO without a reader is refused rather than waited on forever.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, SYMLINK_REFUSED, str(path)) from None
        if err.errno == errno.ENXIO:  # O_NONBLOCK: a FIFO nobody reads, or a socket
            raise OSError(errno.ENXIO, "not a regular file", str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
        os.set_blocking(fd, True)  # O_NONBLOCK was for the open only
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (0600, parents 0700) if missing; raise OSError if unsafe or impossible."""
    os.close(open_private(path))


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (see ``open_private``): never through a symlink
    planted since the file was first checked; OSError (a full disk) to the caller."""
    fd = open_private(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def history_entry(text: str, when: datetime.datetime | None = None) -> bytes:
    """One entry as prompt_toolkit's ``FileHistory`` writes it, byte for byte (``?`` for
    bytes typed that were not UTF-8); ``FileHistory`` and ``trim_history`` read it."""
    lines = "".join(f"+{line}\n" for line in text.split("\n"))
    import datetime  # 1.3 ms that only the prompt's history pays, not a script's start

    stamp = datetime.datetime.now() if when is None else when
    return f"\n# {stamp}\n{lines}".encode("utf-8", errors="replace")


def trim_history(path: Path, keep: int) -> None:
    """Keep only the last ``keep`` entries of a prompt_toolkit history file.

    prompt_toolkit's ``FileHistory`` only ever appends; the user's
    ``history_size`` bounds it. Entries are a ``# time`` line and ``+line``
    lines. The file is replaced privately (0600) and atomically; a missing,
    unreadable, symlinked or not regular file is left alone (opening it reports
    that later).
    """
    try:  # O_NONBLOCK: a FIFO planted at the path must not hang the start
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with open(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory used to crash the start
                return
            data = file.read()
    except OSError:
        return
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
