"""What crosses the socket, checked by one rule for every transport.

What one line from a QMP server is: a reply or an event, or why it is neither.
Both socket transports read every message through ``decode`` (the greeting, the
schema cache through ``parse``), so a broken server gets the same words whichever
one runs, and those words say what was wrong with the message (qmpsh ends the
connection over it, so "closed by QEMU" would blame the wrong side). JSON nested
deeper than Python's decoder goes (about 1,000 levels; QEMU never sends more than a
few) is what a hostile server sends to crash its client: one line too. And what
qmpsh sends: a user's id must not pass for one of qmpsh's own (``check_own_id``), and
what JSON cannot hold is refused before it is sent (``encode``).
``NaN`` and ``Infinity`` are not JSON, though Python reads and writes them; read
as ``null`` (as JavaScript's ``JSON.stringify`` writes them), every output stays
JSON that ``jq`` takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from qmpsh.errors import InputError
from qmpsh.transport import failures

#: How qmpsh (and qemu.qmp) number the commands they send; a user's id must not look so.
OWN_ID_PREFIX = "__qmp#"
#: How qmpsh numbers its own quiet questions (the schema, completion values, kept from
#: ``-v`` and ``--json``): under the same prefix, so ``check_own_id`` covers them too.
QUIET_ID_PREFIX = f"{OWN_ID_PREFIX}qmpsh-"

_DECODER = json.JSONDecoder(parse_constant=lambda name: None)


class BadMessage(ValueError):
    """A line from the server that is no QMP message; ``str()`` says why (after the target)."""


class TooDeep(ValueError):
    """JSON nested deeper than Python's decoder goes; the words are ``failures.too_deep``'s."""


def parse(data: bytes | str) -> object:
    """Any JSON value (``NaN`` read as ``null``); ``TooDeep``, or ``ValueError`` if not JSON."""
    try:
        return _DECODER.decode(data.decode() if isinstance(data, bytes) else data)
    except RecursionError:
        raise TooDeep() from None


def decode(line: bytes) -> dict[str, object]:
    """The message ``line`` holds (a reply or an event); ``BadMessage`` saying why not."""
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise BadMessage(_ended("bytes that are not UTF-8")) from None
    try:
        msg = _DECODER.decode(text)
    except RecursionError:
        raise BadMessage(failures.too_deep()) from None
    except ValueError as err:
        if "integer string conversion" in str(err):  # Python reads up to 4,300 digits
            raise BadMessage(_ended("a number too long to read")) from None
        raise BadMessage(_ended(f"a message that is not JSON ({_shown(line)})")) from None
    if not isinstance(msg, dict):
        raise BadMessage(_ended(f"a message that is not a JSON object ({_shown(line)})"))
    if "return" not in msg and "error" not in msg and "event" not in msg:
        raise BadMessage(_ended(f"a message with no return, error or event ({_shown(line)})"))
    return msg


def encode(message: Mapping[str, object]) -> str:
    """``message`` as the compact JSON that is sent; ``InputError`` if JSON cannot hold
    it (NaN and the infinities, which Python writes but QEMU and libvirt refuse; a value
    that is not JSON at all), before anything reaches the server."""
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(f"cannot send: {err}") from None


def is_handshake_event(line: bytes) -> bool:
    """Whether ``line``, read while greeting or negotiating, is an event to pass over.

    QEMU may send an event to a client it has just accepted before it greets it
    (its monitor joins the event list before the connection's greeting is sent):
    not meant for the client, which reads on for the greeting.
    """
    if b'"event"' not in line:
        return False
    try:
        msg = parse(line)
    except ValueError:
        return False
    return isinstance(msg, dict) and "event" in msg and not msg.keys() & {"QMP", "return", "error"}


def _shown(line: bytes) -> str:
    return failures.what_was_sent(line).removeprefix("it sent ")


def _ended(what: str) -> str:
    return f"QEMU sent {what}; qmpsh ended the connection"


def quiet_id(number: int) -> str:
    """The id of qmpsh's ``number``-th quiet question."""
    return f"{QUIET_ID_PREFIX}{number}"


def is_quiet(msg_id: object) -> bool:
    """Whether ``msg_id`` is one of qmpsh's quiet questions (no user's id can be)."""
    return isinstance(msg_id, str) and msg_id.startswith(QUIET_ID_PREFIX)


def check_own_id(message: Mapping[str, object]) -> None:
    """Refuse a user's id that starts like qmpsh's own: its reply could be taken for
    the answer to another command."""
    msg_id = message.get("id")
    if isinstance(msg_id, str) and msg_id.startswith(OWN_ID_PREFIX):
        raise InputError(
            f"cannot send: the id {msg_id[:40]!r} starts with {OWN_ID_PREFIX!r}, "
            "which qmpsh keeps for its own commands; choose another"
        )
