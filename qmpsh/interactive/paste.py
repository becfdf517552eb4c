"""Big pastes at the prompt: linear to read, refused past a size, one line to say so.

prompt_toolkit's ``Vt100Parser.feed`` appends each read to the paste gathered so
far and searches all of it for the end mark, so a paste costs time quadratic in
its size: 10 MB froze the prompt for about a minute. ``linear_pastes`` keeps the
reads in a list and searches only the newest one (with the few characters
before it), then hands the whole paste to prompt_toolkit's own code once. A
paste longer than the session's input limit (``syntax.MAX_INPUT``, the limit of
script lines too) is not inserted. A paste of several lines runs as a
non-bracketed one does, each newline that ends an input an Enter
(``line_by_line``), so a terminal's paste mode never changes what runs; it asks
the syntax's ``OpenInput`` line by line, in time linear in the paste.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qmpsh.language.syntax import OpenInput, over_limit

if TYPE_CHECKING:
    from prompt_toolkit.key_binding import KeyPress

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


def as_lines(data: str) -> str:
    """Pasted text with a terminal's carriage returns as the editor's newlines."""
    return data.replace("\r\n", "\n").replace("\r", "\n")


class _Part(str):
    """Lines of one input, already split off a paste: inserted as they are."""

    __slots__ = ()


def line_by_line(before: str, data: str, *, hmp_mode: bool) -> list[KeyPress] | None:
    """A paste as the keys a non-bracketed paste sends, one input at a time; None to
    insert it as it is (it holds no complete input, or is one part of a paste).

    ``before`` is the text already on the line before the cursor. A newline that
    completes an input (Enter's rule) becomes Enter: that input runs and what follows
    waits as typeahead, echoed at the next prompt. The lines of an open JSON or
    ``transaction(`` are inserted together, and text after the last newline stays on
    the line, waiting for Enter as if typed.
    """
    from prompt_toolkit.key_binding import KeyPress
    from prompt_toolkit.keys import Keys

    if isinstance(data, _Part):
        return None
    *lines, last = as_lines(data).split("\n")
    keys: list[KeyPress] = []
    chunk: list[str] = []
    scanner = OpenInput(hmp_mode=hmp_mode)
    scanner.feed(before)
    for line in lines:
        chunk.append(line)
        scanner.feed(line)
        if scanner.incomplete:
            scanner.feed("\n")
            continue
        if any(chunk):
            keys.append(KeyPress(Keys.BracketedPaste, _Part("\n".join(chunk))))
        keys.append(KeyPress(Keys.ControlM, "\r"))
        chunk, scanner = [], OpenInput(hmp_mode=hmp_mode)
    if not keys:
        return None
    tail = "\n".join([*chunk, last])
    if tail:
        keys.append(KeyPress(Keys.BracketedPaste, _Part(tail)))
    return keys
