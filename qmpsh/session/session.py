"""One session with one QEMU: runs parsed inputs, returns results as plain data.

The session owns the transport, the mode (QMP or HMP) and what it learned from
the server (command names, VM name); it never prints. Renderers and the REPL
read what it returns, so the same session serves scripts and the prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from qmpsh.errors import QmpshError
from qmpsh.language.live_values import Question
from qmpsh.language.schema import SchemaIndex
from qmpsh.language.syntax import Builtin, HmpLine, Parsed, QmpCall, RawJson, Transaction, parse
from qmpsh.language.validate import checked, needs_schema
from qmpsh.session.builtins import run_builtin
from qmpsh.session.events import EventLog, Logged, Match
from qmpsh.session.outcomes import Outcome, Reply
from qmpsh.session.schema_cache import fetch_schema
from qmpsh.transport.qemu_qmp import Transport

EventSink = Callable[[Mapping[str, object]], None]


@dataclass
class Session:
    """A connected transport plus the state a user builds up while working."""

    transport: Transport
    hmp_mode: bool = False
    on_event: EventSink | None = None
    commands: tuple[str, ...] = ()
    vm_name: str = ""
    #: The server's schema, once fetched (None before, or if the server has none).
    index: SchemaIndex | None = None
    #: False for a guest agent (-N): it has no query-qmp-schema to ask.
    use_schema: bool = True
    #: How long completion waits for a live value before offering what it has.
    lookup_timeout: float = 0.5
    #: How long a command's reply may take (``--timeout``); None: as long as it takes.
    reply_timeout: float | None = None
    #: Every event received (bounded), numbered with replies in socket order.
    events: EventLog = field(default_factory=EventLog)
    #: Event name globs not shown at the prompt (still logged).
    muted: set[str] = field(default_factory=set)
    _received: int = 0  # messages received so far: the numbering of events and replies
    _reply_seq: dict[object, int] = field(default_factory=dict, repr=False)
    _mark: int = 0  # _received when the latest command (not /wait) began
    _consumed: set[int] = field(default_factory=set, repr=False)  # events /wait returned
    _learned: asyncio.Task[None] | None = field(default=None, repr=False)
    _schema: asyncio.Task[SchemaIndex | None] | None = field(default=None, repr=False)
    _lookups: dict[Question, asyncio.Task[object]] = field(default_factory=dict, repr=False)
    _given_up: set[Question] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.transport.observe(self._observe)

    def _observe(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction != "recv":
            return
        self._received += 1
        if "event" not in msg:
            self._reply_seq[msg.get("id")] = self._received
            return
        self.events.add(self._received, msg)
        self.forget_lookups()  # a job moved on, a device went away: ask again
        if self.on_event is not None:
            self.on_event(msg)

    def attach(self, transport: Transport) -> bool:
        """Go on over a new connection (QEMU came back); True if the schema was kept.

        The mode, the event log and mutes stay; the schema is kept only when the
        greeting names the same QEMU version and package, so a restart costs no
        re-fetch while an upgrade is noticed.
        """
        before, after = self.transport.info, transport.info
        same = bool(after.version) and (after.version, after.package) == (
            before.version,
            before.package,
        )
        self.transport = transport
        transport.observe(self._observe)
        self._reply_seq.clear()
        self._lookups.clear()
        self._given_up.clear()
        self._learned = None
        kept = same and self.index is not None
        if not kept:
            self.index, self._schema, self.commands = None, None, ()
        return kept

    def carry_on(self, received: int, mark: int) -> None:
        """Number messages on from where a script begun without asyncio stopped
        (``directscript``), so ``/wait`` finds the events that came before."""
        self._received, self._mark = received, mark

    @property
    def received(self) -> int:
        """How many messages (replies and events) have arrived: the latest's number."""
        return self._received

    @property
    def mode(self) -> str:
        return "HMP" if self.hmp_mode else "QMP"

    def parse(self, text: str) -> Parsed | None:
        return parse(text, hmp_mode=self.hmp_mode)

    async def run_text(self, text: str) -> Outcome | None:
        item = self.parse(text)
        return None if item is None else await self.run(item)

    async def run(self, item: Parsed) -> Outcome:
        if not (isinstance(item, Builtin) and item.spec.keeps_wait_mark):
            self._mark, self._consumed = self._received, set()
        try:
            if isinstance(item, Builtin):
                return await run_builtin(self, item)
            if isinstance(item, HmpLine):
                return await self.send("human-monitor-command", item.message(), hmp=True)
            return await self.send(item.command, await self.checked_message(item))
        finally:
            self.forget_lookups()  # any command may change what exists: the next prompt asks anew

    async def checked_message(self, item: QmpCall | RawJson | Transaction) -> dict[str, object]:
        """The message to send, checked against the schema (``InputError`` if wrong)."""
        return checked(item, await self.schema() if needs_schema(item) else self.index)

    async def send(
        self, command: str, message: Mapping[str, object], *, hmp: bool = False, fd: int = -1
    ) -> Reply:
        """Send one user command (with an open file descriptor to pass, for getfd/add-fd)."""
        reply = await self.transport.execute(message, fd=fd, timeout=self.reply_timeout)
        return Reply(command, reply, hmp, self._reply_seq.pop(reply.get("id"), self._received))

    async def next_event(self, match: Match) -> Logged:
        """The first matching event since the latest command that /wait has not returned."""
        found = await self.events.wait(match, self._mark, skip=self._consumed)
        self._consumed.add(found.seq)
        return found

    async def ask(self, command: str, arguments: Mapping[str, object] | None = None) -> object:
        """qmpsh's own question to the server: the return value, or None on an error."""
        message: dict[str, object] = {"execute": command}
        if arguments:
            message["arguments"] = dict(arguments)
        reply = await self.transport.execute(message, quiet=True, timeout=self.reply_timeout)
        return reply.get("return")

    async def lookup(self, question: Question) -> object:
        """A live completion value: the reply, or None if it failed or is not there in time.

        One request per question until ``forget_lookups``. Once a request has timed
        out, nothing more is waited for or sent while it is still unanswered (a reply
        that arrives late is used), so a stalled QEMU costs one ``lookup_timeout`` per
        prompt, not one per keystroke, and no pile of queued questions.
        """
        task = self._lookups.get(question)
        if task is None:
            if self._stalled():
                return None
            task = self._lookups[question] = asyncio.ensure_future(self._quietly(question))
        if task.done() or question in self._given_up:
            return self.looked_up(question)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.lookup_timeout)
        except TimeoutError:
            self._given_up.add(question)
            return None

    def _stalled(self) -> bool:
        return any(not self._lookups[q].done() for q in self._given_up if q in self._lookups)

    def looked_up(self, question: Question) -> object:
        """The reply already at hand, without asking (None if there is none)."""
        task = self._lookups.get(question)
        if task is None or not task.done() or task.cancelled():
            return None
        return task.result()

    def forget_lookups(self) -> None:
        """Drop live values that may have changed; keep those that cannot (types, HMP help)."""
        self._lookups = {q: task for q, task in self._lookups.items() if q.lasting}
        self._given_up.clear()

    async def _quietly(self, question: Question) -> object:
        try:
            return await self.ask(question.command, question.args())
        except Exception:  # a lost connection is the REPL's to report, not completion's
            return None

    def learn_in_background(self) -> None:
        """Start fetching command names and the VM name; the prompt does not wait."""
        if self._learned is None:
            self._learned = asyncio.ensure_future(self._learn())

    async def learn(self) -> None:
        self.learn_in_background()
        assert self._learned is not None
        await asyncio.shield(self._learned)

    async def _learn(self) -> None:
        with contextlib.suppress(QmpshError):  # a lost connection is reported elsewhere
            await self._ask_server()

    async def schema(self) -> SchemaIndex | None:
        """Fetch and index ``query-qmp-schema`` once per connection."""
        if not self.use_schema:
            return None
        if self._schema is None and self.index is not None:  # fetched before asyncio ran
            return self.index
        if self._schema is None:
            self._schema = asyncio.ensure_future(self._fetch_schema())
        return await asyncio.shield(self._schema)

    async def _fetch_schema(self) -> SchemaIndex | None:
        """The schema from the on-disk cache when it is this build's, else from QEMU."""
        entries = await fetch_schema(self.transport.info, self.ask)
        if isinstance(entries, list):  # a guest agent has no schema to offer
            self.index = SchemaIndex(entries)
        return self.index

    async def _ask_server(self) -> None:
        await self.schema()
        listed = await self.ask("query-commands")
        if listed is None:  # a guest agent lists its commands in guest-info
            info = await self.ask("guest-info")
            listed = info.get("supported_commands") if isinstance(info, dict) else None
        self.commands = tuple(sorted(_names(listed, "name")))
        name = await self.ask("query-name")
        if isinstance(name, dict) and isinstance(name.get("name"), str):
            self.vm_name = name["name"]


def _names(items: object, key: str) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i[key]) for i in items if isinstance(i, dict) and key in i]
