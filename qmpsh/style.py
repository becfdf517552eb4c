"""One palette for the whole UI, emitted as a rich theme and a prompt_toolkit style.

Both libraries are imported inside the functions: the script path never needs
either, and start-up time matters there. A pygments style named in the config
(``style = "monokai"``) colours what is typed and the JSON printed; qmpsh's own
roles (errors, events, the prompt) keep the palette, in the terminal's colours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prompt_toolkit.styles import BaseStyle
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
}

#: Input highlighting: pygments token classes (prompt_toolkit only).
INPUT: dict[str, str] = {
    "pygments.name.function": "bold",
    "pygments.error": "ansired underline",
    "pygments.keyword": "ansimagenta",
    "pygments.name.attribute": "ansicyan",
    "pygments.name.tag": "ansicyan",
    "pygments.operator": "ansibrightblack",
    "pygments.literal.string": "ansigreen",
    "pygments.literal.number": "ansiblue",
    "pygments.keyword.constant": "ansiblue",
}

_RICH_NAMES = {"ansibrightblack": "bright_black", "ansicyan": "cyan", "ansigreen": "green"}


def _rich(spec: str) -> str:
    words = [_RICH_NAMES.get(w, w.removeprefix("ansi")) for w in spec.split()]
    return " ".join(words)


def rich_theme() -> Theme:
    from rich.theme import Theme

    return Theme({role: _rich(spec) for role, spec in PALETTE.items()})


def prompt_style(pygments_style: str | None = None) -> BaseStyle:
    """The prompt's style; input highlighting from ``pygments_style`` if one is named."""
    from prompt_toolkit.styles import Style, merge_styles

    roles = Style.from_dict({role.replace(".", "-"): spec for role, spec in PALETTE.items()})
    if pygments_style is None:
        return merge_styles([roles, Style.from_dict(INPUT)])
    from prompt_toolkit.styles.pygments import style_from_pygments_cls
    from pygments.styles import get_style_by_name

    return merge_styles([style_from_pygments_cls(get_style_by_name(pygments_style)), roles])


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
