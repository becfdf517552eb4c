"""``Renderer``: the one ``Output``, assembled from parts.

The renderer decides *what* is shown and when (``--json``, ``-v``, ``--events``,
what a ``/wait`` or a failed reply comes to); its parts decide how it looks and
where it goes. A writer (``plain.Streams``, ``rich_terminal.Consoles``) puts
lines on stdout or stderr, escaped by ``render.escape``; the formatters for
replies, messages (events and traffic) and problems, and the presence (banner,
notices, spinner) write through one. ``plain`` and ``rich_terminal`` assemble the
renderers a run can have; ``cli.prepare.make_renderer`` picks one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from qmpsh.render.output import Output, Relabel
from qmpsh.session.outcomes import (
    EventList,
    Examples,
    Exit,
    HelpList,
    JobsEnded,
    Notice,
    Outcome,
    Reply,
    Waited,
)

if TYPE_CHECKING:
    from qmpsh.language.helptext import CommandHelp
    from qmpsh.language.progress import Shown
    from qmpsh.transport.interface import ServerInfo

#: A piece of a line: its text and its role in the palette (``style.PALETTE``; "" none).
Span = tuple[str, str]


class Writer(Protocol):
    """Lines on stdout or stderr, server text escaped for the stream it goes to."""

    def line(self, *spans: Span, err: bool = False) -> None:
        """One line of text; the first span's role styles the whole line."""

    def json_line(self, value: object, *, err: bool = False) -> None:
        """``value`` as one line of compact JSON."""

    def paged(self) -> AbstractContextManager[None]:
        """What is written inside goes through a pager if it is taller than the screen."""


class Replies(Protocol):
    """How results look: a return value, HMP's text, ``/help``."""

    def value(self, value: object) -> None: ...

    def hmp(self, text: str) -> None: ...

    def help(self, listing: HelpList) -> None: ...

    def command_help(self, tree: CommandHelp) -> None: ...


class Messages(Protocol):
    """How QMP messages look: an event, and the traffic ``--json`` and ``-v`` show."""

    def event(self, msg: Mapping[str, object]) -> None: ...

    def received(self, msg: Mapping[str, object]) -> None: ...

    def sent(self, msg: Mapping[str, object]) -> None: ...


class Presence(Protocol):
    """What only a person at a terminal is shown: a banner, notices, a spinner."""

    def banner(self, target: str, info: ServerInfo, mode: str) -> None: ...

    def notice(self, text: str) -> None: ...

    def waiting(self, label: str) -> AbstractContextManager[Relabel]: ...

    #: Whether ``progress`` shows anything.
    shows_progress: bool

    def progress(self, lines: tuple[Shown, ...]) -> None: ...


class Problems:
    """Failures and warnings, each one line on stderr, in any writer's looks."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def error(self, cls: str, desc: str, where: str = "") -> None:
        """A command's error reply, after where it came from (``failed_at``)."""
        self.writer.line((where + cls, "error"), (": ", ""), (desc, "error.desc"), err=True)

    def problem(self, text: str) -> None:
        self.writer.line((text, "error"), err=True)

    def warning(self, text: str) -> None:
        self.writer.line((f"warning: {text}", "notice"), err=True)


class JsonLines:
    """A script's messages: each one JSON line as it came, what was sent on stderr."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def event(self, msg: Mapping[str, object]) -> None:
        self.writer.json_line(msg)

    def received(self, msg: Mapping[str, object]) -> None:
        self.writer.json_line(msg)

    def sent(self, msg: Mapping[str, object]) -> None:
        self.writer.json_line(msg, err=True)


def _no_label(text: str) -> None:
    """Scripts show no spinner, so there is no label to change."""


class Quiet:
    """A script's presence: stdout is for results, so no banner, notice or spinner."""

    shows_progress = False

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        pass

    def notice(self, text: str) -> None:
        pass

    def waiting(self, label: str) -> AbstractContextManager[Relabel]:
        return contextlib.nullcontext(_no_label)

    def progress(self, lines: tuple[Shown, ...]) -> None:
        pass


