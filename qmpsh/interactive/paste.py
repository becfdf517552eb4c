"""Big pastes at the prompt: linear to read, refused past a size, one line to say so.

prompt_toolkit's ``Vt100Parser.feed`` appends each read to the paste gathered so
far and searches all of it for the end mark, so a paste costs time quadratic in
its size: 10 MB froze the prompt for about a minute. ``linear_pastes`` keeps the
reads in a list and searches only the newest one (with the few characters
before it), then hands the whole paste to prompt_toolkit's own code once. A
paste longer than the session's input limit (``syntax.MAX_INPUT``, the limit of
script lines too) is not inserted.
"""

from __future__ import annotations

from typing import Any

from qmpsh.language.syntax import over_limit

_END = "\x1b[201~"
_installed = False


def linear_pastes() -> None:
    """Make prompt_toolkit's bracketed-paste reading linear (once per process)."""
    global _installed
    from prompt_toolkit.input.vt100_parser import Vt100Parser

    if _installed or not hasattr(Vt100Parser, "feed"):
        return
    original = Vt100Parser.feed

    def feed(self: Any, data: str) -> None:
        if not getattr(self, "_in_bracketed_paste", False):
            original(self, data)
            return
        chunks: list[str] = self.__dict__.setdefault("_qmpsh_paste", [])
        before = chunks[-1][-(len(_END) - 1) :] if chunks else self._paste_buffer[-len(_END) :]
        if _END not in before + data:
            chunks.append(data)
            return
        # The end is here: give prompt_toolkit the paste so far, then this read, once.
        self._paste_buffer += "".join(chunks)
        chunks.clear()
        original(self, data)

    Vt100Parser.feed = feed  # type: ignore[method-assign]
    _installed = True


def too_long(data: str, limit: int) -> str | None:
    """Why a paste is refused, or None to insert it."""
    if len(data) <= limit:
        return None
    return f"paste not inserted: {over_limit(len(data), limit)}"
