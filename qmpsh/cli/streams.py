"""The standard streams as the caller left them: closed, or on a full disk.

A stream closed by the caller (``>&-``, ``2>&-``, ``<&-``) is None in Python, and its
descriptor would go to the next file or socket qmpsh opens (a QMP socket on fd 1
would get the output). So each closed one is put back, on /dev/null: stdin reads as
empty, stderr swallows what it is told, and stdout refuses every write (opened
read-only), so output that cannot be written is a write error as on a full disk.
A write error on stdout is one line on stderr and status 1 (as coreutils do); a
reader that left (EPIPE, ``qmpsh ... | head``) is no error at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

from qmpsh.errors import ExitStatus

#: How writing to a stream fails: a full disk or quota, a closed stream, a device error,
#: a reader gone.
_WRITE_ERRORS = frozenset(
    (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EBADF, errno.EIO, errno.EPIPE)
)


def mend() -> None:
    """Put each standard stream the caller closed back, on /dev/null."""
    for fd, name, flags in (
        (0, "stdin", os.O_RDONLY),
        (1, "stdout", os.O_RDONLY),  # every write fails (EBADF): there is nowhere to write
        (2, "stderr", os.O_WRONLY),
    ):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, flags)
            if opened != fd:  # lower descriptors were closed too and took it: move it
                os.dup2(opened, fd)
                os.close(opened)
        mode = "r" if fd == 0 else "w"
        setattr(sys, name, open(fd, mode, encoding="utf-8", errors="surrogateescape"))  # noqa: SIM115


def output_failed(err: OSError) -> int | None:
    """The status for ``err`` if it is stdout refusing a write (else None: not ours to say).

    A reader gone (EPIPE) ends quietly with 0; anything else is one line on stderr
    and 1. Either way stdout is pointed at /dev/null, so the interpreter's last flush
    of what is still buffered is quiet.
    """
    if err.errno not in _WRITE_ERRORS or err.filename is not None:
        return None  # qmpsh's own files say which (history, -l); sockets fail in transports
    _silence_stdout()
    if err.errno == errno.EPIPE:
        return ExitStatus.OK
    reason = "stdout is closed" if err.errno == errno.EBADF else err.strerror or str(err)
    with contextlib.suppress(OSError, ValueError):
        print(f"qmpsh: cannot write the output: {reason}", file=sys.stderr, flush=True)
    return ExitStatus.FAILED


def flushed(status: int) -> int:
    """``status``, once what stdout still holds is written (or its write error's)."""
    try:
        sys.stdout.flush()
    except OSError as err:
        failed = output_failed(err)
        return status if failed is None or failed == ExitStatus.OK else failed
    return status


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
