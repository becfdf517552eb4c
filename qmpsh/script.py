"""Scripts and one-shot commands: run lines in order, stop at the first failure.

The exit status is the contract automation relies on (DESIGN.md section 1):
0 when every command succeeded, 1 when one failed or a line did not parse.
Losing the connection raises ``ConnectionLost`` to ``cli`` (exit 4), also
while the script is waiting for its next line (a slow pipe), unless the
script itself told QEMU to ``quit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol

from qmpsh.errors import ConnectionLost, ExitStatus, InputError
from qmpsh.outcomes import Exit, Outcome, Reply, Waited, succeeded
from qmpsh.session import Session
from qmpsh.syntax import HmpLine, Parsed, QmpCall, RawJson, is_incomplete


class Output(Protocol):
    def outcome(self, outcome: Outcome) -> None: ...

    def problem(self, text: str) -> None: ...

    def event(self, msg: Mapping[str, object]) -> None: ...


class InOrder:
    """Prints events (``--events``) and results in the order they crossed the socket.

    Between commands an event prints at once; while a command runs, events wait
    and print around its reply by their numbers: before it if they came first.
    """

    def __init__(self, session: Session, output: Output) -> None:
        self.session = session
        self.output = output
        self.busy = False
        self._held: list[tuple[int, Mapping[str, object]]] = []

    def event(self, msg: Mapping[str, object]) -> None:
        if self.busy:
            self._held.append((self.session.received, msg))
        else:
            self.output.event(msg)

    def outcome(self, outcome: Outcome) -> None:
        before = 0
        if isinstance(outcome, Reply):
            before = outcome.seq
        elif isinstance(outcome, Waited) and outcome.event is not None:
            before = outcome.event.seq + 1  # /wait prints its event after the event itself
        self._release(lambda seq: seq < before)
        self.output.outcome(outcome)
        self._release(lambda seq: True)

    def problem(self, text: str) -> None:
        self._release(lambda seq: True)
        self.output.problem(text)

    def _release(self, which: Callable[[int], bool]) -> None:
        keep = []
        for seq, msg in self._held:
            if which(seq):
                self.output.event(msg)
            else:
                keep.append((seq, msg))
        self._held = keep


async def run_script(
    session: Session,
    lines: AsyncIterator[tuple[int, str]],
    output: Output,
    *,
    keep_going: bool = False,
    label: str = "line",
) -> ExitStatus:
    """Run numbered lines; a ``transaction(`` may span lines up to its ``)``."""
    failed = False
    pending: list[str] = []
    first = 0
    closed = asyncio.ensure_future(session.transport.wait_closed())
    ordered = InOrder(session, output)
    session.on_event = ordered.event
    quitting = False
    try:
        while (got := await _next_line(lines, None if quitting else closed)) is not None:
            number, line = got
            if not pending:
                first = number
            pending.append(line)
            text = "\n".join(pending)
            if is_incomplete(text, multiline_json=False, hmp_mode=session.hmp_mode):
                continue
            pending = []
            ordered.busy = True
            ok, leave, quits = await _run_one(session, text, ordered, f"{label} {first}")
            ordered.busy = False
            quitting = quitting or quits
            if not ok:
                failed = True
                if not keep_going:
                    return ExitStatus.FAILED
            if leave:
                break
    finally:
        closed.cancel()
        session.on_event = None
    if pending:
        output.problem(f"{label} {first}: transaction( is missing its closing ')'")
        failed = True
    return ExitStatus.FAILED if failed else ExitStatus.OK


async def _next_line(
    lines: AsyncIterator[tuple[int, str]], closed: asyncio.Future[str] | None
) -> tuple[int, str] | None:
    """The next line (``None`` at the end), or ``ConnectionLost`` if QEMU goes away first."""
    if closed is None:
        return await anext(lines, None)
    reading = asyncio.ensure_future(anext(lines, None))
    either: list[asyncio.Future[Any]] = [reading, closed]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if reading.done():
        return reading.result()
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    raise ConnectionLost(closed.result())


async def _run_one(
    session: Session, text: str, output: Output, where: str
) -> tuple[bool, bool, bool]:
    """Run one input; return (succeeded, wants to leave, told QEMU to quit)."""
    try:
        item = session.parse(text)
        outcome = None if item is None else await session.run(item)
    except InputError as err:
        output.problem(f"{where}: {err}")
        return False, False, False
    if outcome is None:
        return True, False, False
    output.outcome(outcome)
    ok = succeeded(outcome)
    return ok, isinstance(outcome, Exit), ok and _is_quit(item)


def _is_quit(item: Parsed | None) -> bool:
    """QMP ``quit`` or HMP ``quit`` / ``q``: QEMU closing the socket next is expected."""
    if isinstance(item, HmpLine):
        return item.command_line.split()[0] in ("quit", "q")
    return isinstance(item, (QmpCall, RawJson)) and item.command == "quit"


async def numbered(commands: Iterable[str]) -> AsyncIterator[tuple[int, str]]:
    """``-c`` commands, numbered from 1."""
    for number, command in enumerate(commands, 1):
        yield number, command


async def read_lines(fd: int) -> AsyncIterator[tuple[int, str]]:
    """Lines of a script as they arrive, without blocking the event loop on a pipe.

    A regular file never blocks, so it is read directly; a pipe or terminal is
    read through asyncio so replies and events keep flowing while the writer
    thinks. Undecodable bytes become lone surrogates, which the parser rejects
    line by line instead of the whole script dying on a UnicodeDecodeError.
    """
    if stat.S_ISREG(os.fstat(fd).st_mode):
        number = 0
        with open(fd, "rb", closefd=False) as raw:
            for number, data in enumerate(raw, 1):
                yield number, _decode(data)
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    was_blocking = os.get_blocking(fd)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader),
        open(fd, "rb", closefd=False),  # noqa: SIM115
    )
    try:
        number = 0
        while data := await reader.readline():
            number += 1
            yield number, _decode(data)
    finally:
        transport.close()
        os.set_blocking(fd, was_blocking)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape").rstrip("\r\n")
