"""Server strings in a one-line message: shortened, so a line stays a line.

A server may put anything in a string qmpsh shows inside its own sentence (a
greeting's 10 MB ``package`` in the banner, a VM name in the prompt, an event's
name in a summary). Replies keep every byte; a one-line message keeps its head
and says how long the whole was.
"""

from __future__ import annotations

#: How many characters of a server string a one-line message keeps.
ONE_LINE = 120


def one_line(text: str, limit: int = ONE_LINE) -> str:
    """``text`` as part of a one-line message: at most ``limit`` characters of it and
    then how long it was; a line break spelt as ``escape.visible`` spells the other
    controls (which it escapes where the line is shown)."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    return text.replace("\n", "\\x0a")
