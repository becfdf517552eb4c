"""``Output``: everything the script runners, the REPL and ``cli`` ask to have shown.

One protocol for every renderer (``render.renderer.Renderer`` is the one
implementation; ``plain`` and ``rich_terminal`` assemble it for scripts and for
a terminal), so callers depend on what is shown, not on how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from qmpsh.language.progress import Shown
    from qmpsh.session.outcomes import Outcome
    from qmpsh.transport.interface import ServerInfo

#: Changes what a spinner says while it spins.
Relabel = Callable[[str], None]


@runtime_checkable
class Output(Protocol):
    #: The traffic itself is shown (``--json`` every message received, ``-v`` every one
    #: sent), so a script may not send ahead what a lock-step run would not send yet.
    shows_traffic: bool
    #: Progress lines are shown (at a terminal, or with ``--progress``): only then
    #: does the session poll for them.
    shows_progress: bool

    def outcome(self, outcome: Outcome, where: str = "") -> None:
        """What a command, or a built-in, came to; ``where`` (a script's ``line 4``)
        heads its failure, so that one of many alike says which line failed."""

    def problem(self, text: str) -> None:
        """A one-line failure of qmpsh's own (bad input, lost connection)."""

    def warning(self, text: str) -> None:
        """Something the user should know that fails nothing."""

    def notice(self, text: str) -> None:
        """qmpsh's own remark to a person (reconnected, cancelled); scripts show none."""

    def event(self, msg: Mapping[str, object]) -> None:
        """An event as it arrives."""

    def traffic(self, direction: str, msg: Mapping[str, object]) -> None:
        """Transport observer: every message sent (``"send"``) or received (``"recv"``)."""

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        """Greets a person at the prompt once connected."""

    def waiting(self, label: str) -> AbstractContextManager[Relabel]:
        """Shown while qmpsh waits (for a reply, an event, a connection).

        The context gives a function that changes the label (an elapsed time).
        """

    def progress(self, lines: tuple[Shown, ...]) -> None:
        """The live progress of running jobs while something waits for them, redrawn in
        place with each call; ``()`` erases it."""
