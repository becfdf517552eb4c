"""The prompt a person types into: its keys, its history, how it looks.

prompt_toolkit is imported only in ``interactive`` (inside the functions that build
the prompt), so scripts never pay for it. ``repl`` runs the loop around it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qmpsh.files import append_private, ensure_private_file, history_entry
from qmpsh.interactive.completer import make_completer, press_tab
from qmpsh.interactive.inert_line import inert_line
from qmpsh.interactive.lexer import make_lexer
from qmpsh.interactive.lookups import Lookups
from qmpsh.interactive.paste import as_lines, line_by_line, linear_pastes, too_long
from qmpsh.interactive.prompt_style import prompt_style
from qmpsh.language.redact import redact_input
from qmpsh.language.syntax import is_incomplete
from qmpsh.render import output as render
from qmpsh.render.escape import visible
from qmpsh.render.oneline import one_line
from qmpsh.session.session import Session

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.history import History
    from prompt_toolkit.input import Input
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.output import ColorDepth, Output


def prompt_message(session: Session) -> StyleAndTextTuples:
    mode = session.mode
    parts: StyleAndTextTuples = [(f"class:prompt-{mode.lower()}", mode)]
    if session.vm_name:
        parts += [("", " "), ("class:prompt-name", visible(one_line(session.vm_name)))]
    parts.append(("", "> "))
    return parts


def _bindings(session: Session, renderer: render.Output) -> KeyBindings:
    from prompt_toolkit.application import run_in_terminal
    from prompt_toolkit.filters import completion_is_selected, emacs_insert_mode, vi_insert_mode
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.keys import Keys

    kb = KeyBindings()

    @kb.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        """Several lines run one by one, as typed; a huge paste is one line, not a frozen editor."""
        refused = too_long(event.data, session.max_input)
        if refused is not None:
            run_in_terminal(lambda: renderer.problem(refused))
            return
        buffer = event.current_buffer
        keys = line_by_line(
            buffer.document.text_before_cursor, event.data, hmp_mode=session.hmp_mode
        )
        if keys is None:
            buffer.insert_text(as_lines(event.data))
        else:
            event.app.key_processor.feed_multiple(keys, first=True)

    @kb.add("tab", filter=vi_insert_mode | emacs_insert_mode)
    def _tab(event: KeyPressEvent) -> None:
        """The common prefix first, then the menu; what is typed up to the Tab counts."""
        fetch = press_tab(event.current_buffer)
        if fetch is not None:
            event.app.create_background_task(fetch)

    @kb.add("enter", filter=completion_is_selected)
    def _close_menu(event: KeyPressEvent) -> None:
        """Enter on a highlighted completion takes it, without running the line."""
        event.current_buffer.complete_state = None

    @kb.add("enter", filter=~completion_is_selected)
    def _accept_or_continue(event: KeyPressEvent) -> None:
        """Open JSON braces or an open ``transaction(`` continue on the next line."""
        buffer = event.current_buffer
        if is_incomplete(buffer.text, hmp_mode=session.hmp_mode):
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    return kb


def _history(path: Path | None, renderer: render.Output, session: Session) -> History:
    from prompt_toolkit.application import run_in_terminal
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    class RedactingHistory(FileHistory):
        """The file never holds a secret (passwords, secret data); the session's own
        recall, in memory, keeps the line as typed."""

        saving = True

        def store_string(self, string: str) -> None:
            kept = redact_input(string, hmp_mode=session.hmp_mode)
            if kept is None or not self.saving or path is None:
                return
            # Not FileHistory's own: it reopens the path by name (following a symlink
            # planted since) and lets a full disk's OSError out of the Enter key binding.
            try:
                append_private(path, history_entry(kept))
            except OSError as err:
                self.saving = False
                text = f"history no longer saved: {path}: {err.strerror or err}"
                run_in_terminal(lambda: renderer.warning(text))  # below the line just entered

    if path is None:
        return InMemoryHistory()
    try:
        ensure_private_file(path)
    except OSError as err:
        renderer.warning(f"history not saved: {path}: {err.strerror or err}")
        return InMemoryHistory()
    return RedactingHistory(str(path))


@dataclass(frozen=True)
class Looks:
    """How the prompt looks and which keys it takes (from the settings, ``cli``'s)."""

    #: A pygments style for the input, or None for qmpsh's own palette.
    pygments_style: str | None = None
    vi_mode: bool = False
    #: ``--color``: auto, always or never.
    color: str = "auto"


def make_prompt(
    session: Session,
    renderer: render.Output,
    *,
    history: Path | None,
    input: Input | None = None,
    output: Output | None = None,
    looks: Looks | None = None,
    lookups: Lookups | None = None,
) -> PromptSession[str]:
    """The prompt over ``session``; its completer reads ``lookups`` (one made here if
    none is given)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.lexers import PygmentsLexer

    linear_pastes()

    looks = looks or Looks()
    lookups = lookups or Lookups(session)

    return PromptSession(
        lexer=PygmentsLexer(make_lexer(lookups.known_commands, lambda: session.hmp_mode)),
        input_processors=[inert_line()],
        message=lambda: prompt_message(session),
        history=_history(history, renderer, session),
        completer=make_completer(lookups),
        complete_while_typing=True,
        key_bindings=_bindings(session, renderer),
        style=prompt_style(looks.pygments_style),
        vi_mode=looks.vi_mode,
        color_depth=_color_depth(looks.color),
        multiline=True,
        prompt_continuation="... ",
        input=input,
        output=output,
    )


def _color_depth(color: str) -> ColorDepth | None:
    """``--color``: never is monochrome; always overrides ``NO_COLOR``; auto decides alone."""
    from prompt_toolkit.output import ColorDepth

    if color == "never":
        return ColorDepth.MONOCHROME
    if color == "always" and os.environ.get("NO_COLOR"):
        return ColorDepth.DEPTH_8_BIT
    return None
