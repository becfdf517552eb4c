"""One palette for the whole UI, emitted as a rich theme and a prompt_toolkit style.

Both libraries are imported inside the functions: the script path never needs
either, and start-up time matters there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prompt_toolkit.styles import Style
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


def prompt_style() -> Style:
    from prompt_toolkit.styles import Style

    roles = {role.replace(".", "-"): spec for role, spec in PALETTE.items()}
    return Style.from_dict({**roles, **INPUT})
