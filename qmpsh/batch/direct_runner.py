"""Plain scripts without asyncio: the same output and exit codes as ``script``, sooner.

A script whose lines are commands (QMP shorthand, JSON, HMP lines,
transactions) runs here from start to end over ``direct``, a blocking socket:
no asyncio, no qemu.qmp, no task per line, which halves the start-up of
``echo query-status | qmpsh SOCK`` (benchmarks/README.md, P1). The first line
that needs more, a built-in such as ``/wait``, ``/fd`` or ``/hmp``, ends this
run with a ``Handover``: the socket, the lines not yet run and what was learned
(schema, the event log and numbering) go to ``script.run_script`` on asyncio,
which carries on as if it had run the script from the start.

Lines, replies and events follow ``script``'s rules (its docstring): stop at
the first failure, queries sent ahead (``ahead``) unless the traffic itself is
shown, events in socket order, a QEMU that goes away while the script's writer
thinks is noticed at once (exit 4) unless the script told it to ``quit``.
"""

from __future__ import annotations

import select
from collections import deque
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

from qmpsh.batch.ahead import WINDOW, is_quit, may_go_ahead, next_query, shows_traffic
from qmpsh.batch.blocking_lines import BlockingLines, Inputs
from qmpsh.errors import ExitStatus, InputError
from qmpsh.language.syntax import Builtin, HmpLine, QmpCall, RawJson, Transaction
from qmpsh.language.syntax import parse as parse_line
from qmpsh.language.validate import checked, needs_schema
from qmpsh.session.events import EventLog
from qmpsh.session.outcomes import Outcome, Reply, succeeded
from qmpsh.transport.blocking import Direct, Message

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping

    from qmpsh.language.schema import SchemaIndex
    from qmpsh.render.transcript import Transcript


#: How long QEMU may take to close its socket after ``quit`` before a built-in runs.
_QUIT_GRACE = 5.0


class Output(Protocol):
    def outcome(self, outcome: Outcome) -> None: ...

    def problem(self, text: str) -> None: ...

    def event(self, msg: Mapping[str, object]) -> None: ...


@dataclass
class Handover:
    """Where a script run without asyncio stopped, for ``script.run_script`` to go on."""

    conn: Direct
    lines: BlockingLines
    #: The script file, kept open for the rest of the run (None: stdin or -c).
    source: IO[bytes] | None
    #: ``-l``: it goes on recording the same socket.
    transcript: Transcript | None
    hmp_mode: bool
    index: SchemaIndex | None
    events: EventLog
    received: int
    mark: int
    failed: bool


class _Due:
    """A query sent ahead: where it came from and the id of its reply (or why it was
    not sent: reported in its turn, as if it had run then)."""

    __slots__ = ("command", "msg_id", "problem", "where")

    def __init__(self, where: str, command: str, msg_id: str, problem: str = "") -> None:
        self.where, self.command, self.msg_id, self.problem = where, command, msg_id, problem


