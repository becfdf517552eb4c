"""Everything qmpsh prints, for scripts: ``PlainRenderer`` and the text helpers.

``PlainRenderer`` serves scripts (compact JSON, no colour, no rich import); the
terminal's renderers are in ``rich_terminal``. Server text is data, escaped as
``render.escape`` says for the stream it goes to.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING

from qmpsh.render.escape import dump_json, escaped, is_terminal
from qmpsh.session.outcomes import EventList, Exit, HelpList, Notice, Outcome, Reply, Waited
from qmpsh.transport.failures import ServerInfo

if TYPE_CHECKING:
    from qmpsh.language.helptext import CommandHelp

#: Changes what a spinner says while it spins.
Relabel = Callable[[str], None]


def hmp_text(text: str) -> str:
    """HMP output as a person reads it: QEMU's ``\\r\\n`` line ends become ``\\n``."""
    return text.replace("\r", "")


def _no_label(text: str) -> None:
    """Scripts show no spinner, so there is no label to change."""


class PlainRenderer:
    """Script output: return values on stdout, errors on stderr, nothing else."""

    def __init__(
        self,
        *,
        pretty: bool = False,
        json_lines: bool = False,
        verbose: bool = False,
        events: bool = False,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.pretty = pretty
        self.json_lines = json_lines
        self.verbose = verbose
        self.events = events
        self._out = out
        self._err = err

    # Streams are looked up at each write: the REPL swaps sys.stdout while it runs.
    @property
    def out(self) -> IO[str]:
        return self._out or sys.stdout

    @property
    def err(self) -> IO[str]:
        return self._err or sys.stderr

    @staticmethod
    def _text(stream: IO[str], text: str) -> str:
        """``text`` as ``stream`` may take it: inert on a terminal, encodable anywhere."""
        return escaped(text, terminal=is_terminal(stream))

    def _write(self, stream: IO[str], text: str) -> None:
        stream.write(self._text(stream, text))
        stream.write("\n")
        stream.flush()

    def outcome(self, outcome: Outcome) -> None:
        if isinstance(outcome, Reply):
            self.reply(outcome)
        elif isinstance(outcome, HelpList):
            self.help(outcome)
        elif isinstance(outcome, Notice):
            self.notice(outcome.text)
        elif isinstance(outcome, EventList):
            for logged in outcome.events:
                self.show_event(logged.message)
        elif isinstance(outcome, Waited):
            self.waited(outcome)
        elif not isinstance(outcome, Exit):  # what is left: one command's /help
            self.command_help(outcome)

    def waited(self, outcome: Waited) -> None:
        if outcome.event is not None:
            if not self.json_lines:  # --json printed it already, when it arrived
                self.show_event(outcome.event.message)
        else:
            self.problem(f"/wait {outcome.what}: no such event within {outcome.timeout:g} s")

    def reply(self, reply: Reply) -> None:
        if not reply.ok:
            if not self.json_lines:
                cls, desc = reply.error
                self._write(self.err, f"{cls}: {desc}")
            return
        if self.json_lines:  # traffic() already printed the whole reply
            return
        if reply.hmp and isinstance(reply.value, str):
            text = hmp_text(reply.value)
            if text:
                self.out.write(self._text(self.out, text))
                self.out.flush()
            return
        self.out.write(self.json(reply.value) + "\n")
        self.out.flush()

    def json(self, value: object) -> str:
        return dump_json(value, indent=2 if self.pretty else None, terminal=is_terminal(self.out))

    # Command, event and member names come from the server's schema: server text too.
    def help(self, listing: HelpList) -> None:
        lines = [*listing.builtins, *listing.commands]
        self.out.write(self._text(self.out, "".join(f"{line}\n" for line in lines)))
        self.out.flush()

    def command_help(self, tree: CommandHelp) -> None:
        rows = [tree.title, *("".join(cells).rstrip() for cells in tree_rows(tree))]
        self.out.write(self._text(self.out, "".join(f"{row}\n" for row in rows)))
        self.out.flush()

    def notice(self, text: str) -> None:
        """Scripts keep stdout for results; qmpsh's own remarks are not results."""

    def problem(self, text: str) -> None:
        """A one-line failure of qmpsh's own (bad input, lost connection)."""
        self._write(self.err, text)

    def warning(self, text: str) -> None:
        self._write(self.err, f"warning: {text}")

    def traffic(self, direction: str, msg: Mapping[str, object]) -> None:
        """Transport observer: ``--json`` prints what arrives, ``-v`` what is sent."""
        if direction == "recv" and self.json_lines:
            self.out.write(dump_json(msg, terminal=is_terminal(self.out)) + "\n")
            self.out.flush()
        elif direction == "send" and self.verbose:
            self._write(self.err, dump_json(msg))

    def event(self, msg: Mapping[str, object]) -> None:
        """An event as it arrives: scripts print it only with ``--events``."""
        if self.events and not self.json_lines:  # --json printed it as traffic
            self.show_event(msg)

    def show_event(self, msg: Mapping[str, object]) -> None:
        self.out.write(dump_json(msg, terminal=is_terminal(self.out)) + "\n")
        self.out.flush()

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        """Scripts have no banner."""

    def waiting(self, label: str) -> contextlib.AbstractContextManager[Relabel]:
        """Shown while qmpsh waits (for a reply, an event, a connection); scripts show nothing.

        The context gives a function that changes the label (an elapsed time).
        """
        return contextlib.nullcontext(_no_label)


def tree_rows(tree: CommandHelp) -> list[tuple[str, str, str]]:
    """(indented name, type, notes) cells, padded so the columns line up."""
    names = [("  " * line.depth + line.name, line) for line in tree.lines]
    width = max((len(n) for n, line in names if line.type), default=0) + 2
    types = max((len(line.type) for line in tree.lines), default=0) + 2
    rows = []
    for name, line in names:
        if not line.type and not line.notes:
            rows.append((name, "", ""))
        else:
            rows.append((name.ljust(width), line.type.ljust(types), line.notes))
    return rows
