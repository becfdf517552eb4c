"""The prompt's style: ``render.style``'s palette as a prompt_toolkit style, plus input colours.

A pygments style named in the config (``style = "monokai"``) colours what is typed;
qmpsh's own roles (errors, events, the prompt) keep the palette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmpsh.render.style import PALETTE

if TYPE_CHECKING:
    from prompt_toolkit.styles import BaseStyle

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


def prompt_style(pygments_style: str | None = None) -> BaseStyle:
    """The prompt's style; input highlighting from ``pygments_style`` if one is named."""
    from prompt_toolkit.styles import Style, merge_styles

    roles = Style.from_dict({role.replace(".", "-"): spec for role, spec in PALETTE.items()})
    if pygments_style is None:
        return merge_styles([roles, Style.from_dict(INPUT)])
    from prompt_toolkit.styles.pygments import style_from_pygments_cls
    from pygments.styles import get_style_by_name

    return merge_styles([style_from_pygments_cls(get_style_by_name(pygments_style)), roles])
