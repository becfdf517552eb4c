"""The ``/`` built-ins: what qmpsh itself does, as opposed to what QEMU does.

Each takes the session and the parsed built-in and returns an outcome; none
prints. ``/wait`` is what makes scripts like ``block-commit ...`` /
``/wait BLOCK_JOB_READY`` / ``block-job-complete ...`` possible.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from qmpsh.errors import InputError
from qmpsh.language.builtin_registry import BUILTINS, command_start, help_lines
from qmpsh.language.helptext import (
    CommandHelp,
    HelpLine,
    builtin_help,
    describe,
    describe_from_manual,
    group_commands,
    unknown_topic,
)
from qmpsh.language.shorthand import documented_lines
from qmpsh.language.syntax import Builtin, HmpLine, QmpCall, parse
from qmpsh.language.validate import unknown
from qmpsh.session.events import Match, failure
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
    from qmpsh.language.progress import Shown
    from qmpsh.session.session import Session

#: How many events ``/events`` shows without a filter.
RECENT = 50
_NAME = re.compile(r"[A-Za-z_][\w-]*\Z")


async def run_builtin(session: Session, item: Builtin) -> Outcome:
    if item.spec.prompt_only and not session.at_prompt:
        raise InputError(f"/{item.name} works at the prompt only: it redraws until Ctrl-C")
    return await HANDLERS[item.spec.handler](session, item.argument)


async def _exit(session: Session, argument: str) -> Exit:
    return Exit()


async def _hmp(session: Session, argument: str) -> Notice:
    return _switch_mode(session, hmp=True)


async def _qmp(session: Session, argument: str) -> Notice:
    return _switch_mode(session, hmp=False)


def _switch_mode(session: Session, *, hmp: bool) -> Notice:
    session.hmp_mode = hmp
    return Notice(f"{session.mode} mode" + ("; /qmp goes back" if session.hmp_mode else ""))


async def _help(session: Session, argument: str) -> HelpList | CommandHelp:
    """``/help CMD [k=v ...]`` explains CMD (or an event), ``/help /NAME`` a built-in;
    any other word filters names, and one in no name is an error (exit 1 in a script)."""
    if argument.startswith("/"):
        return builtin_help(argument.split()[0])  # '/help /wait SHUT' is /wait's help
    await session.learn()
    index = session.index
    call = parse(argument) if argument else None  # k=v select union variants, as typed
    if isinstance(call, QmpCall):
        tree = _described(session, call)
        if tree is not None:
            return tree
    known = session.commands or tuple(index.commands if index else ())
    names = tuple(n for n in known if argument in n)
    if argument and not names and known:
        topic = call.command if isinstance(call, QmpCall) else argument
        raise InputError(unknown_topic(topic, index, known))
    groups = tuple((group, tuple(members)) for group, members in group_commands(names))
    return HelpList(help_lines(), groups, argument)


def _described(session: Session, call: QmpCall) -> CommandHelp | None:
    """The tree of a command or event, with the manual's words when it has them (from
    the manual alone without a schema: a guest agent's), and once a note on them."""
    index, manual = session.index, session.manual()
    if index is not None:
        tree = describe(index, call.command, call.arguments, manual)
    else:
        tree = describe_from_manual(manual, call.command) if manual is not None else None
    if tree is None:
        return None
    said = session.manual_note()
    return tree if said is None else replace(tree, lines=(*tree.lines, HelpLine(0, "", text=said)))


async def _example(session: Session, argument: str) -> Examples:
    """``/example CMD [N]``: the manual's requests for CMD as lines to type; the Nth
    (the first) is the one the prompt puts on the line."""
    name, _, number = argument.partition(" ")
    if not name or not _NAME.match(name) or (number and not number.strip().isdigit()):
        raise InputError("/example takes a command and a number: /example blockdev-add 2")
    await session.learn()
    index, manual = session.index, session.manual()
    said = session.manual_note()
    known = tuple(index.commands) if index is not None else session.commands
    doc = manual.get(name) if manual is not None else None
    if doc is None and known and name not in known:
        raise InputError(unknown("command", name, known))
    lines = documented_lines(doc, index) if doc is not None else []
    if manual is None:
        raise InputError(f"/example {name}: {said or 'no reference manual'}")
    if not lines:
        raise InputError(f"/example {name}: its reference manual shows no example request")
    chosen = int(number or 1)
    if not 1 <= chosen <= len(lines):
        raise InputError(f"{name} has {len(lines)} documented example(s), not {chosen}")
    rows: list[HelpLine] = []
    for n, (title, line) in enumerate(lines, 1):
        rows += [HelpLine(1, f"# {title}")] if title else []
        rows.append(HelpLine(1, f"{n}  {line}"))
    rows += [HelpLine(0, "", text=said)] if said else []
    title = f"{name}: {len(lines)} documented example(s)"
    return Examples(CommandHelp(title, tuple(rows)), lines[chosen - 1][1])


def _match(argument: str, what: str) -> tuple[Match, dict[str, object]]:
    """``GLOB k=v ...`` -> a Match and qmpsh's own options (timeout=) taken out."""
    call = parse(argument) if argument else None
    if not isinstance(call, QmpCall):
        raise InputError(f"{what} takes EVENT [k=v ...]")
    options = {arg.key: arg.value for arg in call.args if arg.key == "timeout"}
    conditions = tuple(arg for arg in call.args if arg.key != "timeout")
    return Match(call.command, conditions), options


