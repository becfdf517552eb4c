"""The transport: one QMP connection through qemu.qmp, behind a small interface.

``Transport`` is all the session needs (connect, execute a message and get the
whole reply, observe traffic, notice the end); a libvirt or multi-target
transport can implement it later. This is the only module that imports
qemu.qmp, and it maps qemu.qmp's failures onto the one-line errors of
``qmpsh.errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Protocol

from qemu.qmp import ConnectError, ExecInterruptedError, QMPClient, QMPError, Runstate, StateError
from qemu.qmp.message import DeserializationError, Message
from qemu.qmp.models import Greeting
from qemu.qmp.qmp_client import GreetingError, NegotiationError

from qmpsh.errors import ConnectFailed, ConnectionLost, InputError, NoReply
from qmpsh.transport import failures as server
from qmpsh.transport.failures import MAX_MESSAGE, ServerInfo, parse_target

__all__ = ["MAX_MESSAGE", "Observer", "QmpTransport", "ServerInfo", "Transport", "parse_target"]

# qemu.qmp logs every failure it raises; qmpsh reports them itself, once.
logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())
logging.getLogger("qemu.qmp").propagate = False
#: Only for qmpsh's own bugs in this module, which has no UI: Python's last-resort
#: handler prints them as one line on stderr.
_log = logging.getLogger("qmpsh")

#: Called with ("send" | "recv", message) for every message after negotiation,
#: in the order they cross the socket; events included.
Observer = Callable[[str, Mapping[str, object]], None]


class Transport(Protocol):
    """What a session needs from a connection to one QEMU monitor."""

    target: str
    info: ServerInfo

    async def connect(self, timeout: float) -> None: ...

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        """Send one command; return the whole reply (``return`` or ``error``).

        ``fd`` >= 0 is passed to QEMU with the command (SCM_RIGHTS), for getfd/add-fd.
        ``timeout`` bounds the wait for the reply (``NoReply``); None waits as long as
        the connection lives.

        ``quiet`` marks qmpsh's own questions (schema, names): observers never see
        them, so ``--json`` and ``-v`` show only what the user asked for.
        """
        ...

    def observe(self, observer: Observer, *, quiet: bool = False) -> None: ...

    async def wait_closed(self) -> str:
        """Return (with a reason) once the connection has ended."""
        ...

    async def close(self) -> None: ...


class _Client(QMPClient):
    """QMPClient that hands every message to observers, in socket order."""

    def __init__(self, name: str) -> None:
        super().__init__(name, readbuflen=MAX_MESSAGE)
        #: Why qmpsh itself gave up on the connection (else QEMU closed it).
        self.failure = ""
        self.observers: list[Observer] = []
        self.quiet_ids: set[object] = set()
        #: Observers of qmpsh's own quiet questions too (a transcript of the socket).
        self.all_observers: list[Observer] = []
        #: Connected through ``QmpTransport.adopt``: negotiated already.
        self.adopted = False

    async def _event_dispatch(self, msg: Message) -> None:
        """Events reach observers through _cb_inbound, in socket order; qemu.qmp's
        default listener would otherwise queue every event forever."""

    def _notify(self, direction: str, msg: Message) -> None:
        """Hand ``msg`` to its observers; this runs for every message, so it is kept lean."""
        # Greeting and negotiation happen before RUNNING; users never asked for those.
        # An adopted socket has neither, and its events may come before RUNNING.
        if self.runstate is not Runstate.RUNNING and not self.adopted:
            return
        quiet = False
        if self.quiet_ids:  # qmpsh's own questions are few: most messages skip the lookup
            msg_id = msg.get("id")
            quiet = isinstance(msg_id, str) and msg_id in self.quiet_ids
            if quiet and direction == "recv":
                self.quiet_ids.discard(msg_id)
        if quiet:
            observers = self.all_observers
        elif self.all_observers:
            observers = [*self.observers, *self.all_observers]
        else:
            observers = self.observers
        if observers:
            # A copy as a dict (json.dumps needs one; observers may keep it). dict(msg)
            # walks the Mapping interface key by key; copying the dict qemu.qmp's
            # Message holds once decoded (_obj) is ten times cheaper.
            held = getattr(msg, "_obj", None)
            plain = dict(held) if type(held) is dict else dict(msg)
            for observer in observers:
                try:
                    observer(direction, plain)
                except Exception as err:  # a bug in qmpsh must not cost the user QEMU
                    self._observer_failed(observer, err)

    def _observer_failed(self, observer: Observer, err: Exception) -> None:
        """Drop a failing observer and say so once, instead of dropping the connection
        (qemu.qmp ends the session on any exception in its reader)."""
        # New lists: _notify may be walking the old ones right now.
        self.observers = [o for o in self.observers if o is not observer]
        self.all_observers = [o for o in self.all_observers if o is not observer]
        _log.warning(
            "qmpsh: internal error while showing a message (%s: %s); "
            "that display is off for this session",
            type(err).__name__,
            err,
        )

    async def _do_recv(self) -> Message:
        try:
            line = await self._readline()
        except (ValueError, asyncio.LimitOverrunError):  # StreamReader's limit, not EOF
            self.failure = server.too_big(MAX_MESSAGE)
            raise
        # qemu-ga sends 0xFF (never valid UTF-8) before its guest-sync-delimited reply.
        return Message(line.lstrip(b"\xff"), eager=True)

    def _cb_inbound(self, msg: Message) -> Message:
        self._notify("recv", msg)
        return msg

    def _cb_outbound(self, msg: Message) -> Message:
        self._notify("send", msg)
        return msg


class QmpTransport:
    """A QMP monitor on a unix socket or TCP port."""

    def __init__(self, target: str, *, negotiate: bool = True) -> None:
        self.target = target
        self.address = parse_target(target)
        self.info = ServerInfo()
        self._client = _Client(target)
        self._client.negotiate = negotiate
        self._client.await_greeting = negotiate
        self._quiet_count = 0

    def observe(self, observer: Observer, *, quiet: bool = False) -> None:
        """Watch traffic; ``quiet=True`` includes qmpsh's own questions (transcripts)."""
        (self._client.all_observers if quiet else self._client.observers).append(observer)

    async def connect(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._client.connect(self.address), timeout)
        except TimeoutError:
            raise ConnectFailed(self._timeout_message(timeout)) from None
        except ConnectError as err:
            raise ConnectFailed(self._connect_message(err.exc)) from None
        greeting = self._client.greeting
        if greeting is not None:
            self.info = server.greeting_info(greeting.QMP.version, greeting.QMP.capabilities)

    async def adopt(self, sock: socket.socket, info: ServerInfo, next_id: int) -> None:
        """Go on over a socket ``direct`` connected and negotiated (a script's line
        needs asyncio now); command ids go on from ``next_id``, as if one client ran."""
        client = self._client
        client.negotiate = client.await_greeting = False
        client.adopted = True
        try:
            await client.connect(sock)
        except (ConnectError, AssertionError):  # it ended at once (qemu.qmp asserts RUNNING)
            raise ConnectionLost(self._closed_message()) from None
        client._execute_id = next_id
        self.info = info

    def _timeout_message(self, timeout: float) -> str:
        if not self._client.await_greeting:
            return f"{self.target}: could not connect within {timeout:g} s"
        greeted = self._client.greeting is not None
        return server.no_greeting(self.target, timeout, greeted=greeted)

    def _connect_message(self, exc: BaseException) -> str:
        target = self.target
        if isinstance(exc, GreetingError):
            return f"{target}: not a QMP server ({_what_was_sent(exc.exc)})"
        if isinstance(exc, NegotiationError):
            return f"{target}: QMP capabilities negotiation failed ({_what_was_sent(exc.exc)})"
        if isinstance(exc, UnicodeDecodeError):  # json.loads() of a line that is not UTF-8
            return server.not_utf8(target)
        if isinstance(exc, EOFError):
            return server.closed_early(target)
        if isinstance(exc, OSError):
            return server.os_failure(target, self.address, exc)
        return f"{target}: could not connect ({type(exc).__name__})"

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        client = self._client
        if client.runstate != Runstate.RUNNING:
            raise ConnectionLost(self._closed_message())
        assign_id = "id" not in message
        if quiet:
            self._quiet_count += 1
            message = {**message, "id": f"qmpsh-{self._quiet_count}"}
            client.quiet_ids.add(message["id"])
            assign_id = False
        if fd >= 0:
            try:
                client.send_fd_scm(fd)
            except (QMPError, OSError) as err:
                raise InputError(f"cannot pass the file descriptor: {err}") from None
        try:
            # A late reply to a command given up on has an id nobody waits for any
            # more; qemu.qmp drops it, as the QMP spec asks of clients.
            # asyncio.timeout, not wait_for: no extra task per command (P2 benchmark).
            async with asyncio.timeout(timeout):
                reply = await client._raw(message, assign_id=assign_id)
        except TimeoutError:
            command = message.get("execute") or message.get("exec-oob")
            raise NoReply(server.no_reply(self.target, command, timeout or 0)) from None
        except (ExecInterruptedError, StateError):
            raise ConnectionLost(self._closed_message()) from None
        except (TypeError, ValueError) as err:
            raise InputError(f"cannot send: {err}") from None
        return dict(reply)

    async def wait_closed(self) -> str:
        client = self._client
        while client.runstate == Runstate.RUNNING:
            await client.runstate_changed()
        return self._closed_message()

    def _closed_message(self) -> str:
        return f"{self.target}: {self._client.failure or 'connection closed by QEMU'}"

    async def close(self) -> None:
        # The reason the connection ended was already reported; closing must not fail.
        with contextlib.suppress(Exception):
            await self._client.disconnect()


def greeting_problem(raw: bytes) -> str:
    """What is wrong with the greeting ``raw``, as qemu.qmp judges it (for ``direct``,
    whose own check is only quick: the same server gets the same words either way)."""
    try:
        Greeting(Message(raw, eager=True))
    except (QMPError, KeyError, TypeError) as err:
        return _what_was_sent(err)
    return "unexpected greeting"  # pragma: no cover - direct asks only when it is wrong


def _what_was_sent(exc: BaseException) -> str:
    """A short, printable account of what a non-QMP server said."""
    raw = getattr(exc, "raw", None)
    if isinstance(raw, bytes):
        return server.what_was_sent(raw)
    if isinstance(exc, DeserializationError):  # pragma: no cover - raw always set
        return "it sent something that is not JSON"
    # qemu.qmp's KeyError / TypeError say which member is missing or wrong.
    return f"unexpected greeting: {exc.args[0] if exc.args else type(exc).__name__}"
