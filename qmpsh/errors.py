"""The one error tree of qmpsh, and the exit statuses it maps to.

Every failure a user can cause or meet is one of these, carrying a one-line
message; ``cli.run`` and ``cli.main`` are the only places that turn
them into an exit status, so no traceback ever reaches a terminal::

    QmpshError                 (status 1 unless a subclass says otherwise)
     ├── UsageError            2  bad command line
     ├── InputError            1  a line that could not be parsed (has a column)
     ├── ConnectFailed         3  missing / refused / busy / not QMP / timeout
     ├── ConnectionLost        4  the server went away mid-session
     │    └── NoReply          4  no reply within --timeout (stalled, or still busy)
     └── Interrupted         130  SIGTERM / SIGHUP
"""

from __future__ import annotations

import enum
import re


class ExitStatus(enum.IntEnum):
    """Exit codes (docs/architecture.md, "Exit statuses"); automation relies on them."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CONNECT = 3
    LOST = 4
    INTERRUPTED = 130


#: A quoted token in a message, long enough to drown it (a pasted megabyte).
_LONG_QUOTE = re.compile(r"'([^'\n]{60})[^'\n]{20,}'")


def _shortened(match: re.Match[str]) -> str:
    return f"'{match.group(1)}...'"


class QmpshError(Exception):
    """Base of every error qmpsh reports; ``str()`` is the one line shown."""

    status = ExitStatus.FAILED


class UsageError(QmpshError):
    """The command line itself is wrong."""

    status = ExitStatus.USAGE


class InputError(QmpshError):
    """An input line is malformed; ``column`` (0-based) points at the culprit."""

    def __init__(self, message: str, column: int | None = None) -> None:
        message = _LONG_QUOTE.sub(_shortened, message)
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        if self.column is None:
            return self.message
        return f"{self.message} (column {self.column + 1})"


class ConnectFailed(QmpshError):
    """No session could be established with the target."""

    status = ExitStatus.CONNECT


class ConnectionLost(QmpshError):
    """An established session ended under us."""

    status = ExitStatus.LOST


class NoReply(ConnectionLost):
    """The server did not answer a command in time: stalled, or busy for longer
    than the user allows. A script cannot go on in lock-step, so this ends it
    (status 4); at the prompt it is reported and the session goes on."""


class Interrupted(QmpshError):
    """SIGTERM or SIGHUP: the run was stopped from outside (status 130); said last,
    after a launched QEMU is stopped and history saved."""

    status = ExitStatus.INTERRUPTED
