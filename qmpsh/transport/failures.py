"""The one-line failures every transport reports, in the same words whichever one runs.

A server is as broken over the blocking socket as over qemu.qmp; the user gets the
same line either way, so the words live here and the transports only pick one.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping

from qmpsh.transport.address import Address

#: The largest message qmpsh reads (qemu.qmp's default, 10 MiB, is less than a
#: guest-file-read of 48 MB in base64, or query-qmp-schema on a big build).
MAX_MESSAGE = 512 << 20

#: Why a QMP socket keeps a client out: what every busy-monitor failure says.
_HELD = "another client may hold this monitor (QEMU serves one client per QMP socket)"


def os_failure(target: str, address: Address, exc: OSError) -> str:
    """Why connecting to ``target`` failed, from the socket's own error."""
    if isinstance(exc, FileNotFoundError):
        return f"{target}: no such socket"
    if isinstance(exc, PermissionError):
        return f"{target}: permission denied"
    if isinstance(exc, ConnectionRefusedError):
        if isinstance(address, str) and _exists_not_socket(address):
            return f"{target}: not a socket"
        return f"{target}: connection refused (is QEMU running?)"
    if isinstance(address, str) and exc.errno in (errno.EAGAIN, errno.EINVAL):
        # A Unix socket's queue of clients waiting for it is full: connect() says EAGAIN
        # at once; asyncio takes that for connected, and its first read fails with EINVAL.
        return f"{target}: busy: {_HELD}, and its queue of clients waiting is full"
    return f"{target}: {exc.strerror or exc}"


def no_greeting(target: str, timeout: float, *, greeted: bool, arrived: bool = False) -> str:
    """Connected, but the QMP handshake did not finish within ``timeout``; ``arrived``:
    part of the greeting came (a slow server, not one busy with another client)."""
    if arrived and not greeted:
        return (
            f"{target}: the QMP greeting was still arriving after {timeout:g} s "
            "(the server sends it slowly; --timeout waits longer)"
        )
    if greeted:
        return (
            f"{target}: the server greeted but did not answer qmp_capabilities within {timeout:g} s"
        )
    return (
        f"{target}: no QMP greeting within {timeout:g} s; {_HELD}, or it is not QMP "
        "(a guest agent needs -N)"
    )


def not_qmp(target: str, raw: bytes) -> str:
    """What a server that greeted with ``raw`` (not a QMP greeting) is."""
    return f"{target}: not a QMP server ({what_was_sent(raw)})"


def closed_early(target: str, *, greeted: bool = False) -> str:
    """The server hung up before the session began: before its greeting (not QMP,
    most likely), or after it, on ``qmp_capabilities``."""
    if greeted:
        return f"{target}: connection closed by QEMU"
    return f"{target}: the server closed the connection before greeting (not QMP?)"


def negotiation_failed(target: str, raw: bytes) -> str:
    """The answer to ``qmp_capabilities`` was no ``return``: what it was instead."""
    return f"{target}: QMP capabilities negotiation failed ({what_was_sent(raw)})"


def not_utf8(target: str) -> str:
    return f"{target}: not a QMP server (it sent bytes that are not UTF-8)"


def what_was_sent(raw: bytes) -> str:
    """A short, printable account of what a non-QMP server said."""
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("QEMU") and "monitor" in text:
        return "this is an HMP monitor; use the socket given to -qmp"
    shown = text[:60].encode("unicode_escape").decode("ascii")
    return f"it sent {shown!r}" if text else "it sent an empty line"


def no_reply(target: str, command: object, timeout: float) -> str:
    return (
        f"{target}: no reply to {command or 'the command'} within {timeout:g} s "
        "(QEMU is stalled or still busy with it; --timeout waits longer)"
    )


def unattributed_error(msg: Mapping[str, object]) -> str:
    """An error without an id (QEMU could not parse a command) while several were in
    flight: nobody can tell whose it is, so the connection cannot go on."""
    error = msg.get("error")
    desc = error.get("desc") if isinstance(error, Mapping) else None
    said = f": {str(desc)[:200]}" if desc else ""
    return (
        f"QEMU could not parse a command{said}; several were in flight, so qmpsh "
        "cannot tell which, and gave up on the connection"
    )


def too_big(limit: int) -> str:
    return f"QEMU sent a message over {limit >> 20} MiB; qmpsh gave up on it"


def too_deep() -> str:
    return "QEMU sent JSON nested too deeply to read; qmpsh gave up on it"


def greeting_too_deep(target: str) -> str:
    return f"{target}: not a QMP server (it sent JSON nested too deeply to read)"


def _exists_not_socket(path: str) -> bool:
    try:
        return not stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False
