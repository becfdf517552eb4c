"""What one line from a QMP server is: a reply or an event, or why it is neither.

Both socket transports read every message through ``decode``, so a broken server
gets the same words whichever one runs, and those words say what was wrong with
the message (qmpsh ends the connection over it, so "closed by QEMU" would blame
the wrong side). ``NaN`` and ``Infinity`` are not JSON, though Python reads and
writes them; read as ``null`` (as JavaScript's ``JSON.stringify`` writes them),
every output stays JSON that ``jq`` takes.
"""

from __future__ import annotations

import json

from qmpsh.transport import failures

_DECODER = json.JSONDecoder(parse_constant=lambda name: None)


class BadMessage(ValueError):
    """A line from the server that is no QMP message; ``str()`` says why (after the target)."""


def decode(line: bytes) -> dict[str, object]:
    """The message ``line`` holds (a reply or an event); ``BadMessage`` saying why not."""
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise BadMessage(_ended("bytes that are not UTF-8")) from None
    try:
        msg = _DECODER.decode(text)
    except ValueError as err:
        if "integer string conversion" in str(err):  # Python reads up to 4,300 digits
            raise BadMessage(_ended("a number too long to read")) from None
        raise BadMessage(_ended(f"a message that is not JSON ({_shown(line)})")) from None
    if not isinstance(msg, dict):
        raise BadMessage(_ended(f"a message that is not a JSON object ({_shown(line)})"))
    if "return" not in msg and "error" not in msg and "event" not in msg:
        raise BadMessage(_ended(f"a message with no return, error or event ({_shown(line)})"))
    return msg


def _shown(line: bytes) -> str:
    return failures.what_was_sent(line).removeprefix("it sent ")


def _ended(what: str) -> str:
    return f"QEMU sent {what}; qmpsh ended the connection"
