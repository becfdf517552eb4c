"""Many targets at once (``--all``): every command on every target, concurrently.

No UI here. Targets connect concurrently; one that cannot is reported and left
out while the others run. Each input is parsed once and run on every target
still in the game at the same time; its results are handed over together, in
the order the targets were given, so the output reads the same every run. A
target whose command fails stops there (unless ``--keep-going``), one that is
lost stops for good; the exit status is the worst any target had (0 < 1 < 3 < 4).
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qmpsh.batch.lines import Inputs, ScriptLines
from qmpsh.errors import ConnectionLost, ExitStatus, InputError, QmpshError
from qmpsh.language.syntax import Parsed
from qmpsh.session.dispatch import run
from qmpsh.session.outcomes import Exit, Outcome, succeeded
from qmpsh.session.session import Session
from qmpsh.transport.loop_waits import FileWaiter
from qmpsh.transport.targets import tag

#: Connects one target (a socket path, HOST:PORT, URI/DOMAIN) into a session.
Opener = Callable[[str], Awaitable[Session]]

_GLOB = frozenset("*?[")


@dataclass
class Member:
    """One target of the fleet: its name in the output and how far it got."""

    name: str
    target: str
    session: Session | None = None
    status: ExitStatus = ExitStatus.OK
    #: Why it stopped: it could not connect, was lost, or failed a command.
    stopped: str = ""

    @property
    def active(self) -> bool:
        return self.session is not None and not self.stopped


@dataclass(frozen=True)
class Result:
    """What one target made of one input: an outcome, or a one-line problem."""

    member: str
    outcome: Outcome | None = None
    problem: str = ""


class FleetOutput(Protocol):
    def results(self, results: Sequence[Result]) -> None: ...

    def problem(self, text: str) -> None: ...

    def event(self, member: str, msg: Mapping[str, object]) -> None: ...


@dataclass
class Fleet:
    members: list[Member]
    output: FleetOutput
    keep_going: bool = False
    _events: bool = field(default=False, repr=False)

    async def connect(self, opener: Opener, *, events: bool = False) -> None:
        """Connect every member at once; report those that cannot."""
        self._events = events
        await asyncio.gather(*(self._open(member, opener) for member in self.members))
        for member in self.members:
            if member.stopped:  # could not connect, or the target was not understood
                self.output.problem(f"qmpsh: {member.stopped}")

    async def _open(self, member: Member, opener: Opener) -> None:
        if member.stopped:  # a pattern that matched nothing
            return
        try:
            member.session = await opener(member.target)
        except QmpshError as err:
            member.status, member.stopped = err.status, str(err)
            return
        if self._events:
            member.session.on_event = lambda msg: self.output.event(member.name, msg)

    async def run(self, lines: ScriptLines, label: str = "line") -> ExitStatus:
        """Run numbered lines on every active member; a ``transaction(`` may span lines."""
        inputs = Inputs()
        waiter = FileWaiter()
        try:
            while any(m.active for m in self.members) and (got := await lines.next(waiter)):
                text = inputs.add(got, hmp_mode=self._hmp_mode())
                if text is not None and not await self._run_text(text, f"{label} {inputs.first}"):
                    break
        finally:
            lines.close()
        if (unfinished := inputs.unfinished(label)) is not None:
            self.output.problem(unfinished)
            self._fail_all()
        return self.status

    @property
    def status(self) -> ExitStatus:
        return max((m.status for m in self.members), default=ExitStatus.OK)

    def _hmp_mode(self) -> bool:
        return any(m.session.hmp_mode for m in self.members if m.session and m.active)

    def _fail_all(self) -> None:
        for member in self.members:
            if member.active:
                member.status = max(member.status, ExitStatus.FAILED)

    async def _run_text(self, text: str, where: str) -> bool:
        """Run one input everywhere; False when the fleet should stop reading."""
        active = [m for m in self.members if m.active]
        try:  # the same text parses the same for every member (modes move together)
            item = active[0].session.parse(text) if active[0].session else None
        except InputError as err:
            self.output.problem(f"{where}: {err}")
            self._fail_all()
            return self.keep_going
        if item is None:
            return True
        results = await asyncio.gather(*(self._run_one(m, item) for m in active))
        self.output.results(results)
        leave = any(isinstance(r.outcome, Exit) for r in results)
        return not leave and any(m.active for m in self.members)

    async def _run_one(self, member: Member, item: Parsed) -> Result:
        assert member.session is not None
        try:
            outcome = await run(member.session, item)
        except ConnectionLost as err:
            member.status, member.stopped = ExitStatus.LOST, str(err)
            return Result(member.name, problem=str(err))
        except InputError as err:  # the schema check: targets may run different QEMUs
            self._failed(member, str(err))
            return Result(member.name, problem=str(err))
        if not succeeded(outcome):
            self._failed(member, "a command failed")
        return Result(member.name, outcome)

    def _failed(self, member: Member, why: str) -> None:
        member.status = max(member.status, ExitStatus.FAILED)
        if not self.keep_going:
            member.stopped = why

    async def close(self) -> None:
        await asyncio.gather(
            *(m.session.transport.close() for m in self.members if m.session is not None)
        )


def expand(
    items: Sequence[str],
    aliases: Mapping[str, str],
    *,
    domains: Callable[[str], list[str]] | None = None,
) -> list[Member]:
    """Targets as given: aliases resolved, socket globs expanded (sorted), names made short.

    ``domains`` turns a libvirt domain pattern into targets (``--libvirt 'web-*'``);
    without it, every item is a socket, HOST:PORT, URI/DOMAIN or an alias.
    A glob that matches nothing stays as a member that failed to connect.
    """
    members: list[Member] = []
    for item in items:
        if item in aliases:
            members.append(Member(item, aliases[item]))
        elif domains is not None:
            found = domains(item)
            members += [Member(tag(t), t) for t in found] or [_nothing(item)]
        elif _GLOB & set(item) and "://" not in item:
            found = sorted(glob.glob(item))
            members += [Member(path, path) for path in found] or [_nothing(item)]
        else:
            members.append(Member(tag(item), item))
    unique: dict[str, Member] = {}
    for member in members:  # the same socket twice would be a busy monitor the second time
        unique.setdefault(member.target, member)
    members = list(unique.values())
    _shorten(members)
    names = [m.name for m in members]
    for member in members:  # two domains of one name at two URIs: their full targets
        if names.count(member.name) > 1 and member.name != member.target:
            member.name = member.target
    return members


def _nothing(pattern: str) -> Member:
    return Member(
        pattern, pattern, status=ExitStatus.CONNECT, stopped=f"{pattern}: matches no target"
    )


def _shorten(members: list[Member]) -> None:
    """Socket paths by their file name without extension, when those are unique."""
    paths = [m for m in members if m.name == m.target and m.target.startswith("/")]
    stems = [os.path.splitext(os.path.basename(m.target))[0] for m in paths]
    others = {m.name for m in members if m not in paths}
    if len(set(stems)) == len(stems) and all(stems) and not others & set(stems):
        for member, stem in zip(paths, stems, strict=True):
            member.name = stem
