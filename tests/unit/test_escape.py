"""The one escaping rule for server text (render/escape.py) against Unicode's own categories.

Everything a terminal would obey or hide rather than show is escaped: controls (Cc, but
tab and newline), format characters (Cf: bidi controls, zero-width characters, the BOM,
tags ...), line and paragraph separators (Zl, Zp) and lone surrogates (Cs). Judged on
every code point this Python's Unicode database knows, and as a property of any text.
"""

from __future__ import annotations

import json
import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from qmpsh.render.escape import dump_json, escaped, json_safe, visible

#: The categories no terminal may receive raw from a server.
HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}
KEPT = {"\t", "\n"}  # controls a reply's text may carry, which a terminal shows as layout


def hidden(char: str) -> bool:
    return unicodedata.category(char) in HIDDEN and char not in KEPT


HIDDEN_CHARS = [chr(c) for c in range(sys.maxunicode + 1) if hidden(chr(c))]


def test_every_hidden_code_point_is_escaped_and_nothing_else() -> None:
    assert {"\u200b", "\u200e", "\u2060", "\u202e", "\u2066", "\ufeff", "\u2028"} <= set(
        HIDDEN_CHARS
    )
    for char in HIDDEN_CHARS:
        shown = visible(f"a{char}b")
        assert shown.startswith("a\\") and shown.endswith("b") and len(shown) > 3, hex(ord(char))
        assert not any(hidden(c) for c in shown), hex(ord(char))
    # A sample of the rest stays as it is (but unassigned code points: a later Unicode's
    # format characters are escaped already).
    for code in range(0x20, sys.maxunicode + 1, 7):
        char = chr(code)
        if not hidden(char) and unicodedata.category(char) != "Cn":
            assert visible(char) == char, hex(code)


def test_escapes_name_the_code_point() -> None:
    assert visible("\x1b\u200b\U000e0041") == r"\x1b\u200b\U000e0041"
    assert json_safe(json.dumps("\u200e\U000e0041", ensure_ascii=False), terminal=True) == (
        r'"\u200e\udb40\udc41"'
    )


@given(st.text(alphabet=st.characters(codec=None)))
def test_shown_text_holds_nothing_hidden(text: str) -> None:
    assert not any(hidden(c) for c in visible(text))
    assert not any(hidden(c) for c in escaped(text, terminal=True))
    escaped(text, terminal=False).encode("utf-8")  # a pipe takes it (surrogates too)
    if not any(hidden(c) for c in text):
        assert visible(text) == text


@given(st.recursive(st.text() | st.integers(), lambda inner: st.lists(inner, max_size=4)))
def test_json_on_a_terminal_holds_nothing_hidden_and_stays_exact(value: object) -> None:
    for terminal in (True, False):
        text = dump_json(value, terminal=terminal)
        assert json.loads(text) == value
        text.encode("utf-8")
        if terminal:
            assert not any(hidden(c) for c in text)
