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

from qmpsh.errors import InputError, QmpshError
from qmpsh.helptext import CommandHelp, describe, group_commands
from qmpsh.live import Question
from qmpsh.protocol import Transport
from qmpsh.schema import SchemaIndex
from qmpsh.syntax import (
    BUILTINS,
    BYPASS_HELP,
    Builtin,
    HmpLine,
    Parsed,
    QmpCall,
    RawJson,
    Transaction,
    parse,
)
from qmpsh.validate import check_call, check_message


@dataclass(frozen=True)
class Reply:
    """QEMU's whole reply to one command; ``hmp`` marks text to print verbatim."""

    command: str
    reply: Mapping[str, object]
    hmp: bool = False

    @property
    def ok(self) -> bool:
        return "error" not in self.reply

    @property
    def value(self) -> object:
        return self.reply.get("return")

    @property
    def error(self) -> tuple[str, str]:
        """``(class, desc)`` of an error reply."""
        err = self.reply.get("error")
        if isinstance(err, Mapping):
            return str(err.get("class", "Error")), str(err.get("desc", ""))
        return "Error", "malformed error reply"


@dataclass(frozen=True)
class Notice:
    """Something qmpsh itself has to say (a mode switch)."""

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
class Exit:
    """``/exit``: the user wants to leave."""


Outcome = Reply | Notice | HelpList | CommandHelp | Exit

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
    _learned: asyncio.Task[None] | None = field(default=None, repr=False)
    _schema: asyncio.Task[SchemaIndex | None] | None = field(default=None, repr=False)
    _lookups: dict[Question, asyncio.Task[object]] = field(default_factory=dict, repr=False)
    _given_up: set[Question] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.transport.observe(self._observe)

    def _observe(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction == "recv" and "event" in msg:
            self.forget_lookups()  # a job moved on, a device went away: ask again
            if self.on_event is not None:
                self.on_event(msg)

    @property
    def mode(self) -> str:
        return "HMP" if self.hmp_mode else "QMP"

    def parse(self, text: str) -> Parsed | None:
        return parse(text, hmp_mode=self.hmp_mode)

    async def run_text(self, text: str) -> Outcome | None:
        item = self.parse(text)
        return None if item is None else await self.run(item)

    async def run(self, item: Parsed) -> Outcome:
        try:
            if isinstance(item, Builtin):
                return await self._builtin(item)
            if isinstance(item, HmpLine):
                return Reply("human-monitor-command", await self.execute(item.message()), hmp=True)
            return Reply(item.command, await self.execute(await self.checked_message(item)))
        finally:
            self.forget_lookups()  # any command may change what exists: the next prompt asks anew

    async def checked_message(self, item: QmpCall | RawJson | Transaction) -> dict[str, object]:
        """The message to send, checked against the schema (``InputError`` if wrong).

        Shorthand values are typed by the schema (``id=123`` for a ``str`` member is
        "123"). A call without arguments needs no schema: if it is not fetched yet,
        QEMU's own check is as good and costs nothing.
        """
        message = item.message if isinstance(item, RawJson) else item.message()
        if not item.checked:
            return message
        needs_schema = not isinstance(item, QmpCall) or bool(item.args)
        index = await self.schema() if needs_schema else self.index
        if index is None:
            return message
        if isinstance(item, QmpCall):
            return item.message(check_call(index, item))
        check_message(index, message)
        return message

    async def execute(self, message: Mapping[str, object]) -> dict[str, object]:
        return await self.transport.execute(message)

    async def ask(self, command: str, arguments: Mapping[str, object] | None = None) -> object:
        """qmpsh's own question to the server: the return value, or None on an error."""
        message: dict[str, object] = {"execute": command}
        if arguments:
            message["arguments"] = dict(arguments)
        reply = await self.transport.execute(message, quiet=True)
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

    async def _builtin(self, item: Builtin) -> Outcome:
        if item.name == "exit":
            return Exit()
        if item.name in ("hmp", "qmp"):
            self.hmp_mode = item.name == "hmp"
            return Notice(f"{self.mode} mode" + ("; /qmp goes back" if self.hmp_mode else ""))
        if item.name == "help":
            return await self._help(item.argument)
        raise InputError(f"built-in '/{item.name}' is not available here")  # pragma: no cover

    async def _help(self, argument: str) -> HelpList | CommandHelp:
        """``/help CMD [k=v ...]`` explains CMD (or an event); anything else filters names."""
        await self.learn()
        if argument and self.index is not None:
            call = parse(argument)  # k=v select union variants, as when typing them
            if isinstance(call, QmpCall):
                tree = describe(self.index, call.command, call.arguments)
                if tree is not None:
                    return tree
        names = self.commands or tuple(self.index.commands if self.index else ())
        if argument:
            names = tuple(n for n in names if argument in n)
        groups = tuple((group, tuple(members)) for group, members in group_commands(names))
        return HelpList((*BUILTINS.values(), BYPASS_HELP), groups, argument)

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
        if self._schema is None:
            self._schema = asyncio.ensure_future(self._fetch_schema())
        return await asyncio.shield(self._schema)

    async def _fetch_schema(self) -> SchemaIndex | None:
        entries = await self.ask("query-qmp-schema")
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
