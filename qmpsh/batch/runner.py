"""The one script runner: scripts and one-shot commands, run in order, stopping at the
first failure.

The exit status is the contract automation relies on (docs/architecture.md):
0 when every command succeeded, 1 when one failed or a line did not parse.
Losing the connection raises ``ConnectionLost`` to ``cli`` (exit 4), also while
the script is waiting for its next line (a slow pipe), unless the script itself
told QEMU to ``quit``. The same coroutine runs over the blocking transport
without an event loop and over qemu.qmp or libvirt under asyncio.

Consecutive ``query-*`` commands whose lines are already read are sent ahead
of their replies (pipelined, ``ahead``): QEMU still runs them one by one, in
order, and their replies are printed in order; only the last of such a run is
sent after the reply before it, as in lock-step, so ``/wait`` after it means
what it always did. If one fails, the script stops there as it would have;
queries already sent behind it were harmless (they change nothing) and their
replies are dropped. Output that shows the traffic itself (``--json``, ``-v``)
runs in lock-step, so it too is the same as without sending ahead; a transcript
(``-l``) records the socket, so it shows queries sent ahead as they were sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

from qmpsh.batch.ahead import WINDOW, is_quit, may_go_ahead, next_query
from qmpsh.batch.lines import Inputs, ScriptLines
from qmpsh.errors import ExitStatus, InputError
from qmpsh.language.syntax import Parsed, QmpCall, RawJson
from qmpsh.render.output import Output
from qmpsh.session.dispatch import run
from qmpsh.session.outcomes import Exit, Outcome, Reply, Waited, succeeded
from qmpsh.session.session import Session


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

    def outcome(self, outcome: Outcome, where: str) -> None:
        before = 0
        if isinstance(outcome, Reply):
            before = outcome.seq
        elif isinstance(outcome, Waited) and outcome.event is not None:
            before = outcome.event.seq + 1  # /wait prints its event after the event itself
        if self._held:
            self._release(lambda seq: seq < before)
        self.output.outcome(outcome, where)
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
    lines: ScriptLines,
    output: Output,
    *,
    keep_going: bool = False,
    label: str = "line",
) -> ExitStatus:
    """Run numbered lines; a ``transaction(`` may span lines up to its ``)``."""
    script = _Script(session, lines, output, keep_going=keep_going, label=label)
    session.on_event = script.ordered.event
    session.on_progress = output.progress if output.shows_progress else None
    try:
        return await script.run()
    finally:
        session.on_event = session.on_progress = None
        lines.close()


class _Script:
    def __init__(
        self, session: Session, lines: ScriptLines, output: Output, *, keep_going: bool, label: str
    ) -> None:
        self.session, self.lines, self.output = session, lines, output
        self.keep_going, self.label = keep_going, label
        self.ordered = InOrder(session, output)
        self.ahead = not output.shows_traffic  # the traffic shown is lock-step's
        self.quitting = False  # the script told QEMU to quit: its going away is expected

    async def run(self) -> ExitStatus:
        failed = False
        inputs = Inputs()
        session = self.session
        while (got := await self._next_line()) is not None:
            text = inputs.add(got, hmp_mode=session.hmp_mode)
            if text is None:
                continue
            where = f"{self.label} {inputs.first}"
            self.ordered.busy = True
            try:
                item = session.parse(text)
            except InputError as err:
                self.ordered.problem(f"{where}: {err}")
                ok, leave = False, False
            else:
                if self.ahead and may_go_ahead(item, schema_known=self._schema_known()):
                    assert isinstance(item, (QmpCall, RawJson))
                    ok, leave = await self._queries(where, item)
                else:
                    ok, leave = await self._one(where, item)
            self.ordered.busy = False
            if not ok:
                failed = True
                if not self.keep_going:
                    return ExitStatus.FAILED
            if leave:
                break
        if (unfinished := inputs.unfinished(self.label)) is not None:
            self.output.problem(unfinished)
            failed = True
        return ExitStatus.FAILED if failed else ExitStatus.OK

    async def _next_line(self) -> tuple[int, str] | None:
        return await self.lines.next(None if self.quitting else self.session.transport)

    def _schema_known(self) -> bool:
        return not self.session.use_schema or self.session.index is not None

    async def _one(self, where: str, item: Parsed | None) -> tuple[bool, bool]:
        """Run one parsed input; (succeeded, wants to leave)."""
        try:
            outcome = None if item is None else await run(self.session, item)
        except InputError as err:
            self.ordered.problem(f"{where}: {err}")
            return False, False
        if outcome is None:
            return True, False
        self.ordered.outcome(outcome, where)
        ok = succeeded(outcome)
        if ok and is_quit(item):
            self.quitting = True
        return ok, isinstance(outcome, Exit)

    async def _queries(self, where: str, item: QmpCall | RawJson) -> tuple[bool, bool]:
        """Run the query ``item`` and the queries already read behind it; (all succeeded,
        leave). A query is sent ahead only once another is known to follow it; the
        first failure stops the rest, unless ``keep_going``."""
        session, ordered = self.session, self.ordered
        due: deque[tuple[str, QmpCall | RawJson, object]] = deque()
        all_ok = True
        try:
            while True:
                if len(due) <= WINDOW // 2:  # refill in batches: one write for many queries
                    while len(due) < WINDOW and (following := self._next_query()) is not None:
                        due.append((where, item, await self._submit(item)))
                        where, item = following
                if not due:
                    break
                head_where, head, ticket = due.popleft()
                ordered.ahead = bool(due)
                if not await self._answer(head_where, head, ticket):
                    all_ok = False
                    if not self.keep_going:
                        ordered.flush()
                        return False, False
            ordered.ahead = False
            ok, leave = await self._one(where, item)
            return all_ok and ok, leave
        finally:
            ordered.ahead = False
            for _, _, ticket in due:  # after a failure their replies are not wanted
                if not isinstance(ticket, InputError):
                    session.transport.drop(ticket)

    async def _submit(self, item: QmpCall | RawJson) -> object | InputError:
        """Send ``item`` ahead; why it could not be, to be reported in its turn."""
        try:
            return await self.session.submit(item)
        except InputError as err:
            return err

    async def _answer(self, where: str, item: QmpCall | RawJson, ticket: object) -> bool:
        """Print the reply to a query sent ahead; whether it succeeded. The session may
        ask which name was meant (``Session.explained``) while later replies are due:
        the transport keeps those for their turn."""
        try:
            if isinstance(ticket, InputError):
                raise ticket
            outcome = await self.session.result(item.command, ticket)
        except InputError as err:
            self.ordered.problem(f"{where}: {err}")
            return False
        if outcome.not_found and item.checked:
            outcome = await self.session.explained(outcome)
        self.ordered.outcome(outcome, where)
        return succeeded(outcome)

    def _next_query(self) -> tuple[str, QmpCall | RawJson] | None:
        """The next line if it is already read and is a query (``ahead.next_query``)."""
        session = self.session
        found = next_query(self.lines, hmp_mode=session.hmp_mode, schema_known=self._schema_known())
        return None if found is None else (f"{self.label} {found[0]}", found[1])
