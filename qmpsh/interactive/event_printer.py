"""Events above the prompt: printed while the user may be typing, in batches.

prompt_toolkit only (no session logic beyond asking whether an event is muted):
``repl`` hands every event it should show to an ``EventPrinter``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from qmpsh.render.output import Output
from qmpsh.session.builtins import muted
from qmpsh.session.session import Session

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession


class EventPrinter:
    """Shows events above the prompt, as many per redraw as have arrived.

    Each print above the prompt erases and redraws it; a burst of thousands of
    events (a flood, a chatty guest) would otherwise cost a redraw each and
    take seconds to drain. While one batch is printed, the next one gathers.
    """

    def __init__(self, prompt: PromptSession[str], renderer: Output, session: Session) -> None:
        self.prompt = prompt
        self.renderer = renderer
        self.session = session
        self._pending: list[Mapping[str, object]] = []
        self._printing = False

    def __call__(self, msg: Mapping[str, object]) -> None:
        if muted(self.session, str(msg.get("event"))):  # muted ones are still logged
            return
        self._pending.append(msg)
        if not self._printing:
            self._flush()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []

        def show() -> None:
            for msg in batch:
                self.renderer.event(msg)

        printed = above_prompt(self.prompt, show)
        if printed is not None:
            self._printing = True
            printed.add_done_callback(self._printed)

    def _printed(self, _: object) -> None:
        self._printing = False
        if self._pending:
            self._flush()


def above_prompt(
    prompt: PromptSession[str], show: Callable[[], None]
) -> asyncio.Future[None] | None:
    """Print while the user may be typing: erase the prompt, print, redraw it.

    Results are printed straight to the terminal (the prompt is not shown while
    a command runs); only output that arrives during typing, events, needs this.
    Returns the pending print, or None if it was printed at once.
    """
    from prompt_toolkit.application import run_in_terminal
    from prompt_toolkit.application.current import set_app

    if not prompt.app.is_running:
        show()
        return None
    with set_app(prompt.app):  # events arrive on qemu.qmp's task, outside the app's context
        return asyncio.ensure_future(run_in_terminal(show))
