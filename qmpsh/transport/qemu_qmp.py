"""A QMP monitor through qemu.qmp, on asyncio: the transport of the prompt.

The prompt, ``--launch`` and ``--all`` run on asyncio (events above the line while
the user types, many targets at once), and qemu.qmp is the QEMU project's own
client for that. This is the only module that imports qemu.qmp; it maps its
failures onto the one-line errors of ``qmpsh.errors``, in ``failures``' words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from qemu.qmp import ConnectError, ExecInterruptedError, QMPClient, QMPError, Runstate, StateError
from qemu.qmp.message import DeserializationError, Message
from qemu.qmp.models import Greeting
from qemu.qmp.qmp_client import GreetingError, NegotiationError

from qmpsh.errors import ConnectFailed, ConnectionLost, InputError, NoReply
from qmpsh.transport import failures, loop_waits, messages
from qmpsh.transport.address import parse_target
from qmpsh.transport.failures import MAX_MESSAGE
from qmpsh.transport.interface import Observer, Observers, ServerInfo, greeting_info
from qmpsh.transport.messages import BadMessage, decode

# qemu.qmp logs every failure it raises; qmpsh reports them itself, once.
logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())
logging.getLogger("qemu.qmp").propagate = False


class _Client(QMPClient):
    """QMPClient that hands every message to observers, in socket order."""

    def __init__(self, name: str) -> None:
        super().__init__(name, readbuflen=MAX_MESSAGE)
        #: Why qmpsh itself gave up on the connection (else QEMU closed it).
        self.failure = ""
        self.observers = Observers()
        self.quiet_ids: set[object] = set()
        #: The last line read while greeting or negotiating.
        self.handshake_line = b""

    async def ask_quietly(self, msg: Mapping[str, object]) -> Message:
        """One of qmpsh's quiet questions, sent as ``_raw`` sends, but with its own
        id: ``_raw`` refuses every id under qemu.qmp's prefix, which qmpsh's share."""
        msg_id = str(msg["id"])
        await self._issue(Message(msg))
        return await self._reply(msg_id)

    async def _event_dispatch(self, msg: Message) -> None:
        """Events reach observers through _cb_inbound, in socket order; qemu.qmp's
        default listener would otherwise queue every event forever."""

    def _notify(self, direction: str, msg: Message) -> None:
        """Hand ``msg`` to the observers; this runs for every message, so it is kept lean."""
        # Greeting and negotiation happen before RUNNING; users never asked for those.
        if self.runstate is not Runstate.RUNNING:
            return
        quiet = False
        if self.quiet_ids:  # qmpsh's own questions are few: most messages skip the lookup
            msg_id = msg.get("id")
            quiet = isinstance(msg_id, str) and msg_id in self.quiet_ids
            if quiet and direction == "recv":
                self.quiet_ids.discard(msg_id)
        # A copy as a dict (json.dumps needs one; observers may keep it). dict(msg)
        # walks the Mapping interface key by key; copying the dict qemu.qmp's
        # Message holds once decoded (_obj) is ten times cheaper.
        held = getattr(msg, "_obj", None)
        self.observers.notify(
            direction, dict(held) if type(held) is dict else dict(msg), quiet=quiet
        )

    async def _on_message(self, msg: Message) -> None:
        """An error without an id (QEMU could not parse a command) while one command
        is in flight is that command's answer; with more, nobody can tell whose.

        A reply whose id is an object or array cannot be one of ours (qemu.qmp sends
        only string ids); qemu.qmp's lookup would fail on it (unhashable) and drop the
        connection. It is dropped like any reply with an unknown id, as on the blocking
        transport; the observers have seen it."""
        if isinstance(msg.get("id"), dict | list):
            return
        if "id" not in msg and "error" in msg and "event" not in msg:
            waiting = [queue for queue in self._pending.values() if queue.empty()]
            if len(waiting) == 1:  # a full queue holds a reply not yet collected
                await waiting[0].put(msg)
                return
            self.failure = failures.unattributed_error(msg)
        await super()._on_message(msg)

    async def _do_recv(self) -> Message:
        line = await self._line()
        if self.runstate is not Runstate.RUNNING:  # the greeting: qemu.qmp's own checks
            while messages.is_handshake_event(line):
                line = await self._line()
            self.handshake_line = line  # what a failed negotiation got instead
            try:
                return Message(line, eager=True)
            except RecursionError:  # json.loads inside Message: messages.parse's rule
                raise messages.TooDeep() from None
        if not line.endswith(b"\n"):  # the start of a message, then the end of the stream
            raise EOFError
        try:
            return Message(decode(line), eager=False)
        except BadMessage as bad:
            self.failure = str(bad)
            raise

    async def _line(self) -> bytes:
        try:
            line = await self._readline()
        except (ValueError, asyncio.LimitOverrunError):  # StreamReader's limit, not EOF
            self.failure = failures.too_big(MAX_MESSAGE)
            raise
        # qemu-ga sends 0xFF (never valid UTF-8) before its guest-sync-delimited reply.
        return line.lstrip(b"\xff")

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
        self._arrivals = loop_waits.Arrivals()
        self._client.observers.add(self._arrivals, quiet=True)

    def observe(self, observer: Observer, *, quiet: bool = False) -> None:
        self._client.observers.add(observer, quiet=quiet)

    async def connect(self, timeout: float) -> None:
        connecting = asyncio.ensure_future(self._client.connect(self.address))
        try:
            await asyncio.wait({connecting}, timeout=timeout)
            if not connecting.done():  # judged before cancelling, which drops what was read
                message = self._timeout_message(timeout)
                connecting.cancel()
                await asyncio.wait({connecting})  # its end, without its CancelledError
                raise ConnectFailed(message)
            connecting.result()
        except ConnectError as err:
            raise ConnectFailed(self._connect_message(err.exc)) from None
        finally:
            connecting.cancel()  # cancelled from outside (Ctrl-C): not left running
        greeting = self._client.greeting
        if greeting is not None:
            self.info = greeting_info(greeting.QMP.version, greeting.QMP.capabilities)

    def _timeout_message(self, timeout: float) -> str:
        if not self._client.await_greeting:
            return f"{self.target}: could not connect within {timeout:g} s"
        greeted = self._client.greeting is not None
        # Part of a greeting read (StreamReader keeps it until its newline): a slow server.
        arrived = bool(getattr(self._client._reader, "_buffer", b""))
        return failures.no_greeting(self.target, timeout, greeted=greeted, arrived=arrived)

    def _connect_message(self, exc: BaseException) -> str:
        target = self.target
        if isinstance(exc, GreetingError):
            return f"{target}: not a QMP server ({_what_was_sent(exc.exc)})"
        if isinstance(exc, NegotiationError) and not isinstance(exc.exc, EOFError):
            return failures.negotiation_failed(target, self._client.handshake_line)
        if isinstance(exc, messages.TooDeep):
            return failures.greeting_too_deep(target)
        if isinstance(exc, UnicodeDecodeError):  # json.loads() of a line that is not UTF-8
            return failures.not_utf8(target)
        if isinstance(exc, NegotiationError | EOFError):  # hung up, before or after greeting
            return failures.closed_early(target, greeted=self._client.greeting is not None)
        if isinstance(exc, OSError):
            return failures.os_failure(target, self.address, exc)
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
        messages.check_own_id(message)  # before qemu.qmp's own check, in the shared words
        messages.encode(message)  # qemu.qmp would write NaN, which QEMU cannot read
        assign_id = "id" not in message
        if quiet:
            self._quiet_count += 1
            message = {**message, "id": messages.quiet_id(self._quiet_count)}
            client.quiet_ids.add(message["id"])
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
                if quiet:
                    reply = await client.ask_quietly(message)
                else:
                    reply = await client._raw(message, assign_id=assign_id)
        except TimeoutError:
            command = message.get("execute") or message.get("exec-oob")
            raise NoReply(failures.no_reply(self.target, command, timeout or 0)) from None
        except (ExecInterruptedError, StateError):
            raise ConnectionLost(self._closed_message()) from None
        except (TypeError, ValueError) as err:
            raise InputError(f"cannot send: {err}") from None
        return dict(reply)

    def submit(self, message: Mapping[str, object]) -> object:
        return loop_waits.submit(self.execute(message), message)

    async def result(self, ticket: object, timeout: float | None) -> dict[str, object]:
        return await loop_waits.result(self.target, ticket, timeout)

    def drop(self, ticket: object) -> None:
        loop_waits.drop(ticket)

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool:
        return await self._arrivals.wait(self.wait_closed, fd=fd, timeout=timeout)

    async def wait_closed(self) -> str:
        client = self._client
        while client.runstate == Runstate.RUNNING:
            await client.runstate_changed()
        return self._closed_message()

    def _closed_message(self) -> str:
        return f"{self.target}: {self._client.failure or 'connection closed by QEMU'}"

    async def close(self) -> None:
        """Close; never fails: why the connection ended was already reported.

        A cancel (a signal) that comes while it closes waits for the close to end
        and then goes on: qemu.qmp's disconnect cut short leaves a traceback for
        asyncio to print at exit."""
        closing = asyncio.ensure_future(self._client.disconnect())
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            await asyncio.wait({closing})
            raise
        except Exception:
            pass
        finally:
            if closing.done() and not closing.cancelled():
                closing.exception()  # retrieved: nothing for asyncio to print


def greeting_problem(raw: bytes) -> str:
    """What is wrong with the greeting ``raw``, as qemu.qmp judges it (for ``blocking``,
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
        return failures.what_was_sent(raw)
    if isinstance(exc, DeserializationError):  # pragma: no cover - raw always set
        return "it sent something that is not JSON"
    # qemu.qmp's KeyError / TypeError say which member is missing or wrong.
    return f"unexpected greeting: {exc.args[0] if exc.args else type(exc).__name__}"