async def _events(session: Session, argument: str) -> Outcome:
    verb, _, rest = argument.partition(" ")
    if verb in ("mute", "unmute"):
        names = rest.split()
        if not names:
            raise InputError(f"/events {verb} takes event names (globs)")
        if verb == "mute":
            session.muted.update(names)
        else:
            session.muted.difference_update(names)
        shown = ", ".join(sorted(session.muted)) or "none"
        return Notice(f"muted at the prompt (still logged): {shown}")
    if not argument:
        return EventList(tuple(list(session.events)[-RECENT:]))
    match, _ = _match(argument, "/events")
    return EventList(tuple(session.events.select(match)))


async def _wait(session: Session, argument: str) -> Waited:
    """Block until a matching event, counting those no /wait has taken yet."""
    match, options = _match(argument, "/wait")
    timeout = options.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise InputError("/wait timeout= takes seconds")
    seconds = None if timeout is None else float(timeout)
    # QEMU going away ends the wait (ConnectionLost: exit 4), even without a timeout.
    found = await session.next_event(match, seconds)
    return Waited(found, argument, seconds, None if found is None else failure(found, match))


async def _jobs(session: Session, argument: str) -> JobsEnded | Notice:
    """Poll until no job or migration runs (the progress shown as it goes), then say how
    each ended: those followed, and those whose end the events since the previous
    ``/jobs`` tell (a job that failed at once is gone before anyone could list it)."""
    if argument.strip():
        raise InputError("/jobs takes no arguments")
    from qmpsh.language.progress import ended, migration_running
    from qmpsh.session.progress import Poller

    poller = Poller(session.ask, session.on_progress or _unseen)
    watched: dict[str, Mapping[str, object]] = {}
    migrated = False
    try:
        while True:
            await poller.poll_if_due()
            latest = poller.latest
            if latest is not None:
                watched.update((str(job.get("id")), job) for job in latest.jobs)
                migrated = migrated or migration_running(latest.migration)
            if poller.idle:
                break
            await session.transport.wait(timeout=poller.bounded(None))
    finally:
        poller.close()
    since = [logged.message for logged in session.events.select(Match(), session.jobs_reported)]
    session.jobs_reported = session.received
    ends = ended(watched, poller.latest, since, migrated)
    return JobsEnded(ends) if ends else Notice("no jobs, no migration")


def _unseen(lines: tuple[Shown, ...]) -> None:
    """Nobody shows progress (a script into a pipe): ``/jobs`` polls all the same."""


async def _watch(session: Session, argument: str) -> Outcome:
    """Run a query every ``interval=`` seconds and redraw its reply in place, what changed
    since the run before marked, until Ctrl-C cancels it (it never returns by itself)."""
    from qmpsh.language import watch

    call = parse(argument) if argument else None
    if not isinstance(call, QmpCall):
        raise InputError("/watch takes a QMP command, e.g. /watch query-migrate interval=1")
    given = [arg.value for arg in call.args if arg.key == "interval"]
    try:
        every = watch.interval(given[-1]) if given else watch.DEFAULT_INTERVAL
    except ValueError as err:
        raise InputError(f"/watch {err}") from None
    item = replace(call, args=tuple(arg for arg in call.args if arg.key != "interval"))
    message = await session.checked_message(item)
    before: tuple[str, ...] | None = None
    show = session.on_progress or _unseen
    while True:  # quiet: the traffic shown (-v, --json) is not flooded with the re-runs
        answer = await session.transport.execute(
            dict(message), quiet=True, timeout=session.reply_timeout
        )
        reply = Reply(item.command, answer)
        now = watch.reply_lines(reply.value) if reply.ok else watch.reply_lines(error=reply.error)
        heading = f"every {every:g} s: {argument}  ({time.strftime('%H:%M:%S')})"
        show(watch.screen(heading, before, now))
        before = now
        deadline = time.monotonic() + every
        while (left := deadline - time.monotonic()) > 0:
            await session.transport.wait(timeout=left)  # events go on arriving meanwhile


async def _fd(session: Session, argument: str) -> Reply:
    """``/fd PATH CMD ...``: open PATH here and pass it to QEMU with CMD (getfd, add-fd)."""
    start = command_start(BUILTINS["fd"], argument)  # where the registry says PATH ends
    path = argument[: start - 1] if start else ""
    item = session.parse(argument[start:]) if start else None
    if not path or item is None or isinstance(item, (Builtin, HmpLine)):
        raise InputError("/fd takes PATH and a QMP command, e.g. /fd /tmp/x getfd fdname=f0")
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise InputError(f"{path}: {err.strerror or err}") from None
    try:
        message = await session.checked_message(item)
        return await session.send(item.command, message, fd=fd)
    finally:
        os.close(fd)


#: Each built-in's handler, by the name the registry gives it (``BuiltinSpec.handler``).
HANDLERS: dict[str, Callable[[Session, str], Awaitable[Outcome]]] = {
    "help": _help,
    "example": _example,
    "hmp": _hmp,
    "qmp": _qmp,
    "events": _events,
    "wait": _wait,
    "jobs": _jobs,
    "watch": _watch,
    "fd": _fd,
    "exit": _exit,
}


def muted(session: Session, name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for glob in session.muted)
