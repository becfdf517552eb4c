"""What running one input produced, as plain data for the renderers (no UI here)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from qmpsh.session.events import Logged

if TYPE_CHECKING:  # plain scripts never build these, nor import their modules
    from qmpsh.language.helptext import CommandHelp
    from qmpsh.language.progress import Ended


@dataclass(frozen=True)
class Reply:
    """QEMU's whole reply to one command; ``hmp`` marks text to print verbatim.

    ``seq`` numbers it among all messages received, events included, so scripts
    can print both in the order they crossed the socket.
    """

    command: str
    reply: Mapping[str, object]
    hmp: bool = False
    seq: int = 0
    #: qmpsh's own words after QEMU's error (the name likely meant, for CommandNotFound).
    hint: str = ""

    @property
    def ok(self) -> bool:
        if "error" in self.reply:
            return False
        return not (self.hmp and _hmp_failed(self.value))

    @property
    def value(self) -> object:
        return self.reply.get("return")

    @property
    def not_found(self) -> bool:
        """QEMU has no such command (a misspelled name, most likely)."""
        err = self.reply.get("error")
        return isinstance(err, Mapping) and err.get("class") == "CommandNotFound"

    @property
    def error(self) -> tuple[str, str]:
        """``(class, desc)`` of an error reply (for HMP, split at the first colon), the
        desc followed by the ``hint``."""
        err = self.reply.get("error")
        if isinstance(err, Mapping):
            desc = str(err.get("desc", ""))
            return str(err.get("class", "Error")), f"{desc}; {self.hint}" if self.hint else desc
        if self.hmp and isinstance(self.value, str):
            cls, colon, desc = self.value.replace("\r", "").rstrip("\n").partition(": ")
            return (cls, desc) if colon else ("Error", cls)
        return "Error", "malformed error reply"


#: HMP has no error channel: human-monitor-command "succeeds" with the error as its
#: text. These are QEMU's own forms for one (hmp_handle_error's "Error: ", the
#: parser's "unknown command: " and its 'Try "help CMD"' after a bad argument),
#: so a script stops at a failing HMP line as at a failing QMP command.
_HMP_FAILURE = re.compile(r'\A(?:Error: |unknown command: )|^Try "help ', re.MULTILINE)


def _hmp_failed(text: object) -> bool:
    return isinstance(text, str) and _HMP_FAILURE.search(text) is not None


@dataclass(frozen=True)
class Notice:
    """Something qmpsh itself has to say (a mode switch, a mute)."""

    text: str


@dataclass(frozen=True)
class HelpList:
    """``/help [WORD]``: built-ins and command names by group (those containing WORD)."""

    builtins: tuple[str, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    pattern: str = ""

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(name for _, names in self.groups for name in names)


@dataclass(frozen=True)
class EventList:
    """``/events``: events from the log, oldest first."""

    events: tuple[Logged, ...]


@dataclass(frozen=True)
class Waited:
    """``/wait``: the event that came, or None when the timeout passed first; ``failure``
    when the event says the job or migration awaited failed."""

    event: Logged | None
    what: str
    timeout: float | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.event is not None and self.failure is None


@dataclass(frozen=True)
class Examples:
    """``/example CMD [N]``: the documented requests as lines to type, listed; at the
    prompt ``chosen`` goes on the line to edit, never sent by itself."""

    listing: CommandHelp
    chosen: str = ""


@dataclass(frozen=True)
class JobsEnded:
    """``/jobs``: how each job (and the migration) it followed, or that ended since the
    previous ``/jobs``, ended."""

    ends: tuple[Ended, ...]

    @property
    def ok(self) -> bool:
        return not any(end.error for end in self.ends)


@dataclass(frozen=True)
class Exit:
    """``/exit``: the user wants to leave."""


Outcome: TypeAlias = (
    "Reply | Notice | HelpList | CommandHelp | Examples | EventList | Waited | JobsEnded | Exit"
)


def succeeded(outcome: Outcome) -> bool:
    """Whether a script goes on after this (exit status 0 so far)."""
    return not isinstance(outcome, (Reply, Waited, JobsEnded)) or outcome.ok
