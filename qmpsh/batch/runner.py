"""Scripts and one-shot commands: run lines in order, stop at the first failure.

The exit status is the contract automation relies on (DESIGN.md section 1):
0 when every command succeeded, 1 when one failed or a line did not parse.
Losing the connection raises ``ConnectionLost`` to ``cli`` (exit 4), also
while the script is waiting for its next line (a slow pipe), unless the
script itself told QEMU to ``quit``.

Consecutive ``query-*`` commands whose lines are already read are sent ahead
of their replies (pipelined): QEMU still runs them one by one, in order, and
their replies are printed in order; only the last of such a run is sent after
the reply before it, as in lock-step, so ``/wait`` after it means what it
always did. If one fails, the script stops there as it would have; queries
already sent behind it were harmless (they change nothing) and their replies
are dropped. Output that shows the traffic itself (``--json``, ``-v``) runs in
lock-step, so it too is the same as without sending ahead; a transcript
(``-l``) records the socket, so it shows queries sent ahead as they were sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

from qmpsh.batch.ahead import WINDOW, is_quit, may_go_ahead, next_query, shows_traffic
from qmpsh.batch.blocking_lines import Inputs
from qmpsh.batch.lines import IteratedLines, Line, Lines
from qmpsh.errors import ExitStatus, InputError
from qmpsh.language.syntax import Parsed, QmpCall, RawJson
from qmpsh.session.outcomes import Exit, Outcome, Reply, Waited, succeeded
from qmpsh.session.session import Session


class Output(Protocol):
    def outcome(self, outcome: Outcome) -> None: ...

    def problem(self, text: str) -> None: ...

    def event(self, msg: Mapping[str, object]) -> None: ...


class InOrder:
    """Prints events (``--events``) and results in the order they crossed the socket.

    Between commands an event prints at once; while a command runs, events wait
    and print around its reply by their numbers: before it if they came first.
    While later replies are still due (``ahead``), events after a reply wait for
    the reply they precede.
    """

    def __init__(self, session: Session, output: Output) -> None:
        self.session = session
        self.output = output
        self.busy = False
        self.ahead = False
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
        if self._held:
            self._release(lambda seq: seq < before)
        self.output.outcome(outcome)
        if self._held and not self.ahead:
            self.flush()

    def problem(self, text: str) -> None:
        self.flush()
        self.output.problem(text)

    def flush(self) -> None:
        """Print every event held back."""
        self._release(lambda seq: True)

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
    lines: AsyncIterator[Line],
    output: Output,
    *,
    keep_going: bool = False,
    label: str = "line",
    send_ahead: bool = True,
) -> ExitStatus:
    """Run numbered lines; a ``transaction(`` may span lines up to its ``)``.

    ``lines`` is best a ``Lines`` (``read_lines``, ``numbered``), which this closes
    when done. ``send_ahead=False`` runs every command in lock-step (see above).
    """
    source = lines if isinstance(lines, Lines) else IteratedLines(lines)
    ahead = send_ahead and not shows_traffic(output)
    failed = False
    inputs = Inputs()
    closed = asyncio.ensure_future(session.transport.wait_closed())
    ordered = InOrder(session, output)
    session.on_event = ordered.event
    quitting = False
    try:
        while (got := await source.next(None if quitting else closed)) is not None:
            text = inputs.add(got, hmp_mode=session.hmp_mode)
            if text is None:
                continue
            where = f"{label} {inputs.first}"
            ordered.busy = True
            try:
                item = session.parse(text)
            except InputError as err:
                ordered.problem(f"{where}: {err}")
                ok, leave, quits = False, False, False
            else:
                query = _query(session, where, item) if ahead else None
                if query is None:
                    ok, leave, quits = await _run_one(session, item, ordered, where)
                else:
                    ok, leave = await _run_queries(
                        session, source, ordered, query, label=label, keep_going=keep_going
                    )
                    quits = False
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
        source.close()
    if (unfinished := inputs.unfinished(label)) is not None:
        output.problem(unfinished)
        failed = True
    return ExitStatus.FAILED if failed else ExitStatus.OK


async def _run_one(
    session: Session, item: Parsed | None, output: Output, where: str
) -> tuple[bool, bool, bool]:
    """Run one parsed input; return (succeeded, wants to leave, told QEMU to quit)."""
    try:
        outcome = None if item is None else await session.run(item)
    except InputError as err:
        output.problem(f"{where}: {err}")
        return False, False, False
    if outcome is None:
        return True, False, False
    output.outcome(outcome)
    ok = succeeded(outcome)
    return ok, isinstance(outcome, Exit), ok and is_quit(item)


# -- sending queries ahead -------------------------------------------------------------


class _Query:
    """A ``query-*`` input that may be sent before the replies ahead of it have come.

    (A plain class: a dataclass would cost every script's start more than it saves.)
    """

    __slots__ = ("item", "where")

    def __init__(self, where: str, item: QmpCall | RawJson) -> None:
        self.where = where
        self.item = item


def _query(session: Session, where: str, item: Parsed | None) -> _Query | None:
    """``item`` as a query that may be sent ahead, or None."""
    schema_known = not session.use_schema or session.index is not None
    if not may_go_ahead(item, schema_known=schema_known):
        return None
    assert isinstance(item, (QmpCall, RawJson))
    return _Query(where, item)


def _next_query(session: Session, source: Lines, label: str) -> _Query | None:
    """The next line if it is already read and is a query (``ahead.next_query``)."""
    schema_known = not session.use_schema or session.index is not None
    found = next_query(source, hmp_mode=session.hmp_mode, schema_known=schema_known)
    return None if found is None else _Query(f"{label} {found[0]}", found[1])


async def _run_queries(
    session: Session,
    source: Lines,
    ordered: InOrder,
    query: _Query,
    *,
    label: str,
    keep_going: bool,
) -> tuple[bool, bool]:
    """Run ``query`` and the queries already read behind it; (all succeeded, leave).

    A query is sent ahead only once another is known to follow it: the last one
    is sent after every reply before it has come, as in lock-step. The first
    failure stops the rest, unless ``keep_going``.
    """
    due: deque[tuple[_Query, asyncio.Future[Outcome]]] = deque()
    all_ok = True
    try:
        while True:
            while len(due) < WINDOW and (following := _next_query(session, source, label)):
                sent: asyncio.Future[Outcome] = asyncio.ensure_future(session.run(query.item))
                sent.add_done_callback(_retrieved)
                due.append((query, sent))
                query = following
            if not due:
                break
            head, reply = due.popleft()
            ordered.ahead = bool(due)
            if not await _answer(head, reply, ordered):
                all_ok = False
                if not keep_going:
                    ordered.flush()
                    return False, False
        ordered.ahead = False
        ok, leave, _ = await _run_one(session, query.item, ordered, query.where)
        return all_ok and ok, leave
    finally:
        ordered.ahead = False
        for _, reply in due:  # after a failure their replies are not wanted
            reply.cancel()


async def _answer(query: _Query, reply: asyncio.Future[Outcome], output: Output) -> bool:
    """Print the reply to a query sent ahead; whether it succeeded."""
    try:
        outcome = await reply
    except InputError as err:
        output.problem(f"{query.where}: {err}")
        return False
    output.outcome(outcome)
    return succeeded(outcome)


def _retrieved(task: asyncio.Future[Outcome]) -> None:
    """A reply dropped after a failure may have failed too: that is no news."""
    if not task.cancelled():
        task.exception()
