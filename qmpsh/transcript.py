"""``-l FILE``: every message on the socket, both ways, as JSON lines with a time.

Appended, created 0600, never following a symlink planted at its path, and
never the socket itself (qmp-shell's ``-l`` replaced the VM's socket). Secrets
are redacted before they reach the disk.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from qmpsh.config import ensure_private_file
from qmpsh.errors import UsageError
from qmpsh.secrets import redact_message


class Transcript:
    """A transport observer writing one JSON object per message."""

    def __init__(self, path: Path, target: str) -> None:
        if _same_file(path, target):
            raise UsageError(f"{path}: that is the QMP socket itself, not a transcript file")
        try:
            ensure_private_file(path)
            self._file: IO[str] = open(  # noqa: SIM115 - open for the whole session
                os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW), "a", encoding="utf-8"
            )
        except OSError as err:
            reason = err.strerror or str(err)
            if err.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink: "too many levels" says little
                reason = "it is a symbolic link, which a transcript never follows"
            raise UsageError(f"{path}: cannot write the transcript: {reason}") from None
        self.target = target

    def __call__(self, direction: str, message: Mapping[str, object]) -> None:
        kind = "event" if "event" in message else ("out" if direction == "send" else "in")
        record = {
            "time": round(time.time(), 6),
            "dir": kind,
            "message": redact_message(message) if direction == "send" else dict(message),
        }
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _same_file(path: Path, target: str) -> bool:
    try:
        return path.resolve() == Path(target).resolve() or os.path.samefile(path, target)
    except OSError:
        return False
