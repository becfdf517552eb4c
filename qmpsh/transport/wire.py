"""What every transport checks of the messages that cross the socket.

The blocking socket and qemu.qmp read and write the same QMP, so a server that
sends something no client can take apart, or a command whose id would pass for one
of qmpsh's own, must meet the same rule on both; it lives here, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from qmpsh.errors import InputError

#: How qmpsh (and qemu.qmp) number the commands they send; a user's id must not look so.
OWN_ID_PREFIX = "__qmp#"


class TooDeep(ValueError):
    """JSON nested deeper than Python's decoder goes (about 1,000 levels; QEMU never
    sends more than a few): what a hostile server sends to crash its client. The
    words are ``failures.too_deep``'s."""


def decode(data: bytes | str) -> object:
    """``json.loads``, with nesting too deep for it a ``TooDeep`` (a ``ValueError``)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise TooDeep() from None


def check_own_id(message: Mapping[str, object]) -> None:
    """Refuse a user's id that starts like qmpsh's own: its reply could be taken for
    the answer to another command."""
    msg_id = message.get("id")
    if isinstance(msg_id, str) and msg_id.startswith(OWN_ID_PREFIX):
        raise InputError(
            f"cannot send: the id {msg_id[:40]!r} starts with {OWN_ID_PREFIX!r}, "
            "which qmpsh keeps for its own commands; choose another"
        )
