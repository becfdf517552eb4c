"""One palette for the whole UI, emitted here as a rich theme (``interactive.prompt_style``
turns it into the prompt's style).

rich is imported inside the functions: the script path never needs
it, and start-up time matters there. A pygments style named in the config
(``style = "monokai"``) colours what is typed and the JSON printed; qmpsh's own
roles (errors, events, the prompt) keep the palette, in the terminal's colours.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions
    from rich.segment import Segment
    from rich.text import Text
    from rich.theme import Theme

#: Role -> style, in the syntax both rich and prompt_toolkit understand.
PALETTE: dict[str, str] = {
    "error": "bold red",
    "error.desc": "red",
    "event": "bold magenta",
    "event.time": "ansibrightblack",
    "sent": "ansicyan",
    "notice": "ansibrightblack",
    "prompt.qmp": "bold ansigreen",
    "prompt.hmp": "bold ansiyellow",
    "prompt.name": "ansicyan",
    "help.builtin": "bold",
    "help.type": "ansicyan",
    "progress": "ansicyan",
    "changed": "reverse",
}

_RICH_NAMES = {"ansibrightblack": "bright_black", "ansicyan": "cyan", "ansigreen": "green"}


def _rich(spec: str) -> str:
    words = [_RICH_NAMES.get(w, w.removeprefix("ansi")) for w in spec.split()]
    return " ".join(words)


def rich_theme() -> Theme:
    from rich.theme import Theme

    return Theme({role: _rich(spec) for role, spec in PALETTE.items()})


def highlight_json(text: str, pygments_style: str | None = None) -> Text:
    """JSON text as rich ``Text``: rich's JSON colours, or ``pygments_style``'s.

    The terminal's own background is kept (a style's background colour would
    paint blocks behind each reply).
    """
    if pygments_style is None:
        from rich.highlighter import JSONHighlighter
        from rich.text import Text

        highlighted = Text(text)
        JSONHighlighter().highlight(highlighted)
        return highlighted
    from rich.syntax import Syntax

    syntax = Syntax(text, "json", theme=pygments_style, background_color="default")
    highlighted = syntax.highlight(text)
    highlighted.rstrip()
    return highlighted


#: One JSON token per match: a string (a key when a colon follows), a literal, a
#: number, a brace; what lies between (spaces, commas, colons) is left plain.
_JSON_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\]|\\.)*")(?P<key>\s*:)?'
    r"|(?P<bool_true>true)|(?P<bool_false>false)|(?P<null>null)"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<brace>[{}\[\]])"
)


class FastJson:
    """Pretty JSON as rich segments in one regex pass, coloured like ``JSONHighlighter``.

    ``Text`` plus ``JSONHighlighter`` lays out every line of a reply as an object:
    most of a second for ``query-qmp-schema``'s 60,000 lines (benchmark P4). JSON
    text from ``dump_json`` is already laid out and inert, so segments suffice.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        from rich.segment import Segment

        styles = {
            name: console.get_style(f"json.{name}", default="")
            for name in ("key", "str", "bool_true", "bool_false", "null", "number", "brace")
        }
        text, at = self.text, 0
        for match in _JSON_TOKEN.finditer(text):
            start = match.start()
            if start > at:
                yield Segment(text[at:start])
            kind = match.lastgroup
            if kind == "key":  # the string before the colon is a key
                quoted = match.group("str")
                yield Segment(quoted, styles["key"])
                yield Segment(match.group("key"))
            else:
                assert kind is not None
                yield Segment(match.group(), styles[kind])
            at = match.end()
        if at < len(text):
            yield Segment(text[at:])
        yield Segment.line()
