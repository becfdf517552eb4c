"""A QMP monitor over a blocking socket: the transport of scripts, without asyncio.

A script that pipes one command into qmpsh spends most of its life starting up,
and asyncio alone (which qemu.qmp is built on) costs more start-up than the whole
of qmp-shell's lead over a raw socket client (benchmarks/README.md, P1). So a
script to a QMP socket talks QMP here: its coroutines never suspend (every wait
is a blocking read bounded by a deadline or by EOF), and ``cli.main`` runs the
session and script runner over it without an event loop.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Mapping

from qmpsh.errors import ConnectFailed, ConnectionLost, InputError, NoReply
from qmpsh.transport import failures, messages
from qmpsh.transport.address import parse_target
from qmpsh.transport.failures import MAX_MESSAGE
from qmpsh.transport.interface import Observer, Observers, ServerInfo, greeting_info
from qmpsh.transport.messages import BadMessage, decode

Message = dict[str, object]

#: While replies to queries sent ahead are due, how long to poll for the next before
#: sleeping in select. Waking once per reply puts qmpsh on QEMU's CPU, where the two
#: take turns; staying busy on a CPU of its own is faster (benchmarks/README.md, P2).
#: Not with one CPU, where polling would only keep QEMU from answering.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
SPIN = 0.0003 if (_CPUS or 1) > 1 else 0.0


class BlockingTransport:
    """One QMP connection over a blocking socket; every wait is bounded by a deadline or EOF."""

    def __init__(self, target: str, *, negotiate: bool = True) -> None:
        self.target = target
        self.address = parse_target(target)
        self.info = ServerInfo()
        self.negotiate = negotiate
        self.sock: socket.socket | None = None
        self._observers = Observers()
        #: The next command's id, numbered as qemu.qmp numbers them (``__qmp#00000`` on),
        #: so ``--json`` and ``-v`` show the same ids whichever transport runs.
        self._next_id = 0
        self._quiet = 0
        #: Ids of commands submitted whose result is not yet collected, and the replies
        #: to them read early (while another reply was awaited): kept for ``result``.
        self._due: set[str] = set()
        self._early: dict[str, Message] = {}
        self._held: list[bytes] = []  # submitted commands kept to go in one write
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no newline
        self._failure = ""

    def observe(self, observer: Observer, *, quiet: bool = False) -> None:
        self._observers.add(observer, quiet=quiet)

    # -- connecting ---------------------------------------------------------------

    async def connect(self, timeout: float) -> None:
        """Connect, read the greeting and negotiate, all within ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock = sock
                sock.settimeout(timeout)
                sock.connect(self.address)
            else:  # names resolved, IPv4 and IPv6 tried, as asyncio does for qemu.qmp
                sock = self.sock = socket.create_connection(self.address, timeout)
        except TimeoutError:  # a listen backlog full of clients that wait, as qmpsh would
            message = failures.no_greeting(self.target, timeout, greeted=False)
            raise ConnectFailed(message) from None
        except OSError as err:
            raise ConnectFailed(failures.os_failure(self.target, self.address, err)) from None
        sock.settimeout(None)
        if not self.negotiate:  # a guest agent: no greeting, no capabilities
            return
        raw = self._handshake_line(deadline, timeout, greeted=False)
        self.info = _greeting(self.target, raw)
        # As qemu.qmp does: out-of-band execution on when offered (exec-oob works alike).
        enable = b', "arguments": {"enable": ["oob"]}' if "oob" in self.info.capabilities else b""
        sock.sendall(b'{"execute": "qmp_capabilities"' + enable + b"}\n")
        raw = self._handshake_line(deadline, timeout, greeted=True)
        try:
            reply = messages.parse(raw)
        except messages.TooDeep:
            raise ConnectFailed(failures.greeting_too_deep(self.target)) from None
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or "return" not in reply:
            raise ConnectFailed(failures.negotiation_failed(self.target, raw))

    def _handshake_line(self, deadline: float, timeout: float, *, greeted: bool) -> bytes:
        try:
            line = self._line(deadline)
            while messages.is_handshake_event(line):
                line = self._line(deadline)
        except TimeoutError:
            arrived = bool(self._buffer)
            message = failures.no_greeting(self.target, timeout, greeted=greeted, arrived=arrived)
            raise ConnectFailed(message) from None
        except ConnectionLost:
            raise ConnectFailed(failures.closed_early(self.target, greeted=greeted)) from None
        return line

    # -- commands -----------------------------------------------------------------

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        if fd >= 0:
            self._pass_fd(fd)
        msg_id = self._send(message, quiet=quiet)
        self._flush()
        command = message.get("execute") or message.get("exec-oob")
        return self._reply(msg_id, command, timeout)

    def submit(self, message: Mapping[str, object]) -> object:
        command = message.get("execute") or message.get("exec-oob")
        msg_id = self._send(message)
        if isinstance(msg_id, str):  # queries sent ahead carry ours (a user's id is not sent so)
            self._due.add(msg_id)
        return (msg_id, command)

    async def result(self, ticket: object, timeout: float | None) -> dict[str, object]:
        msg_id, command = _ticket(ticket)
        self._flush()
        try:
            return self._reply(msg_id, command, timeout, eager=len(self._due) > 1)
        finally:
            self._forget(msg_id)

    def drop(self, ticket: object) -> None:
        """Its reply will be read past, unseen, when a later reply is awaited."""
        self._forget(_ticket(ticket)[0])

    def _forget(self, msg_id: object) -> None:
        if isinstance(msg_id, str):
            self._due.discard(msg_id)
            self._early.pop(msg_id, None)

    def _send(self, message: Mapping[str, object], *, quiet: bool = False) -> object:
        """Encode ``message`` for the next write; the id its reply will carry (the
        user's own, of any JSON type, or one numbered here as qemu.qmp numbers them)."""
        if "id" in message:
            messages.check_own_id(message)
            sent = dict(message)
        elif quiet:
            self._quiet += 1
            sent = {**message, "id": messages.quiet_id(self._quiet)}
        else:
            sent = {**message, "id": f"__qmp#{self._next_id:05d}"}
            self._next_id += 1
        data = messages.encode(sent).encode() + b"\n"
        self._observers.notify("send", sent, quiet=quiet)
        self._held.append(data)
        return sent["id"]

    def _flush(self) -> None:
        """Write what is held: queries sent ahead go in one write, so QEMU reads them
        in one go instead of waking for each."""
        if not self._held:
            return
        data, self._held = b"".join(self._held), []
        try:
            self._socket().sendall(data)
        except OSError:
            raise ConnectionLost(self._closed_message()) from None

    def _pass_fd(self, fd: int) -> None:
        """A file descriptor for the next command (getfd, add-fd), as qemu.qmp sends it."""
        self._flush()
        try:
            self._socket().sendmsg(
                [b" "], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("@i", fd))]
            )
        except OSError as err:
            raise InputError(f"cannot pass the file descriptor: {err}") from None

    def _reply(
        self, msg_id: object, command: object, timeout: float | None, *, eager: bool = False
    ) -> Message:
        """Read until the reply with ``msg_id``; events and other replies on the way are
        handed to the observers. ``eager``: more replies are due (see ``SPIN``)."""
        if isinstance(msg_id, str) and msg_id in self._early:
            return self._early.pop(msg_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                msg = self._receive(deadline, eager=eager)
            except TimeoutError:
                raise NoReply(failures.no_reply(self.target, command, timeout or 0)) from None
            if "event" in msg:
                continue
            if "id" not in msg and "error" in msg:
                return self._parse_error(msg, msg_id)
            got = msg.get("id")
            if got == msg_id:
                return msg
            if isinstance(got, str) and got in self._due:  # one submitted: keep it for result
                self._early[got] = msg

    def _parse_error(self, msg: Message, msg_id: object) -> Message:
        """An error without an id: QEMU could not parse a command. With one command in
        flight it is that command's answer; with more, nobody can tell whose."""
        in_flight = {msg_id} | (self._due - self._early.keys())
        if len(in_flight) == 1:
            return msg
        self._failure = failures.unattributed_error(msg)
        self._end()
        raise ConnectionLost(self._closed_message())

    def _receive(self, deadline: float | None, *, eager: bool = False) -> Message:
        """The next message, handed to the observers first.

        ``TimeoutError`` past ``deadline``; ``ConnectionLost`` when the socket ends.
        """
        line = self._line(deadline, eager=eager)
        try:
            msg = decode(line.lstrip(b"\xff"))  # qemu-ga: 0xFF before a synced reply
        except BadMessage as bad:  # nothing after it can be trusted: the end
            self._failure = str(bad)
            self._end()
            raise ConnectionLost(self._closed_message()) from None
        msg_id = msg.get("id")
        quiet = messages.is_quiet(msg_id)
        self._observers.notify("recv", msg, quiet=quiet)
        return msg

    # -- waiting --------------------------------------------------------------------

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool:
        if self._pending():  # a whole message already read: no need to look further
            self._receive(None)
            return False
        sock = self._socket().fileno()
        watched = [sock] if fd is None else [sock, fd]
        readable = select.select(watched, [], [], timeout)[0]
        if sock in readable:
            self._fill(None)
            while self._pending():
                self._receive(None)
        return fd is not None and fd in readable

    async def wait_closed(self) -> str:
        try:
            while True:
                await self.wait()
        except ConnectionLost as lost:
            return str(lost)

    # -- the socket ---------------------------------------------------------------

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise ConnectionLost(self._closed_message())
        return self.sock

    def _pending(self) -> bool:
        """Whether a whole message is already read (so ``_receive`` will not block)."""
        return self._buffer.find(b"\n", self._scanned) >= 0

    def _line(self, deadline: float | None, *, eager: bool = False) -> bytes:
        buffer = self._buffer
        while (end := buffer.find(b"\n", self._scanned)) < 0:
            self._scanned = len(buffer)
            if len(buffer) > MAX_MESSAGE:
                self._failure = failures.too_big(MAX_MESSAGE)
                raise ConnectionLost(self._closed_message())
            self._fill(deadline, eager=eager)
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        self._scanned = 0
        return line

    def _fill(self, deadline: float | None, *, eager: bool = False) -> None:
        if eager and SPIN and self._poll():
            return
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._socket()], [], [], left)[0]:
                raise TimeoutError
        self._recv()

    def _poll(self) -> bool:
        """Read what arrives within ``SPIN`` seconds, without sleeping; whether anything did.

        The loop is the hot path of queries sent ahead: one socket call per turn.
        """
        recv, clock = self._socket().recv, time.perf_counter
        until = clock() + SPIN
        while clock() < until:
            try:
                data = recv(1 << 18, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                raise ConnectionLost(self._closed_message())
            self._buffer += data
            return True
        return False

    def _recv(self) -> None:
        """One read into the buffer; ``ConnectionLost`` at the socket's end."""
        try:
            data = self._socket().recv(1 << 18)
        except OSError:
            data = b""
        if not data:
            raise ConnectionLost(self._closed_message())
        self._buffer += data

    def _closed_message(self) -> str:
        return f"{self.target}: {self._failure or 'connection closed by QEMU'}"

    async def close(self) -> None:
        self._end()

    def _end(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _ticket(ticket: object) -> tuple[object, object]:
    assert isinstance(ticket, tuple)
    msg_id, command = ticket
    return msg_id, command


def _greeting(target: str, raw: bytes) -> ServerInfo:
    """What the greeting says; ``ConnectFailed`` saying what the server is if not QMP."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ConnectFailed(failures.not_utf8(target)) from None
    try:
        greeting = messages.parse(text)
    except messages.TooDeep:
        raise ConnectFailed(failures.greeting_too_deep(target)) from None
    except ValueError:
        raise ConnectFailed(failures.not_qmp(target, raw)) from None
    qmp = greeting.get("QMP") if isinstance(greeting, dict) else None
    version = qmp.get("version") if isinstance(qmp, dict) else None
    capabilities = qmp.get("capabilities") if isinstance(qmp, dict) else None
    if not isinstance(version, dict) or not isinstance(capabilities, list):
        # Rare: let qemu.qmp's own check say what is wrong, in its words.
        from qmpsh.transport.qemu_qmp import greeting_problem

        raise ConnectFailed(f"{target}: not a QMP server ({greeting_problem(raw)})")
    return greeting_info(version, capabilities)
