"""``-l FILE``: every message on the socket, both ways, as JSON lines with a time.

Appended, created 0600, never following a symlink planted at its path, and
never the socket itself (qmp-shell's ``-l`` replaced the VM's socket). Secrets
are redacted before they reach the disk. A transcript that can no longer be
written (a full disk) costs one warning, never the session.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from qmpsh.errors import UsageError
from qmpsh.files import open_private
from qmpsh.language.redact import REDACTED, redact_message, reply_is_secret
from qmpsh.render.escape import dump_json


def _key(msg_id: object) -> str:
    """A message id as a set member (ids are any JSON value, lists and objects too)."""
    return json.dumps(msg_id, sort_keys=True)


def _to_stderr(text: str) -> None:
    sys.stderr.write(f"warning: {text}\n")
    sys.stderr.flush()


class Transcript:
    """A transport observer writing one JSON object per message.

    ``warn`` shows a one-line problem (by default on stderr, as the renderers'
    ``warning`` does).
    """

    def __init__(
        self, path: Path, target: str, *, warn: Callable[[str], None] = _to_stderr
    ) -> None:
        if _same_file(path, target):
            raise UsageError(f"{path}: that is the QMP socket itself, not a transcript file")
        try:
            # One descriptor for the session: the file checked is the file written.
            self._fd: int | None = open_private(path)
        except OSError as err:
            reason = err.strerror or str(err)
            if err.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink: "too many levels" says little
                reason = "it is a symbolic link, which a transcript never follows"
            raise UsageError(f"{path}: cannot write the transcript: {reason}") from None
        self.path = path
        self.target = target
        self._warn = warn
        #: Ids of commands whose reply is a secret (``secrets.reply_is_secret``).
        self._secret_replies: set[str] = set()

    def __call__(self, direction: str, message: Mapping[str, object]) -> None:
        if self._fd is None:  # stopped after a failed write
            return
        kind = "event" if "event" in message else ("out" if direction == "send" else "in")
        if direction == "send":
            if reply_is_secret(message):  # what comes back is a secret: keep it out too
                self._secret_replies.add(_key(message.get("id")))
            shown = redact_message(message)
        elif _key(message.get("id")) in self._secret_replies and "return" in message:
            self._secret_replies.discard(_key(message.get("id")))
            shown = {**message, "return": REDACTED}
        else:
            shown = dict(message)
        record = {"time": round(time.time(), 6), "dir": kind, "message": shown}
        data = memoryview((dump_json(record) + "\n").encode())
        written = 0
        try:
            while written < len(data):  # os.write, unbuffered: nothing left pending
                written += os.write(self._fd, data[written:])
        except OSError as err:
            # Raising here would reach the transport and drop the connection to QEMU.
            if written:  # a full disk took part of the line: keep the file whole lines
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - written)
            self.close()
            self._warn(f"{self.path}: transcript stopped: {err.strerror or err}")

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):  # closing is no reason to fail the run
                os.close(fd)


def _same_file(path: Path, target: str) -> bool:
    try:
        return path.resolve() == Path(target).resolve() or os.path.samefile(path, target)
    except OSError:
        return False