class DirectScript:
    """Runs numbered lines over one ``Direct`` connection (see the module docstring)."""

    def __init__(
        self,
        conn: Direct,
        lines: BlockingLines,
        output: Output,
        *,
        hmp_mode: bool = False,
        keep_going: bool = False,
        label: str = "line",
        reply_timeout: float | None = None,
    ) -> None:
        self.conn, self.lines, self.output = conn, lines, output
        self.hmp_mode, self.keep_going, self.label = hmp_mode, keep_going, label
        self.reply_timeout = reply_timeout
        self.ahead = not shows_traffic(output)
        self.events = EventLog()
        self.index: SchemaIndex | None = None
        self.received = 0  # messages received: the numbering of events and replies
        self.mark = 0  # received when the latest command began (for /wait after a hand-over)
        self.quitting = False
        self._fetched = False
        conn.observers.append(self._counted)
        conn.on_event = self._event

    def _counted(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction == "recv":
            self.received += 1

    def _event(self, msg: Message) -> None:
        self.events.add(self.received, msg)
        self.output.event(msg)

    def run(
        self, source: IO[bytes] | None = None, transcript: Transcript | None = None
    ) -> ExitStatus | Handover:
        """Run the lines; the exit status, or a ``Handover`` at the first built-in (with
        ``source`` and ``transcript``, which stay open for the rest of the run)."""
        failed = False
        inputs = Inputs()
        while (got := self._next_line()) is not None:
            text = inputs.add(got, hmp_mode=self.hmp_mode)
            if text is None:
                continue
            first = inputs.first
            where = f"{self.label} {first}"
            try:
                item = parse_line(text, hmp_mode=self.hmp_mode)
            except InputError as err:
                self.output.problem(f"{where}: {err}")
                ok = False
            else:
                if isinstance(item, Builtin):
                    self.lines.unread((first, text))
                    return self._handover(source, transcript, failed)
                ok = item is None or self._run(where, item)
            if not ok:
                failed = True
                if not self.keep_going:
                    return ExitStatus.FAILED
        if (unfinished := inputs.unfinished(self.label)) is not None:
            self.output.problem(unfinished)
            failed = True
        return ExitStatus.FAILED if failed else ExitStatus.OK

    # -- one command, or a run of queries ---------------------------------------------

    def _run(self, where: str, item: QmpCall | RawJson | HmpLine | Transaction) -> bool:
        if self.ahead and may_go_ahead(item, schema_known=self.index is not None):
            assert isinstance(item, (QmpCall, RawJson))
            return self._queries(where, item)
        return self._one(where, item)

    def _one(self, where: str, item: QmpCall | RawJson | HmpLine | Transaction) -> bool:
        self.mark = self.received
        try:
            command, msg_id = self._send(item)
        except InputError as err:
            self.output.problem(f"{where}: {err}")
            return False
        ok = self._answer(command, msg_id, hmp=isinstance(item, HmpLine))
        if ok and is_quit(item):
            self.quitting = True
        return ok

    def _send(
        self, item: QmpCall | RawJson | HmpLine | Transaction, *, hold: bool = False
    ) -> tuple[str, str]:
        """Check and send ``item`` (``hold``: with the next write); (its command, the id
        of its reply)."""
        if isinstance(item, HmpLine):
            return "human-monitor-command", self.conn.send(item.message(), hold=hold)
        index = self._schema() if needs_schema(item) else self.index
        return item.command, self.conn.send(checked(item, index), hold=hold)

    def _answer(self, command: str, msg_id: str, *, hmp: bool = False) -> bool:
        reply = self.conn.reply(msg_id, command, self.reply_timeout)
        outcome = Reply(command, reply, hmp, self.received)
        self.output.outcome(outcome)
        return succeeded(outcome)

    def _queries(self, where: str, item: QmpCall | RawJson) -> bool:
        """Run the query ``item`` and the queries already read behind it, sending each
        ahead once another is known to follow it (``script._run_queries``)."""
        due: deque[_Due] = deque()
        all_ok = True
        while True:
            if len(due) <= WINDOW // 2:  # refill in batches: one write for many queries
                while len(due) < WINDOW and (following := self._next_query()) is not None:
                    due.append(self._ahead(where, item))
                    where, item = following
                self.conn.flush()
            if not due:
                break
            head = due.popleft()
            if head.problem:
                self.output.problem(f"{head.where}: {head.problem}")
                ok = False
            else:
                self.conn.eager = bool(due)
                try:
                    ok = self._answer(head.command, head.msg_id)
                finally:
                    self.conn.eager = False
            if not ok:
                all_ok = False
                if not self.keep_going:
                    return False
        return self._one(where, item) and all_ok

    def _ahead(self, where: str, item: QmpCall | RawJson) -> _Due:
        self.mark = self.received
        try:
            return _Due(where, item.command, self._send(item, hold=True)[1])
        except InputError as err:
            return _Due(where, item.command, "", str(err))

    def _next_query(self) -> tuple[str, QmpCall | RawJson] | None:
        """The next line if it is already read and is a query (``ahead.next_query``)."""
        schema_known = self.index is not None
        found = next_query(self.lines, hmp_mode=self.hmp_mode, schema_known=schema_known)
        return None if found is None else (f"{self.label} {found[0]}", found[1])

    def _schema(self) -> SchemaIndex | None:
        """The schema, fetched once (``schemacache.fetch_schema``, as sessions do)."""
        if not self._fetched:
            self._fetched = True
            from qmpsh.language.schema import SchemaIndex
            from qmpsh.session.schema_cache import fetch_schema

            entries = _finish(fetch_schema(self.conn.info, self._ask))
            if isinstance(entries, list):
                self.index = SchemaIndex(entries)
        return self.index

    async def _ask(self, command: str) -> object:
        """qmpsh's own question, as ``fetch_schema`` wants it: async, but it never
        suspends (the socket blocks), so ``_finish`` needs no event loop."""
        return self.conn.ask(command, self.reply_timeout)

    # -- waiting for lines ----------------------------------------------------------

    def _next_line(self) -> tuple[int, str] | None:
        """The next line, reading the script as needed; events that arrive meanwhile are
        shown, and a connection that ends is ``ConnectionLost`` (unless quitting)."""
        conn, lines = self.conn, self.lines
        while (line := lines.take()) is None:
            if lines.done:
                return None
            if self.quitting:  # QEMU is going away as told: only the script matters now
                lines.read()
                continue
            while conn.pending():  # events that came with the last reply
                conn.receive(None)
            assert lines.fd is not None
            readable = select.select([lines.fd, conn.fileno()], [], [])[0]
            if conn.fileno() in readable:
                conn.drain()
            if lines.fd in readable:
                lines.read()
        return line

    def _handover(
        self, source: IO[bytes] | None, transcript: Transcript | None, failed: bool
    ) -> Handover:
        if self.quitting:  # QEMU is closing: take in what it says first, then its end
            self.conn.settle(_QUIT_GRACE, to_the_end=True)
        else:
            self.conn.settle(self.reply_timeout)
        return Handover(
            self.conn,
            self.lines,
            source,
            transcript,
            self.hmp_mode,
            self.index,
            self.events,
            self.received,
            self.mark,
            failed,
        )


def _finish(coroutine: Coroutine[object, None, object]) -> object:
    """The result of a coroutine that never suspends (its awaits are all ``_ask``):
    ``fetch_schema`` is shared with asyncio sessions, and needs no event loop here."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()  # pragma: no cover - a bug: something in it awaited a real future
    raise RuntimeError("a blocking coroutine suspended")  # pragma: no cover
