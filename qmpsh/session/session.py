"""One session with one QEMU: runs parsed inputs, returns results as plain data.

The session owns the transport, the mode (QMP or HMP) and what it learned from
the server (schema, command names, VM name); it never prints. It is written as
coroutines that await only the transport, so the same session runs a script over
the blocking transport without an event loop, and the prompt or ``--all`` under
asyncio (docs/architecture.md, "One path").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qmpsh.errors import InputError, QmpshError
from qmpsh.language.syntax import (
    MAX_INPUT,
    HmpLine,
    Parsed,
    QmpCall,
    RawJson,
    Transaction,
    over_limit,
    parse,
)
from qmpsh.language.validate import checked, did_you_mean, needs_schema
from qmpsh.session.events import EventLog, Logged, Match
from qmpsh.session.outcomes import Reply
from qmpsh.transport.interface import Transport

if TYPE_CHECKING:
    from qmpsh.language.manual import Manual
    from qmpsh.language.schema import SchemaIndex
    from qmpsh.session.progress import ProgressSink
    from qmpsh.session.schema_cache import SchemaCache

EventSink = Callable[[Mapping[str, object]], None]
Warn = Callable[[str], None]


@dataclass
class Session:
    """A connected transport plus the state a user builds up while working."""

    transport: Transport
    hmp_mode: bool = False
    #: Called with each event as it arrives (the script runner, the prompt, ``--all``).
    on_event: EventSink | None = None
    #: Shows live lines in place: the progress of running jobs while ``/wait`` or
    #: ``/jobs`` waits, ``/watch``'s reply (``()`` erases them); None: nobody shows
    #: them, so ``/wait`` polls nothing.
    on_progress: ProgressSink | None = None
    commands: tuple[str, ...] = ()
    vm_name: str = ""
    #: The server's schema, once fetched (None before, or if the server has none).
    index: SchemaIndex | None = None
    #: True at the prompt: a person sees what redraws until Ctrl-C (``/watch``).
    at_prompt: bool = False
    #: False for a guest agent (-N): it has no query-qmp-schema to ask.
    use_schema: bool = True
    #: How long a command's reply may take (``--timeout``); None: as long as it takes.
    reply_timeout: float | None = None
    #: The longest input taken (``--max-input``).
    max_input: int = MAX_INPUT
    #: Every event received (bounded), numbered with replies in socket order.
    events: EventLog = field(default_factory=EventLog)
    #: Event name globs not shown at the prompt (still logged).
    muted: set[str] = field(default_factory=set)
    #: Shown a one-line warning (a deprecated command or argument sent).
    on_warning: Warn | None = None
    _warned: set[str] = field(default_factory=set, repr=False)  # commands warned about
    _received: int = 0  # messages received so far: the numbering of events and replies
    _reply_seq: dict[object, int] = field(default_factory=dict, repr=False)
    _waited: int = 0  # the number of the event the latest matching /wait took
    #: The number of the latest message when the previous ``/jobs`` ended.
    jobs_reported: int = 0
    _schema_asked: bool = field(default=False, repr=False)
    #: The cache ``index`` was read from, until QEMU's own schema confirms it.
    _unconfirmed: SchemaCache | None = field(default=None, repr=False)
    _learned: bool = field(default=False, repr=False)
    _manual: Manual | None = field(default=None, repr=False)
    _manual_read: bool = field(default=False, repr=False)
    _manual_noted: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.transport.observe(self._observe)

    def _observe(self, direction: str, msg: Mapping[str, object]) -> None:
        if direction != "recv":
            return
        self._received += 1
        if "event" not in msg:
            self._reply_seq[_id_key(msg.get("id"))] = self._received
            return
        self.events.add(self._received, msg)
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
        self._learned = False
        kept = same and self.index is not None
        if not kept:
            self.index, self._schema_asked, self.commands = None, False, ()
            self._unconfirmed = None
        return kept

    @property
    def received(self) -> int:
        """How many messages (replies and events) have arrived: the latest's number."""
        return self._received

    @property
    def mode(self) -> str:
        return "HMP" if self.hmp_mode else "QMP"

    def parse(self, text: str) -> Parsed | None:
        if len(text) > self.max_input:
            raise InputError(over_limit(len(text), self.max_input))
        return parse(text, hmp_mode=self.hmp_mode)

    async def run_command(self, item: QmpCall | RawJson | HmpLine | Transaction) -> Reply:
        """Check and send one QMP command or HMP line; its reply."""
        if isinstance(item, HmpLine):
            return await self.explained(
                await self.send("human-monitor-command", item.message(), hmp=True)
            )
        message = await self.checked_message(item)
        if item.checked:
            self._warn_deprecated(message)
        reply = await self.send(item.command, message)
        return await self.explained(reply) if item.checked else reply

    def _warn_deprecated(self, message: Mapping[str, object]) -> None:
        """One line naming what the schema deprecates in ``message``, once per command
        per session: a script that loops over it is told once, not every time. Only
        with the schema at hand (a script's argument-less command goes without it)."""
        command = message.get("execute", message.get("exec-oob"))
        arguments = message.get("arguments", {})
        if (
            self.on_warning is None
            or self.index is None
            or not isinstance(command, str)
            or command in self._warned
            or not isinstance(arguments, Mapping)
        ):
            return
        from qmpsh.language.deprecation import deprecations  # only once there is a schema

        notes = deprecations(self.index, command, arguments)
        if notes:
            self._warned.add(command)
            self.on_warning("; ".join(notes))

    async def explained(self, reply: Reply) -> Reply:
        """QEMU's CommandNotFound with the name likely meant, as the prompt's check says
        it. A command without arguments goes unchecked when the schema is not fetched
        (a script's fast path), so the names are asked for here, on this error only
        (not for ``!``: sent as typed, answered as QEMU answers). Nothing else may be
        due: the question is answered in turn. An HMP line's carrier not found is a
        server without HMP (a qemu-storage-daemon's monitor): nothing to suggest."""
        if not reply.not_found or reply.hint:
            return reply
        if reply.hmp:
            return replace(reply, hint="this server has no HMP; it speaks only QMP")
        if not self.commands:
            with contextlib.suppress(QmpshError):
                self.commands = tuple(sorted(_names(await self.ask("query-commands"), "name")))
        return replace(reply, hint=did_you_mean(reply.command, self.commands))

    async def checked_message(self, item: QmpCall | RawJson | Transaction) -> dict[str, object]:
        """The message to send, checked against the schema (``InputError`` if wrong).

        A schema from the cache file is never the only reason to refuse: QEMU's own
        is asked for first (once), and its word stands."""
        try:
            return checked(item, await self.schema() if needs_schema(item) else self.index)
        except InputError:
            if not await self._confirm_schema():
                raise
        return checked(item, self.index)

    async def _confirm_schema(self) -> bool:
        """Replace a schema read from the cache file with QEMU's own; True if they differed."""
        cache, self._unconfirmed = self._unconfirmed, None
        entries = None if cache is None else await cache.refresh(self.ask)
        if not isinstance(entries, list):
            return False
        from qmpsh.language.schema import SchemaIndex

        self.index = SchemaIndex(entries)
        return True

    async def send(
        self, command: str, message: Mapping[str, object], *, hmp: bool = False, fd: int = -1
    ) -> Reply:
        """Send one user command (with an open file descriptor to pass, for getfd/add-fd)."""
        reply = await self.transport.execute(message, fd=fd, timeout=self.reply_timeout)
        return self._reply(command, reply, hmp=hmp)

    async def submit(self, item: QmpCall | RawJson) -> object:
        """Send a query ahead of the replies before it (``batch.ahead`` says which may go);
        its arguments are checked with the schema already at hand, confirmed against
        QEMU's own if the cache file's refuses them (as ``checked_message`` does)."""
        try:
            message = checked(item, self.index)
        except InputError:
            if not await self._confirm_schema():
                raise
            message = checked(item, self.index)
        return self.transport.submit(message)

    async def result(self, command: str, ticket: object) -> Reply:
        """The reply to a query ``submit`` sent."""
        reply = await self.transport.result(ticket, self.reply_timeout)
        return self._reply(command, reply)

    def _reply(self, command: str, reply: dict[str, object], *, hmp: bool = False) -> Reply:
        return Reply(
            command, reply, hmp, self._reply_seq.pop(_id_key(reply.get("id")), self._received)
        )

    async def next_event(self, match: Match, timeout: float | None) -> Logged | None:
        """The first matching event after the one the latest matching /wait took, waiting
        up to ``timeout`` seconds (None: as long as the connection lives). Commands run
        in between do not matter: a script that logs something between starting a job
        and waiting for it still finds an event that came at once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = None
        if self.on_progress is not None:  # imported here: most scripts never show progress
            from qmpsh.session.progress import Poller

            poller = Poller(self.ask, self.on_progress)
        seen = self._received
        try:
            while (found := self.events.first(match, self._waited)) is None:
                if poller is not None:
                    await poller.poll_if_due(self.events.select(Match(), seen))
                    seen = self._received
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                if poller is not None:
                    left = poller.bounded(left)
                await self.transport.wait(timeout=left)  # ConnectionLost ends the wait
        finally:
            if poller is not None:
                poller.close()
        self._waited = found.seq
        return found

    async def ask(self, command: str, arguments: Mapping[str, object] | None = None) -> object:
        """qmpsh's own question to the server: the return value, or None on an error."""
        message: dict[str, object] = {"execute": command}
        if arguments:
            message["arguments"] = dict(arguments)
        reply = await self.transport.execute(message, quiet=True, timeout=self.reply_timeout)
        return reply.get("return")

    async def schema(self) -> SchemaIndex | None:
        """``query-qmp-schema``, from the on-disk cache when it is this build's, else
        asked once per connection."""
        if self.use_schema and not self._schema_asked:
            self._schema_asked = True
            # Imported at first need: a script of argument-less commands never needs
            # the schema, and these cost its start-up 7 ms (benchmarks, P1).
            from qmpsh.language.schema import SchemaIndex
            from qmpsh.session.schema_cache import fetch_schema

            entries, self._unconfirmed = await fetch_schema(self.transport.info, self.ask)
            if isinstance(entries, list):  # a guest agent has no schema to offer
                self.index = SchemaIndex(entries)
        return self.index

    async def learn(self) -> None:
        """The schema, command names and VM name, once per connection; a lost
        connection is reported by whoever runs the next command, not here."""
        if self._learned:
            return
        self._learned = True
        with contextlib.suppress(QmpshError):
            await self.schema()
            listed = await self.ask("query-commands")
            if listed is None:  # a guest agent lists its commands in guest-info
                info = await self.ask("guest-info")
                listed = info.get("supported_commands") if isinstance(info, dict) else None
            self.commands = tuple(sorted(_names(listed, "name")))
            name = await self.ask("query-name")
            if isinstance(name, dict) and isinstance(name.get("name"), str):
                self.vm_name = name["name"]

    def manual(self) -> Manual | None:
        """QEMU's reference manual as installed (the guest agent's with ``-N``), read at
        first need: a script that never asks for help never reads it."""
        if not self._manual_read:
            self._manual_read = True
            from qmpsh.session.manual_cache import load_manual, page_for

            self._manual = load_manual(page_for(guest_agent=not self.use_schema))
        return self._manual

    def manual_note(self) -> str | None:
        """Once per session: that the manual is another QEMU's, or not installed."""
        if self._manual_noted:
            return None
        self._manual_noted = True
        from qmpsh.session.manual_cache import note, page_for

        page = page_for(guest_agent=not self.use_schema)
        return note(self.manual(), page, self.transport.info.version)


def _names(items: object, key: str) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i[key]) for i in items if isinstance(i, dict) and key in i]


def _id_key(msg_id: object) -> object:
    """A reply's id as a dict key: QMP allows any JSON value, objects and arrays too
    (unhashable), so all but the usual string go by their text, never equal to a string."""
    return msg_id if type(msg_id) is str else (repr(msg_id),)
