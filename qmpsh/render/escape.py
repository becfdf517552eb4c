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

# What a terminal would obey or hide rather than show, beyond C0 (which json.dumps
# escapes itself): DEL and C1 (Cc); the format characters (Cf), i.e. bidi embeddings,
# overrides and isolates (which reorder what is shown), zero-width spaces and joiners,
# the word joiner and invisible operators, the BOM, tags, and the rest of Cf through
# Unicode 16; the line and paragraph separators (Zl, Zp); and lone surrogates (Cs, see
# _SURROGATE). tests/unit/test_escape.py checks this against unicodedata.
_BEYOND_C0 = (
    "\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# On a terminal: all of it, and C0 but tab and newline.
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")
# In JSON text, C0 is already escaped by json.dumps; the rest is not.
_JSON_UNSAFE = re.compile(f"[{_BEYOND_C0}]")
# A JSON string may spell a lone surrogate ("\\udc80"); json.loads keeps it, and no
# UTF-8 stream can write it: one such string from a server used to end the run
# with UnicodeEncodeError (and, under --json, drop the connection).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)  # JSON spells the rest as a surrogate pair
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


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
