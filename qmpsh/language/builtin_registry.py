"""Pure: every ``/name`` built-in, declared once.

The parser, ``/help``, completion, highlighting, redaction, the session's
``/wait`` mark, ``--help`` and the man page all read this table, so a new
built-in is one entry here and one handler in ``qmpsh.session.builtins``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

#: What a built-in's argument is, which says how it completes (``completion``
#: maps each kind to a context):
#: ``none``: nothing to complete; ``topic``: a command or event name, then the
#: command's k=v; ``event``: an event name, then k=v; ``event-log``: an event
#: name, or ``mute``/``unmute`` then event names; ``hmp-line``: an HMP command
#: line; ``path-command``: a local file, then a QMP command; ``command``: a QMP
#: command and its k=v, as typed at the prompt.
ArgumentKind = Literal["none", "topic", "event", "event-log", "hmp-line", "path-command", "command"]
ARGUMENT_KINDS: tuple[ArgumentKind, ...] = get_args(ArgumentKind)

#: The arguments in which a QMP command starts after some words (``command_start``).
_COMMAND_AFTER: dict[ArgumentKind, int] = {"topic": 0, "path-command": 1, "command": 0}

#: ``/help`` aligns each summary after the usage padded to this width.
_USAGE_WIDTH = 15


@dataclass(frozen=True)
class BuiltinArgument:
    """One part of a built-in's usage and what it means: ``/help /NAME`` lists them."""

    form: str
    meaning: str
    optional: bool = False


@dataclass(frozen=True)
class BuiltinSpec:
    """One built-in, as every part of qmpsh that handles or explains it sees it."""

    name: str
    #: How it is typed, e.g. ``/wait EVENT [timeout=S] [k=v]``.
    usage: str
    #: What it does, in one line.
    summary: str
    #: What its argument is: how it completes.
    argument: ArgumentKind
    #: The handler's name in ``qmpsh.session.builtins.HANDLERS``.
    handler: str
    #: True if its argument may hold a secret: the QMP command in it (see
    #: ``command_start``) is redacted before the line goes into history.
    secret: bool
    #: Its other forms, shown after the summary.
    also: tuple[str, ...] = ()
    #: What each part of its usage (and of its other forms) means.
    arguments: tuple[BuiltinArgument, ...] = ()
    #: True if it reads the schema (to explain, or to check the command it carries).
    uses_schema: bool = False
    #: True if it only makes sense at the prompt (it redraws until Ctrl-C): a script or
    #: ``--all`` refuses it with one line.
    prompt_only: bool = False

    @property
    def description(self) -> str:
        """The summary and the other forms: what completion shows beside the name."""
        return "; ".join((self.summary, *self.also))


