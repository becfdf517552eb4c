"""The line being edited, drawn inertly: what Tab put there may be a server's text.

A completion inserts a server's exact name (a QOM path, a node name), which may hold
bidi controls or zero-width characters; the buffer must keep them, since what is
sent must be that name. prompt_toolkit draws C0, DEL and C1 visibly itself (``^[``,
``<9b>``); the rest of what ``render.escape`` escapes it draws raw. The processor
made here draws those as ``escape.visible`` spells them, leaving the buffer alone.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from qmpsh.render.escape import visible

if TYPE_CHECKING:
    from prompt_toolkit.layout.processors import Processor

#: Below this prompt_toolkit shows a control itself (C0, DEL, C1).
_DRAWN_BY_PROMPT_TOOLKIT = 0xA0


def _shown(char: str) -> str:
    return char if ord(char) < _DRAWN_BY_PROMPT_TOOLKIT else visible(char)


def inert_line() -> Processor:
    """A prompt_toolkit input processor drawing what ``escape.visible`` escapes as its
    escape, with the cursor placed to match."""
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.formatted_text.utils import fragment_list_to_text
    from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
    from prompt_toolkit.layout.utils import explode_text_fragments

    class InertLine(Processor):
        def apply_transformation(self, ti: TransformationInput) -> Transformation:
            text = fragment_list_to_text(ti.fragments)
            if all(_shown(char) == char for char in text):  # nearly every line
                return Transformation(ti.fragments)
            drawn: StyleAndTextTuples = []
            starts: list[int] = []  # where each source character starts on screen
            position = 0
            for style, char, *handler in explode_text_fragments(ti.fragments):
                starts.append(position)
                shown = _shown(char)
                drawn.append((style, shown, *handler))  # type: ignore[arg-type]
                position += len(shown)
            starts.append(position)  # the cursor may sit after the last character

            def source_to_display(source: int) -> int:
                return starts[source] if source < len(starts) else position + source - len(text)

            def display_to_source(display: int) -> int:
                if display >= position:
                    return len(text) + display - position
                return bisect_right(starts, display) - 1

            return Transformation(drawn, source_to_display, display_to_source)

    return InertLine()
