"""The interactive prompt: read, run, render, with events shown above the line.

prompt_toolkit is imported here (and in ``completer`` / ``style``) only, so
scripts never pay for it. Ctrl-C clears the line at the prompt and cancels a
command in flight; Ctrl-D or ``/exit`` leaves; QEMU going away ends the prompt
with one line (``ConnectionLost``, exit 4, reported by ``cli``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from qmpsh.builtins import muted
from qmpsh.completer import make_completer
from qmpsh.config import ensure_private_file
from qmpsh.errors import ConnectionLost, ExitStatus, InputError
from qmpsh.lexer import make_lexer
from qmpsh.outcomes import Exit, Outcome
from qmpsh.render import PlainRenderer
from qmpsh.secrets import redact_input
from qmpsh.session import Session
from qmpsh.settings import OWN_STYLE, Settings
from qmpsh.style import prompt_style
from qmpsh.syntax import Parsed, is_incomplete

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.history import History
    from prompt_toolkit.input import Input
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.output import ColorDepth, Output


def _message(session: Session) -> StyleAndTextTuples:
    mode = session.mode
    parts: StyleAndTextTuples = [(f"class:prompt-{mode.lower()}", mode)]
    if session.vm_name:
        parts += [("", " "), ("class:prompt-name", session.vm_name)]
    parts.append(("", "> "))
    return parts


def _bindings(session: Session) -> KeyBindings:
    from prompt_toolkit.filters import completion_is_selected
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    kb = KeyBindings()

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


def _history(path: Path | None, renderer: PlainRenderer, session: Session) -> History:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    class RedactingHistory(FileHistory):
        """The file never holds a secret (passwords, secret data); the session's own
        recall, in memory, keeps the line as typed."""

        def store_string(self, string: str) -> None:
            kept = redact_input(string, hmp_mode=session.hmp_mode)
            if kept is not None:
                super().store_string(kept)

    if path is None:
        return InMemoryHistory()
    try:
        ensure_private_file(path)
    except OSError as err:
        renderer.warning(f"history not saved: {path}: {err.strerror or err}")
        return InMemoryHistory()
    return RedactingHistory(str(path))


def make_prompt(
    session: Session,
    renderer: PlainRenderer,
    *,
    history: Path | None,
    input: Input | None = None,
    output: Output | None = None,
    settings: Settings | None = None,
) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.lexers import PygmentsLexer

    settings = settings or Settings()
    style = None if settings.style == OWN_STYLE else settings.style

    def known() -> Collection[str]:
        return session.index.commands if session.index else session.commands

    return PromptSession(
        lexer=PygmentsLexer(make_lexer(known, lambda: session.hmp_mode)),
        message=lambda: _message(session),
        history=_history(history, renderer, session),
        completer=make_completer(session),
        complete_while_typing=True,
        key_bindings=_bindings(session),
        style=prompt_style(style),
        vi_mode=settings.key_bindings == "vi",
        color_depth=_color_depth(settings.color),
        multiline=True,
        prompt_continuation="... ",
        input=input,
        output=output,
    )


async def run_repl(
    session: Session,
    renderer: PlainRenderer,
    *,
    history: Path | None,
    input: Input | None = None,
    output: Output | None = None,
    settings: Settings | None = None,
) -> ExitStatus:
    """Prompt until Ctrl-D or ``/exit``; raise ``ConnectionLost`` if QEMU goes away."""
    prompt = make_prompt(
        session, renderer, history=history, input=input, output=output, settings=settings
    )
    session.learn_in_background()
    learning = asyncio.ensure_future(session.learn())
    learning.add_done_callback(lambda _: prompt.app.invalidate())
    closed = asyncio.ensure_future(session.transport.wait_closed())

    def show(msg: Mapping[str, object]) -> None:
        if not muted(session, str(msg.get("event"))):  # muted ones are still logged
            _above_prompt(prompt, lambda: renderer.event(msg))

    session.on_event = show
    try:
        return await _loop(session, renderer, prompt, closed)
    finally:
        session.on_event = None
        closed.cancel()
        learning.cancel()


def _above_prompt(prompt: PromptSession[str], show: Callable[[], None]) -> None:
    """Print while the user may be typing: erase the prompt, print, redraw it.

    Results are printed straight to the terminal (the prompt is not shown while
    a command runs); only output that arrives during typing, events, needs this.
    """
    from prompt_toolkit.application import run_in_terminal
    from prompt_toolkit.application.current import set_app

    if not prompt.app.is_running:
        show()
        return
    with set_app(prompt.app):  # events arrive on qemu.qmp's task, outside the app's context
        run_in_terminal(show)


class _LineCleared(Exception):
    """Ctrl-C at the prompt, carried out of the reading task as an ordinary exception."""


async def _prompt_once(prompt: PromptSession[str]) -> str:
    # prompt_toolkit raises KeyboardInterrupt for Ctrl-C; escaping a task, that
    # BaseException would stop the event loop itself (and end qmpsh with 130).
    try:
        return await prompt.prompt_async()
    except KeyboardInterrupt:
        raise _LineCleared from None


async def _read(prompt: PromptSession[str], closed: asyncio.Future[str]) -> str:
    """One input, or ``ConnectionLost`` as soon as QEMU goes away, even mid-typing.

    Ctrl-C raises ``_LineCleared``, Ctrl-D ``EOFError``.
    """
    if not closed.done():
        reading = asyncio.ensure_future(_prompt_once(prompt))
        # If we are cancelled meanwhile, its Ctrl-C / Ctrl-D must not be reported as lost.
        reading.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.wait({reading, closed}, return_when=asyncio.FIRST_COMPLETED)
        if reading.done():
            return reading.result()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, _LineCleared, EOFError):
            await reading
    raise ConnectionLost(closed.result())


async def _loop(
    session: Session,
    renderer: PlainRenderer,
    prompt: PromptSession[str],
    closed: asyncio.Future[str],
) -> ExitStatus:
    while True:
        session.forget_lookups()  # live completion values are fresh at each prompt
        try:
            text = await _read(prompt, closed)
        except _LineCleared:
            continue
        except EOFError:
            return ExitStatus.OK
        try:
            item = session.parse(text)
            outcome = None if item is None else await _run_cancellable(session, item, renderer)
        except InputError as err:  # from the parser, or the schema check before sending
            _show_input_error(renderer, session, text, err)
            continue
        if outcome is not None:
            renderer.outcome(outcome)
            if isinstance(outcome, Exit):
                return ExitStatus.OK


async def _run_cancellable(
    session: Session, item: Parsed, renderer: PlainRenderer
) -> Outcome | None:
    """Run one command; Ctrl-C cancels waiting for it (QEMU may still finish it)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(session.run(item))
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        interruptible = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        interruptible = False
    try:
        with renderer.waiting("waiting for QEMU (Ctrl-C stops waiting)"):
            return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        renderer.notice("cancelled; QEMU may still complete the command")
        return None
    finally:
        if interruptible:
            loop.remove_signal_handler(signal.SIGINT)


def _show_input_error(
    renderer: PlainRenderer, session: Session, text: str, err: InputError
) -> None:
    """Point at the offending column under the line just typed."""
    if err.column is not None and "\n" not in text:
        width = sum(len(fragment[1]) for fragment in _message(session))
        renderer.problem(" " * (width + err.column) + "^ " + err.message)
    else:
        renderer.problem(str(err))


def _color_depth(color: str) -> ColorDepth | None:
    """``--color``: never is monochrome; always overrides ``NO_COLOR``; auto decides alone."""
    from prompt_toolkit.output import ColorDepth

    if color == "never":
        return ColorDepth.MONOCHROME
    if color == "always" and os.environ.get("NO_COLOR"):
        return ColorDepth.DEPTH_8_BIT
    return None
