"""A QMP monitor over a blocking socket, for scripts that only send commands.

Why not qemu.qmp here: a script that pipes one command into qmpsh spends most
of its life starting up, and asyncio alone (which qemu.qmp is built on) costs
more start-up than the whole of qmp-shell's lead over a raw socket client
(benchmarks/README.md, P1: qemu.qmp's own floor is 0.96 x qmp-shell, the goal
0.9 x). So plain scripts talk QMP here, in lock-step or with queries sent ahead,
and hand the socket to ``protocol`` (qemu.qmp) as soon as a line needs more
(``directscript``). The failure texts are ``server``'s, shared with ``protocol``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import time
from collections.abc import Callable, Mapping

from qmpsh.errors import ConnectFailed, ConnectionLost, InputError, NoReply
from qmpsh.transport import failures as server
from qmpsh.transport.failures import MAX_MESSAGE, ServerInfo, parse_target

Message = dict[str, object]

#: While replies to queries sent ahead are due, how long to poll for the next before
#: sleeping in select. Waking once per reply puts qmpsh on QEMU's CPU, where the two
#: take turns: 0.16 ms per query against 0.11 ms when qmpsh stays busy on a CPU of
#: its own (benchmarks/README.md, P2). Not with one CPU, where polling would only
#: keep QEMU from answering.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
SPIN = 0.0003 if (_CPUS or 1) > 1 else 0.0
#: Called with ("send" | "recv", message) for the user's commands, replies and events.
Observer = Callable[[str, Mapping[str, object]], None]


class Direct:
    """One negotiated QMP connection; every wait is bounded by a deadline or by EOF."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.address = parse_target(target)
        self.info = ServerInfo()
        self.sock: socket.socket | None = None
        self.observers: list[Observer] = []
        #: Observers of qmpsh's own questions too (a transcript of the socket: ``-l``).
        self.all_observers: list[Observer] = []
        #: Called with each event as it is read (after the observers).
        self.on_event: Callable[[Message], None] | None = None
        #: The next id qemu.qmp would give a command (``__qmp#00000`` on): the same
        #: ids in ``--json`` and ``-v`` whichever client sends, and after a hand-over.
        self.next_id = 0
        self._quiet = 0
        #: More replies are due (queries sent ahead): poll briefly before sleeping (SPIN).
        self.eager = False
        self._held: list[bytes] = []  # commands kept to go in one write (send)
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no newline
        self._failure = ""
        #: The socket has ended (``settle`` after ``quit``): nothing to hand over.
        self.ended = False

    # -- connecting ---------------------------------------------------------------

    def connect(self, timeout: float) -> None:
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
            raise ConnectFailed(server.no_greeting(self.target, timeout, greeted=False)) from None
        except OSError as err:
            raise ConnectFailed(server.os_failure(self.target, self.address, err)) from None
        sock.settimeout(None)
        raw = self._handshake_line(deadline, timeout, greeted=False)
        self.info = _greeting(self.target, raw)
        # As qemu.qmp does: out-of-band execution on when offered (exec-oob works alike).
        enable = b', "arguments": {"enable": ["oob"]}' if "oob" in self.info.capabilities else b""
        sock.sendall(b'{"execute": "qmp_capabilities"' + enable + b"}\n")
        raw = self._handshake_line(deadline, timeout, greeted=True)
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or "return" not in reply:
            shown = server.what_was_sent(raw)
            raise ConnectFailed(f"{self.target}: QMP capabilities negotiation failed ({shown})")

    def _handshake_line(self, deadline: float, timeout: float, *, greeted: bool) -> bytes:
        try:
            line = self._line(deadline)
        except TimeoutError:
            raise ConnectFailed(server.no_greeting(self.target, timeout, greeted=greeted)) from None
        except ConnectionLost:
            if greeted:
                raise ConnectFailed(f"{self.target}: connection closed by QEMU") from None
            raise ConnectFailed(server.closed_early(self.target)) from None
        return line

    # -- commands -----------------------------------------------------------------

    def send(
        self, message: Mapping[str, object], *, quiet: bool = False, hold: bool = False
    ) -> str:
        """Send one command; return the id its reply will carry.

        ``hold`` keeps it for the next send or ``flush``: queries sent ahead go in
        one write, so QEMU reads them in one go instead of waking for each.
        """
        if quiet:
            self._quiet += 1
            msg_id = f"qmpsh-{self._quiet}"
        else:
            msg_id = f"__qmp#{self.next_id:05d}"
            self.next_id += 1
        sent = {**message, "id": msg_id} if "id" not in message else dict(message)
        try:
            data = json.dumps(sent, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        except (TypeError, ValueError) as err:
            raise InputError(f"cannot send: {err}") from None
        self._notify("send", sent, quiet=quiet)
        self._held.append(data)
        if not hold:
            self.flush()
        return str(sent["id"])

    def flush(self) -> None:
        """Write what ``send(hold=True)`` kept."""
        assert self.sock is not None
        data, self._held = b"".join(self._held), []
        try:
            self.sock.sendall(data)
        except OSError:
            raise ConnectionLost(self.closed_message()) from None

    def reply(self, msg_id: str, command: object, timeout: float | None) -> Message:
        """Read until the reply with ``msg_id``; events on the way go to ``on_event``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                msg = self.receive(deadline)
            except TimeoutError:
                raise NoReply(server.no_reply(self.target, command, timeout or 0)) from None
            if msg is not None and msg.get("id") == msg_id:
                return msg

    def ask(self, command: str, timeout: float | None) -> object:
        """qmpsh's own question: the return value (None on an error); only a transcript
        (``all_observers``) sees it."""
        msg_id = self.send({"execute": command}, quiet=True)
        return self.reply(msg_id, command, timeout).get("return")

    def receive(self, deadline: float | None) -> Message | None:
        """The next reply; None for an event (handed to ``on_event``).

        ``TimeoutError`` past ``deadline``; ``ConnectionLost`` when the socket ends.
        """
        line = self._line(deadline)
        try:
            msg = json.loads(line.lstrip(b"\xff"))
        except ValueError:  # qemu.qmp ends the connection on a message that is not JSON
            self._failure = "connection closed by QEMU"
            raise ConnectionLost(self.closed_message()) from None
        if not isinstance(msg, dict):
            raise ConnectionLost(self.closed_message())
        msg_id = msg.get("id")
        if isinstance(msg_id, str) and msg_id.startswith("qmpsh-"):
            self._notify("recv", msg, quiet=True)  # one of qmpsh's own questions
            return msg
        self._notify("recv", msg)
        if "event" in msg:
            if self.on_event is not None:
                self.on_event(msg)
            return None
        return msg

    def _notify(self, direction: str, msg: Mapping[str, object], *, quiet: bool = False) -> None:
        if not quiet:
            for observer in self.observers:
                observer(direction, msg)
        for observer in self.all_observers:
            observer(direction, msg)

    # -- the socket ---------------------------------------------------------------

    def pending(self) -> bool:
        """Whether a whole message is already read (so ``receive`` will not block)."""
        return self._buffer.find(b"\n", self._scanned) >= 0

    def drain(self) -> None:
        """Read what has arrived, once the socket is readable: events are handed on,
        ``ConnectionLost`` at its end."""
        self._fill(None)
        while self.pending():
            self.receive(None)

    def settle(self, timeout: float | None, *, to_the_end: bool = False) -> None:
        """Hand on every message read so far, finishing one half read, so that nothing
        is left here before ``detach``; ``to_the_end``: also all that comes until QEMU
        closes the socket (after ``quit``), if it does within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while self._buffer or to_the_end:
                self.receive(deadline)
        except TimeoutError:
            if self._buffer:
                stalled = f"{self.target}: QEMU stopped in the middle of a message"
                raise ConnectionLost(stalled) from None
        except ConnectionLost:
            if not to_the_end:
                raise
            self.ended = True

    def fileno(self) -> int:
        assert self.sock is not None
        return self.sock.fileno()

    def _line(self, deadline: float | None) -> bytes:
        buffer = self._buffer
        while (end := buffer.find(b"\n", self._scanned)) < 0:
            self._scanned = len(buffer)
            if len(buffer) > MAX_MESSAGE:
                self._failure = server.too_big(MAX_MESSAGE)
                raise ConnectionLost(self.closed_message())
            self._fill(deadline)
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        self._scanned = 0
        return line

    def _fill(self, deadline: float | None) -> None:
        assert self.sock is not None
        if self.eager and SPIN and self._poll():
            return
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError
        self._recv(0)

    def _poll(self) -> bool:
        """Read what arrives within ``SPIN`` seconds, without sleeping; whether anything did."""
        until = time.perf_counter() + SPIN
        while time.perf_counter() < until:
            with contextlib.suppress(BlockingIOError):
                self._recv(socket.MSG_DONTWAIT)
                return True
        return False

    def _recv(self, flags: int) -> None:
        """One read into the buffer; ``ConnectionLost`` at the socket's end."""
        assert self.sock is not None
        try:
            data = self.sock.recv(1 << 18, flags)
        except BlockingIOError:
            raise
        except OSError:
            data = b""
        if not data:
            raise ConnectionLost(self.closed_message())
        self._buffer += data

    def closed_message(self) -> str:
        return f"{self.target}: {self._failure or 'connection closed by QEMU'}"

    def detach(self) -> socket.socket:
        """The socket, for qemu.qmp to go on with; nothing may be left unread here."""
        assert self.sock is not None and not self._buffer
        sock, self.sock = self.sock, None
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _greeting(target: str, raw: bytes) -> ServerInfo:
    """What the greeting says; ``ConnectFailed`` saying what the server is if not QMP."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ConnectFailed(server.not_utf8(target)) from None
    try:
        greeting = json.loads(text)
    except ValueError:
        raise ConnectFailed(server.not_qmp(target, raw)) from None
    qmp = greeting.get("QMP") if isinstance(greeting, dict) else None
    version = qmp.get("version") if isinstance(qmp, dict) else None
    capabilities = qmp.get("capabilities") if isinstance(qmp, dict) else None
    if not isinstance(version, dict) or not isinstance(capabilities, list):
        # Rare: let qemu.qmp's own check say what is wrong, in its words.
        from qmpsh.transport.qemu_qmp import greeting_problem

        raise ConnectFailed(f"{target}: not a QMP server ({greeting_problem(raw)})")
    return server.greeting_info(version, capabilities)
