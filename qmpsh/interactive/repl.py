"""The interactive loop: read, run, render, with events shown above the line.

The prompt itself (keys, history, looks) is built in ``prompt``. Ctrl-C clears the
line at the prompt and cancels a command in flight; Ctrl-D or ``/exit`` leaves, and
so does a ``quit`` QEMU accepted (exit 0); QEMU going away otherwise ends the prompt with one line
(``ConnectionLost``, exit 4, reported by ``cli``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from qmpsh.batch.ahead import is_quit
from qmpsh.errors import ConnectionLost, ExitStatus, InputError, NoReply
from qmpsh.interactive import reconnect as rejoin
from qmpsh.interactive.event_printer import EventPrinter
from qmpsh.interactive.lookups import Lookups
from qmpsh.interactive.prompt import Looks, make_prompt, prompt_message
from qmpsh.interactive.reconnect import (
    Connector,
    cancelled_by_user,
    ctrl_c_cancels,
    reattach,
    wait_for_qemu,
)
from qmpsh.language.syntax import Builtin, HmpLine, Parsed
from qmpsh.language.validate import needs_schema
from qmpsh.render import output as render
from qmpsh.session.dispatch import run
from qmpsh.session.outcomes import Examples, Exit, Outcome, succeeded
from qmpsh.session.session import Session

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output


async def run_repl(
    session: Session,
    renderer: render.Output,
    *,
    history: Path | None,
    input: Input | None = None,
    output: Output | None = None,
    looks: Looks | None = None,
    lookups: Lookups | None = None,
    reconnect: Connector | None = None,
    auto_reconnect: bool = False,
) -> ExitStatus:
    """Prompt until Ctrl-D or ``/exit``.

    When QEMU goes away and ``reconnect`` says how to reach it again, offer to wait
    for it (``auto_reconnect``: without asking) and go on where the user was, with
    the line being typed still there. Without ``reconnect`` (a QEMU qmpsh launched
    is not coming back) raise ``ConnectionLost``; declining returns ``LOST`` (4).
    """
    lookups = lookups or Lookups(session)
    prompt = make_prompt(
        session,
        renderer,
        history=history,
        input=input,
        output=output,
        looks=looks,
        lookups=lookups,
    )
    session.on_event = EventPrinter(prompt, renderer, session)
    session.on_progress = renderer.progress if renderer.shows_progress else None
    session.at_prompt = True
    typed = ""
    try:
        while True:
            try:
                return await _attached(session, lookups, renderer, prompt, typed)
            except _Lost as lost:
                typed = lost.typed
                if reconnect is None:
                    raise ConnectionLost(lost.reason) from None
                renderer.problem(f"qmpsh: {lost.reason}")
            target = session.transport.target
            question = f"Wait for QEMU to come back at {target}? [Y/n] "
            if not (auto_reconnect or await rejoin.confirm(prompt, question)):
                return ExitStatus.LOST
            transport = await wait_for_qemu(session, renderer, reconnect)
            if transport is None:
                return ExitStatus.LOST
            await reattach(session, renderer, transport)
            lookups.reattached()
    finally:
        session.on_event = session.on_progress = None
        session.at_prompt = False


class _Lost(Exception):
    """The connection ended; ``typed`` is the line the user had not sent yet."""

    def __init__(self, reason: str, typed: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.typed = typed


async def _attached(
    session: Session,
    lookups: Lookups,
    renderer: render.Output,
    prompt: PromptSession[str],
    typed: str,
) -> ExitStatus:
    """The prompt over one connection; ``_Lost`` when it ends."""
    lookups.learn_in_background().add_done_callback(lambda _: _learned(prompt))
    closed = asyncio.ensure_future(session.transport.wait_closed())
    try:
        return await _loop(session, lookups, renderer, prompt, closed, typed)
    finally:
        closed.cancel()


def _learned(prompt: PromptSession[str]) -> None:
    """The schema and names are here: redraw, and offer completions for what was
    typed meanwhile (prompt_toolkit only completes again on the next key)."""
    app = prompt.app
    if not app.is_running:
        return
    buffer = prompt.default_buffer
    if buffer.text and buffer.complete_state is None:
        buffer.start_completion(select_first=False)
    app.invalidate()


class _LineCleared(Exception):
    """Ctrl-C at the prompt, carried out of the reading task as an ordinary exception."""


async def _prompt_once(prompt: PromptSession[str], typed: str) -> str:
    # prompt_toolkit raises KeyboardInterrupt for Ctrl-C; escaping a task, that
    # BaseException would stop the event loop itself (and end qmpsh with 130).
    try:
        return await prompt.prompt_async(default=typed)
    except KeyboardInterrupt:
        raise _LineCleared from None


async def _read(prompt: PromptSession[str], closed: asyncio.Future[str], typed: str) -> str:
    """One input, or ``_Lost`` as soon as QEMU goes away, even mid-typing.

    Ctrl-C raises ``_LineCleared``, Ctrl-D ``EOFError``.
    """
    if not closed.done():
        reading = asyncio.ensure_future(_prompt_once(prompt, typed))
        # If we are cancelled meanwhile, its Ctrl-C / Ctrl-D must not be reported as lost.
        reading.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.wait({reading, closed}, return_when=asyncio.FIRST_COMPLETED)
        if reading.done():
            return reading.result()
        typed = prompt.default_buffer.text  # kept for after a reconnect
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, _LineCleared, EOFError):
            await reading
    raise _Lost(closed.result(), typed)


async def _loop(
    session: Session,
    lookups: Lookups,
    renderer: render.Output,
    prompt: PromptSession[str],
    closed: asyncio.Future[str],
    typed: str,
) -> ExitStatus:
    while True:
        lookups.forget()  # live completion values are fresh at each prompt
        try:
            text = await _read(prompt, closed, typed)
        except _LineCleared:
            continue
        except EOFError:
            return ExitStatus.OK
        finally:
            typed = ""
        try:
            item = session.parse(text)
            outcome = None if item is None else await _run_cancellable(lookups, item, renderer)
        except InputError as err:  # from the parser, or the schema check before sending
            _show_input_error(renderer, session, text, err)
            continue
        except NoReply as err:  # the session goes on: QEMU may answer the next one
            renderer.problem(f"qmpsh: {err}")
            continue
        except ConnectionLost as err:
            raise _Lost(f"{err}; the command may or may not have taken effect") from None
        if outcome is not None:
            renderer.outcome(outcome)
            if isinstance(outcome, Examples):  # on the line to edit, never sent by itself
                typed = outcome.chosen
            if isinstance(outcome, Exit):
                return ExitStatus.OK
            if is_quit(item) and succeeded(outcome):  # QEMU is going away, as asked
                return ExitStatus.OK


async def _run_cancellable(
    lookups: Lookups, item: Parsed, renderer: render.Output
) -> Outcome | None:
    """Run one command; Ctrl-C cancels waiting for it (QEMU may still finish it)."""

    async def learned_then_run() -> Outcome:
        if isinstance(item, Builtin):
            uses = item.spec.uses_schema
        else:
            uses = not isinstance(item, HmpLine) and needs_schema(item)
        if uses:  # asked once: by the learning under way, not again here
            await lookups.learned()
        return await run(lookups.session, item)

    awaited, cancelled = _awaited(item)
    task = asyncio.ensure_future(learned_then_run())
    try:
        with (
            ctrl_c_cancels(task),
            renderer.waiting(awaited),
        ):
            return await task
    except asyncio.CancelledError:
        if not cancelled_by_user():
            raise
        renderer.notice(cancelled)
        return None


def _awaited(item: Parsed) -> tuple[str, str]:
    """What the spinner says is awaited, and what Ctrl-C says it left: ``/wait``,
    ``/jobs`` and ``/watch`` sent nothing that may still complete."""
    if isinstance(item, Builtin) and item.name == "wait":
        event = item.argument.split(maxsplit=1)[0] if item.argument.strip() else "an event"
        return f"waiting for {event} (Ctrl-C stops waiting)", f"stopped waiting for {event}"
    if isinstance(item, Builtin) and item.name == "jobs":
        return "following jobs (Ctrl-C stops)", "stopped following jobs (they go on)"
    if isinstance(item, Builtin) and item.name == "watch":
        return "watching (Ctrl-C stops)", "stopped watching"
    return (
        "waiting for QEMU (Ctrl-C stops waiting)",
        "cancelled; QEMU may still complete the command",
    )


def _show_input_error(
    renderer: render.Output, session: Session, text: str, err: InputError
) -> None:
    """Point at the offending column under the line just typed."""
    width = sum(len(fragment[1]) for fragment in prompt_message(session))
    # A caret past the screen's edge points nowhere (a pasted line can be megabytes long).
    fits = err.column is not None and width + err.column < shutil.get_terminal_size().columns
    if err.column is not None and fits and "\n" not in text:
        renderer.problem(" " * (width + err.column) + "^ " + err.message)
    else:
        renderer.problem(str(err))
