"""The one rule for text a server supplied: it is shown, never obeyed.

Replies, events, error descriptions and the names in a server's schema are data.
On a terminal their control characters become printable escapes (``\\x1b``), so
a guest cannot drive the user's terminal; through rich they are ``Text``, never
markup; and a lone surrogate (a JSON string may spell ``"\\udc80"``, which no
UTF-8 stream can write) is escaped everywhere, as a JSON escape in JSON, so JSON
output stays valid and exact. Every renderer, ``--all`` included, escapes here.
"""

from __future__ import annotations

import json
import re
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls, bidi overrides (which
# reorder what the terminal shows), and lone surrogates (see _SURROGATE).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# In JSON text, C0 is already escaped by json.dumps; the rest is not.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# A JSON string may spell a lone surrogate ("\\udc80"); json.loads keeps it, and no
# UTF-8 stream can write it: one such string from a server used to end the run
# with UnicodeEncodeError (and, under --json, drop the connection).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def visible(text: str) -> str:
    """Replace terminal control characters with printable escapes."""
    return _CONTROL.sub(_escape, text)


def encodable(text: str) -> str:
    """Text any UTF-8 stream takes: a lone surrogate becomes ``\\udXXX``, the rest is kept."""
    return _SURROGATE.sub(_escape, text)


def escaped(text: str, *, terminal: bool) -> str:
    """``text`` as a stream may take it: inert on a terminal, encodable anywhere."""
    return visible(text) if terminal else encodable(text)


def json_safe(text: str, *, terminal: bool = False) -> str:
    """JSON text (``json.dumps`` with ``ensure_ascii=False``) as a stream may take it.

    As JSON escapes the value is unchanged (``--json`` stays exact): a terminal gets
    DEL, C1 and bidi escaped too, a pipe gets them as they are, and a lone surrogate
    cannot be written raw anywhere.
    """
    return (_JSON_UNSAFE if terminal else _SURROGATE).sub(_json_escape, text)


def dump_json(value: object, *, indent: int | None = None, terminal: bool = False) -> str:
    """Compact (or indented) JSON, escaped by ``json_safe``."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    return json_safe(text, terminal=terminal)


def inert_text(text: str, style: str = "") -> Text:
    """``text`` for rich: escaped as for a terminal, and a ``Text``, so ``[b]`` stays literal."""
    from rich.text import Text

    return Text(visible(text), style=style)


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal, so ``escaped`` and ``json_safe`` escape for one."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