class Renderer:
    """An ``Output`` built from a writer, three formatters and a presence."""

    def __init__(
        self,
        *,
        writer: Writer,
        replies: Replies,
        messages: Messages,
        problems: Problems,
        presence: Presence,
        json_lines: bool = False,
        verbose: bool = False,
        events: bool = False,
        above_prompt: bool = False,
    ) -> None:
        """``json_lines`` (``--json``) shows every message received, as it came, and
        nothing else of replies; ``verbose`` (``-v``) every message sent; ``events``
        each event as it arrives (``--events``, and always at the prompt);
        ``above_prompt`` says events go above the prompt, apart from the results."""
        self.writer = writer
        self.replies = replies
        self.messages = messages
        self.problems = problems
        self.presence = presence
        self.json_lines = json_lines
        self.verbose = verbose
        self.events = events
        # /wait shows its event unless the event is already in line with the results.
        self._wait_shows_event = not json_lines and (above_prompt or not events)
        self.shows_traffic = json_lines or verbose
        self.shows_progress = presence.shows_progress

    def outcome(self, outcome: Outcome, where: str = "") -> None:
        with self.writer.paged():
            if isinstance(outcome, Reply):
                self._reply(outcome, where)
            elif isinstance(outcome, HelpList):
                self.replies.help(outcome)
            elif isinstance(outcome, Notice):
                self.presence.notice(outcome.text)
            elif isinstance(outcome, EventList):
                for logged in outcome.events:
                    self.messages.event(logged.message)
            elif isinstance(outcome, Waited):
                self._waited(outcome, where)
            elif isinstance(outcome, Examples):
                self.replies.command_help(outcome.listing)
            elif isinstance(outcome, JobsEnded):
                self._jobs_ended(outcome, where)
            elif not isinstance(outcome, Exit):  # what is left: one command's /help
                self.replies.command_help(outcome)

    def _reply(self, reply: Reply, where: str) -> None:
        if self.json_lines:  # traffic() printed the whole reply as it came
            return
        if not reply.ok:
            self.problems.error(*reply.error, where=failed_at(where, reply))
        elif reply.hmp and isinstance(reply.value, str):
            text = hmp_text(reply.value)
            if text:
                self.replies.hmp(text)
        else:
            self.replies.value(reply.value)

    def _waited(self, outcome: Waited, where: str) -> None:
        if outcome.event is None:
            self.problems.problem(
                f"{failed_at(where, outcome)}/wait {outcome.what}: "
                f"no such event within {outcome.timeout:g} s"
            )
        elif self._wait_shows_event:
            self.messages.event(outcome.event.message)
        if outcome.failure is not None:
            self.problems.problem(
                f"{failed_at(where, outcome)}/wait {outcome.what}: {outcome.failure}"
            )

    def _jobs_ended(self, outcome: JobsEnded, where: str) -> None:
        """One line per job: how it ended on stdout, a failure on stderr as an error."""
        for end in outcome.ends:
            if end.error:
                self.problems.problem(f"{where}: /jobs: {end.text}" if where else end.text)
            else:
                self.writer.line((end.text, ""))

    def problem(self, text: str) -> None:
        self.problems.problem(text)

    def warning(self, text: str) -> None:
        self.problems.warning(text)

    def notice(self, text: str) -> None:
        self.presence.notice(text)

    def traffic(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction == "recv" and self.json_lines:
            self.messages.received(msg)
        elif direction == "send" and self.verbose:
            self.messages.sent(msg)

    def event(self, msg: Mapping[str, object]) -> None:
        if self.events and not self.json_lines:  # --json printed it as traffic
            self.messages.event(msg)

    def banner(self, target: str, info: ServerInfo, mode: str) -> None:
        self.presence.banner(target, info, mode)

    def waiting(self, label: str) -> AbstractContextManager[Relabel]:
        return self.presence.waiting(label)

    def progress(self, lines: tuple[Shown, ...]) -> None:
        self.presence.progress(lines)


if TYPE_CHECKING:  # mypy checks, member by member, that a Renderer is an Output
    _RENDERER_IS_AN_OUTPUT: type[Output] = Renderer


def failed_at(where: str, outcome: Reply | Waited) -> str:
    """What heads a script's failure, as a line that did not parse is headed: ``line 4:
    block-dirty-bitmap-add: `` (``-c 2: `` with ``-c``); nothing at the prompt. A
    /wait names itself already, and an HMP line's command is its text."""
    if not where:
        return ""
    if isinstance(outcome, Reply) and not outcome.hmp:
        return f"{where}: {outcome.command}: "
    return f"{where}: "


def hmp_text(text: str) -> str:
    """HMP output as a person reads it: QEMU's ``\\r\\n`` line ends become ``\\n``."""
    return text.replace("\r", "")