BUILTINS: dict[str, BuiltinSpec] = {
    spec.name: spec
    for spec in (
        BuiltinSpec(
            name="help",
            uses_schema=True,
            usage="/help [CMD]",
            summary="list built-ins and commands",
            arguments=(
                BuiltinArgument(
                    "CMD",
                    "a command or event: its arguments and what it returns; "
                    "any other word lists the commands containing it",
                    optional=True,
                ),
                BuiltinArgument(
                    "k=v",
                    "after CMD: show the members of the union variant k=v selects "
                    "(/help blockdev-add driver=qcow2)",
                    optional=True,
                ),
                BuiltinArgument("/NAME", "a built-in: its usage and arguments", optional=True),
            ),
            argument="topic",
            handler="help",
            secret=True,
        ),
        BuiltinSpec(
            name="example",
            uses_schema=True,
            usage="/example CMD [N]",
            summary="QEMU's documented examples of CMD, as lines to edit",
            arguments=(
                BuiltinArgument(
                    "CMD",
                    "a command: the requests its reference manual shows, in shorthand "
                    "(JSON where the shorthand cannot say it); at the prompt the first goes "
                    "on the line to edit, never sent by itself",
                ),
                BuiltinArgument("N", "the Nth example instead of the first", optional=True),
            ),
            argument="topic",
            handler="example",
            secret=True,
        ),
        BuiltinSpec(
            name="hmp",
            usage="/hmp [LINE]",
            summary="run one HMP line, or switch to HMP mode",
            arguments=(
                BuiltinArgument(
                    "LINE",
                    "an HMP command line, sent through human-monitor-command and printed "
                    "as text; without it every line is HMP until /qmp",
                    optional=True,
                ),
            ),
            argument="hmp-line",
            handler="hmp",
            # '/hmp LINE' parses as an HMP line, redacted as one; '/hmp' alone holds nothing
            secret=False,
        ),
        BuiltinSpec(
            name="qmp",
            usage="/qmp",
            summary="switch to QMP mode",
            argument="none",
            handler="qmp",
            secret=False,
        ),
        BuiltinSpec(
            name="events",
            usage="/events [GLOB] [k=v]",
            summary="recent events",
            also=("/events mute|unmute NAME",),
            arguments=(
                BuiltinArgument(
                    "GLOB",
                    "only events whose name matches (* ? [...]); without it the recent ones",
                    optional=True,
                ),
                BuiltinArgument(
                    "k=v",
                    "only events whose data has k=v (dotted keys reach nested members)",
                    optional=True,
                ),
                BuiltinArgument(
                    "mute|unmute NAME",
                    "stop or go back to showing events NAME (globs) at the prompt; "
                    "they are still logged",
                    optional=True,
                ),
            ),
            argument="event-log",
            handler="events",
            secret=False,
        ),
        BuiltinSpec(
            name="wait",
            usage="/wait EVENT [timeout=S] [k=v]",
            summary="wait for an event (or take one that already came)",
            arguments=(
                BuiltinArgument(
                    "EVENT",
                    "the event's name, or a glob (* ? [...]); one that came after the "
                    "event the previous matching /wait took counts",
                    optional=False,
                ),
                BuiltinArgument(
                    "timeout=S",
                    "give up after S seconds (exit status 1 in a script); without it, "
                    "wait until the event comes or QEMU goes away",
                    optional=True,
                ),
                BuiltinArgument(
                    "k=v",
                    "only an event whose data has k=v (dotted keys reach nested members)",
                    optional=True,
                ),
            ),
            argument="event",
            handler="wait",
            secret=False,
        ),
        BuiltinSpec(
            name="jobs",
            usage="/jobs",
            summary="follow running jobs and the migration to their end, then how each ended",
            argument="none",
            handler="jobs",
            secret=False,
        ),
        BuiltinSpec(
            name="watch",
            uses_schema=True,
            prompt_only=True,
            usage="/watch CMD [interval=S]",
            summary="re-run a query and redraw it in place, changes highlighted, until Ctrl-C",
            arguments=(
                BuiltinArgument(
                    "CMD",
                    "a QMP command and its k=v, run again and again (query-migrate, "
                    "query-block-jobs); at the prompt only",
                ),
                BuiltinArgument(
                    "interval=S",
                    "seconds between runs (default 2, at least 0.1); /watch's own, not CMD's",
                    optional=True,
                ),
            ),
            argument="command",
            handler="watch",
            secret=True,
        ),
        BuiltinSpec(
            name="fd",
            uses_schema=True,
            usage="/fd PATH CMD ...",
            summary="pass an open file to QEMU with CMD (getfd, add-fd)",
            arguments=(
                BuiltinArgument(
                    "PATH",
                    "a file on this machine, opened read-write (read-only if it must be)",
                ),
                BuiltinArgument(
                    "CMD ...",
                    "the QMP command that takes the file: getfd fdname=NAME, or add-fd fdset-id=N",
                ),
            ),
            argument="path-command",
            handler="fd",
            secret=True,
        ),
        BuiltinSpec(
            name="exit",
            usage="/exit",
            summary="leave the shell (Ctrl-D too); 'quit' stops QEMU",
            argument="none",
            handler="exit",
            secret=False,
        ),
    )
}

#: The '!' prefix is syntax, not a built-in, but ``/help`` lists it with them.
BYPASS_USAGE = "!CMD ..."
BYPASS_SUMMARY = "send CMD (or raw JSON) as typed, without schema checks"


def _help_line(usage: str, description: str) -> str:
    return f"{usage:<{_USAGE_WIDTH}}  {description}"


def help_rows() -> tuple[tuple[str, str], ...]:
    """(usage, description) of every built-in, then of the '!' prefix: ``/help``'s list."""
    rows = tuple((spec.usage, spec.description) for spec in BUILTINS.values())
    return (*rows, (BYPASS_USAGE, BYPASS_SUMMARY))


def help_lines() -> tuple[str, ...]:
    """``/help``'s list of built-ins, the '!' prefix last."""
    return tuple(_help_line(usage, description) for usage, description in help_rows())


def command_start(spec: BuiltinSpec, argument: str) -> int | None:
    """Where the QMP command in ``argument`` begins (``/fd``'s after PATH), or None."""
    words = _COMMAND_AFTER.get(spec.argument)
    if words is None:
        return None
    start = 0
    for _ in range(words):
        space = argument.find(" ", start)
        if space < 0:
            return None
        start = space + 1
    return start if argument[start:].strip() else None
