"""Events above the prompt: printed while the user may be typing, in batches, and
past a display rate summarised.

prompt_toolkit only (no session logic beyond asking whether an event is muted):
``repl`` hands every event it should show to an ``EventPrinter``. Every event is
logged before it comes here (``/events``, ``-l``); only what is drawn is limited.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from qmpsh.render.oneline import one_line
from qmpsh.render.output import Output
from qmpsh.session.builtins import muted
from qmpsh.session.session import Session

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession


#: Events drawn per ``WINDOW`` seconds at most; past that, one line per window counts
#: the rest. Nobody reads faster, and drawing each of a flood of 100,000 a second held
#: a typed command's reply back for seconds (benchmarks/README.md, P7).
SHOWN_PER_WINDOW = 20
WINDOW = 0.5


class EventPrinter:
    """Shows events above the prompt, as many per redraw as have arrived.

    Each print above the prompt erases and redraws it; a burst of thousands of
    events (a flood, a chatty guest) would otherwise cost a redraw each and
    take seconds to drain. While one batch is printed, the next one gathers.
    Past ``SHOWN_PER_WINDOW`` in a window, events are only counted, and the count
    is shown when the window ends.
    """

    def __init__(self, prompt: PromptSession[str], renderer: Output, session: Session) -> None:
        self.prompt = prompt
        self.renderer = renderer
        self.session = session
        self._pending: list[Mapping[str, object] | str] = []
        self._printing = False
        self._window_end = 0.0
        self._shown = 0
        self._unshown: Counter[str] = Counter()

    def __call__(self, msg: Mapping[str, object]) -> None:
        name = str(msg.get("event"))
        if muted(self.session, name):  # muted ones are still logged
            return
        now = time.monotonic()
        if now >= self._window_end:
            self._window_end, self._shown = now + WINDOW, 0
        if self._shown >= SHOWN_PER_WINDOW:
            if not self._unshown:  # the first of this window's rest: say so when it ends
                asyncio.get_running_loop().call_later(self._window_end - now, self._summary)
            self._unshown[name] += 1
            return
        self._shown += 1
        self._pending.append(msg)
        if not self._printing:
            self._flush()

    def _summary(self) -> None:
        """One line for the events not drawn in the window just ended."""
        counted, self._unshown = self._unshown, Counter()
        names = one_line("/".join(sorted(counted)[:5]) + ("/..." if len(counted) > 5 else ""))
        self._pending.append(f"… {counted.total():,} more {names} events; /events shows them")
        if not self._printing:
            self._flush()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []

        def show() -> None:
            for msg in batch:
                if isinstance(msg, str):
                    self.renderer.notice(msg)
                else:
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
