"""A fault-injecting fake QMP server, for what a real QEMU will not do on demand.

Real QEMU (``tests.support.qemu.start_qemu``) is the default in these tests; this server
stands in only for faults: a monitor that never greets, a peer that is not QMP
at all, a negotiation that never finishes, a qemu-ga socket. It runs an asyncio
loop in a background thread, so synchronous tests use it as a context manager::

    with FakeServer(Behaviour.QMP, commands={"query-status": {"status": "running"}}) as fake:
        run_qmpsh(str(fake.path), "-c", "query-status")

Each connection is served by the instance's ``behaviour``. In the ``QMP`` and
``GUEST_AGENT`` modes every request is looked up in ``commands``; a value is
one of

* a JSON value: the ``return`` of a successful reply;
* ``QmpError(cls, desc)``: an ``error`` reply;
* a ``Handler``: ``async def handler(conn, request) -> None`` that answers (or
  not) through ``conn``. This is the hook for later faults: stall on one
  command (``await conn.stall()``), disconnect mid-reply
  (``await conn.send_raw(b'{"return": {"sta'); conn.abort()``), huge replies
  (``await conn.reply(request, big_value)``), event floods (``conn.event(...)``
  in a loop, before or after the reply).

Every message a client sends is recorded in ``received``, in order, so a test
can check what actually crossed the socket.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import enum
import json
import random
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast


class Behaviour(enum.Enum):
    """How the server treats every connection it accepts."""

    SILENT = "silent"  # accepts, never says anything (a monitor busy with another client)
    GARBAGE = "garbage"  # random bytes that are not JSON, then a newline
    TEXT = "text"  # one plain text line (e.g. an SSH banner: the wrong port)
    INVALID_UTF8 = "invalid_utf8"  # a greeting that is right but for bytes that are not UTF-8
    NO_CAPABILITIES = "no_capabilities"  # {"QMP": {"version": ...}} without "capabilities"
    CLOSE = "close"  # accepts, then closes at once
    STALL_AFTER_GREETING = "stall_after_greeting"  # greets, never answers qmp_capabilities
    REFUSE_NEGOTIATION = "refuse_negotiation"  # greets, answers qmp_capabilities with an error
    CLOSE_AFTER_GREETING = "close_after_greeting"  # greets, hangs up on qmp_capabilities
    QMP = "qmp"  # a well-behaved QMP monitor answering from ``commands``
    GUEST_AGENT = "guest_agent"  # qemu-ga: no greeting, no negotiation
    DRIP = "drip"  # a right greeting, a byte every 50 ms: slow, never silent
    EVENT_FIRST = "event_first"  # an event before the greeting (QEMU can), then QMP


@dataclass(frozen=True)
class QmpError:
    """An ``error`` reply: ``{"error": {"class": cls, "desc": desc}}``."""

    cls: str
    desc: str


Handler = Callable[["Connection", dict[str, Any]], Awaitable[None]]
Answer = object  # a JSON value, a QmpError, or a Handler

DEFAULT_VERSION: dict[str, Any] = {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}
DEFAULT_TEXT = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
GUEST_AGENT_VERSION = "7.2.0"


class Connection:
    """One accepted client; what a ``Handler`` uses to answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, message: Mapping[str, Any]) -> None:
        """One QMP message: compact JSON and CRLF, as QEMU writes it."""
        await self.send_raw(json.dumps(message).encode() + b"\r\n")

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, request: Mapping[str, Any], value: object) -> None:
        """A ``return`` (or, for a ``QmpError``, an ``error``) echoing the request's id."""
        message: dict[str, Any]
        if isinstance(value, QmpError):
            message = {"error": {"class": value.cls, "desc": value.desc}}
        else:
            message = {"return": value}
        if "id" in request:
            message["id"] = request["id"]
        await self.send(message)

    async def event(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        now = time.time()
        message: dict[str, Any] = {
            "event": name,
            "timestamp": {"seconds": int(now), "microseconds": int(now % 1 * 1e6)},
        }
        if data is not None:
            message["data"] = dict(data)
        await self.send(message)

    async def stall(self) -> None:
        """Never answer again; the connection stays open until the server stops."""
        await asyncio.Event().wait()

    def abort(self) -> None:
        """Drop the connection at once (what a crashing QEMU looks like)."""
        transport = self.writer.transport
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:  # pragma: no cover - stream transports are always asyncio.Transport
            self.writer.close()

    async def requests(self) -> AsyncIterator[dict[str, Any]]:
        """Each JSON object the client sends, until it hangs up.

        Like QEMU's, the parser is a stream parser: clients (qemu.qmp among
        them) need not end a message with a newline. Anything that does not
        parse is kept until more data completes it, or dropped at the end.
        """
        decoder = json.JSONDecoder()
        text = codecs.getincrementaldecoder("utf-8")("replace")
        buffer = ""
        while chunk := await self.reader.read(65536):
            buffer += text.decode(chunk)
            while buffer := buffer.lstrip():
                try:
                    message, end = decoder.raw_decode(buffer)
                except json.JSONDecodeError:
                    break  # incomplete: wait for more
                buffer = buffer[end:]
                if isinstance(message, dict):
                    yield message


class FakeServer:
    """A fake monitor on a unix socket (and optionally on TCP ``127.0.0.1`` and ``::1``).

    ``version`` is the greeting's ``version`` member, ``capabilities`` its
    ``capabilities``; ``commands`` answers requests (see the module docstring).
    """

    def __init__(
        self,
        behaviour: Behaviour = Behaviour.QMP,
        *,
        commands: Mapping[str, Answer] | None = None,
        version: Mapping[str, Any] | None = None,
        capabilities: tuple[str, ...] = ("oob",),
        text: bytes = DEFAULT_TEXT,
        seed: int = 0,
        tcp: bool = False,
        tcp6: bool = False,
    ) -> None:
        self.behaviour = behaviour
        self.commands: dict[str, Answer] = dict(commands or {})
        self.version = dict(version if version is not None else DEFAULT_VERSION)
        self.capabilities = capabilities
        self.text = text
        self.seed = seed
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        #: Exceptions a behaviour or handler raised (a bug in the test); stop() reports them.
        self.errors: list[BaseException] = []
        self._directory = Path(tempfile.mkdtemp(prefix="qmpsh-f", dir="/tmp"))
        self.path = self._directory / "fake.sock"
        self.tcp_port: int | None = None
        self.tcp6_port: int | None = None
        self._want_tcp = tcp
        self._want_tcp6 = tcp6
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle, from the test's thread

    def start(self) -> Self:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every connection and the sockets; fail if a behaviour itself failed."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self._directory.rmdir()
        if self.errors:
            raise AssertionError(f"the fake server failed: {self.errors!r}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        except AssertionError:
            if exc is None:  # do not hide the test's own failure behind the server's
                raise

    @property
    def tcp_target(self) -> str:
        assert self.tcp_port is not None, "started without tcp=True"
        return f"127.0.0.1:{self.tcp_port}"

    @property
    def tcp6_target(self) -> str:
        assert self.tcp6_port is not None, "started without tcp6=True"
        return f"[::1]:{self.tcp6_port}"

    # -- inside the loop

    async def _listen(self) -> None:
        self._servers.append(await asyncio.start_unix_server(self._serve, str(self.path)))
        if self._want_tcp:
            server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.tcp_port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        if self._want_tcp6:
            server = await asyncio.start_server(self._serve, "::1", 0, family=socket.AF_INET6)
            self.tcp6_port = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        # The behaviour runs as its own task so that stop() can cancel it; cancelling
        # the task asyncio's server made for this callback makes asyncio log an error.
        task = asyncio.ensure_future(self._behave(Connection(reader, writer)))
        self._tasks.add(task)
        try:
            await task
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the server is stopping
        except Exception as err:
            self.errors.append(err)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _behave(self, conn: Connection) -> None:
        match self.behaviour:
            case Behaviour.SILENT:
                await _drain_until_eof(conn)
            case Behaviour.GARBAGE:
                await conn.send_raw(garbage(self.seed) + b"\n")
                await _drain_until_eof(conn)
            case Behaviour.TEXT:
                await conn.send_raw(self.text)
                await _drain_until_eof(conn)
            case Behaviour.INVALID_UTF8:
                # A well-formed greeting but for the package name, which is Latin-1.
                await conn.send_raw(
                    b'{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, '
                    b'"package": "Caf\xe9 \xff"}, "capabilities": []}}\r\n'
                )
                await _drain_until_eof(conn)
            case Behaviour.NO_CAPABILITIES:
                await conn.send({"QMP": {"version": self.version}})
                await _drain_until_eof(conn)
            case Behaviour.CLOSE:
                pass
            case Behaviour.STALL_AFTER_GREETING:
                await self._greet(conn)
                async for request in conn.requests():
                    self.received.append(request)  # and never answer
            case Behaviour.REFUSE_NEGOTIATION:
                await self._greet(conn)
                async for request in conn.requests():
                    self.received.append(request)
                    await conn.reply(
                        request, QmpError("GenericError", "Capability 'oob' not available")
                    )
            case Behaviour.CLOSE_AFTER_GREETING:
                await self._greet(conn)
                async for request in conn.requests():
                    self.received.append(request)
                    break
            case Behaviour.QMP:
                await self._greet(conn)
                await self._qmp(conn)
            case Behaviour.GUEST_AGENT:
                await self._guest_agent(conn)
            case Behaviour.EVENT_FIRST:
                await conn.event("RTC_CHANGE", {"offset": 0, "qom-path": "/machine/unattached"})
                await self._greet(conn)
                await self._qmp(conn)
            case Behaviour.DRIP:
                greeting = {"QMP": {"version": self.version, "capabilities": []}}
                for byte in json.dumps(greeting).encode() + b"\r\n":
                    await conn.send_raw(bytes([byte]))
                    await asyncio.sleep(0.05)
                await self._qmp(conn)

    async def _greet(self, conn: Connection) -> None:
        await conn.send({"QMP": {"version": self.version, "capabilities": list(self.capabilities)}})

    async def _qmp(self, conn: Connection) -> None:
        negotiated = False
        async for request in conn.requests():
            self.received.append(request)
            name = request.get("execute")
            if name == "qmp_capabilities":
                if negotiated:
                    await conn.reply(
                        request,
                        QmpError(
                            "CommandNotFound",
                            "Capabilities negotiation is already complete, command ignored",
                        ),
                    )
                else:
                    negotiated = True
                    await conn.reply(request, {})
            elif not negotiated:
                await conn.reply(
                    request,
                    QmpError(
                        "CommandNotFound",
                        "Expecting capabilities negotiation with 'qmp_capabilities'",
                    ),
                )
            else:
                await self._answer(conn, request)

    async def _guest_agent(self, conn: Connection) -> None:
        async for request in conn.requests():
            self.received.append(request)
            name = request.get("execute")
            arguments = request.get("arguments", {})
            if name == "guest-sync-delimited":
                # qemu-ga sends 0xFF first, so a client can find the reply after junk.
                await conn.send_raw(b"\xff")
                await conn.reply(request, arguments.get("id"))
            elif name == "guest-sync":
                await conn.reply(request, arguments.get("id"))
            elif name == "guest-ping" and name not in self.commands:
                await conn.reply(request, {})
            elif name == "guest-info" and name not in self.commands:
                names = ["guest-info", "guest-ping", "guest-sync", "guest-sync-delimited"]
                names += sorted(self.commands)
                await conn.reply(
                    request,
                    {
                        "version": GUEST_AGENT_VERSION,
                        "supported_commands": [
                            {"name": n, "enabled": True, "success-response": True} for n in names
                        ],
                    },
                )
            else:
                await self._answer(conn, request)

    async def _answer(self, conn: Connection, request: dict[str, Any]) -> None:
        name = request.get("execute")
        if not isinstance(name, str) or name not in self.commands:
            await conn.reply(
                request, QmpError("CommandNotFound", f"The command {name} has not been found")
            )
            return
        answer = self.commands[name]
        if callable(answer):
            await cast(Handler, answer)(conn, request)
        else:
            await conn.reply(request, answer)


async def _drain_until_eof(conn: Connection) -> None:
    while await conn.reader.read(4096):
        pass


def garbage(seed: int = 0, size: int = 64) -> bytes:
    """Random bytes that are neither JSON nor a line break: a binary protocol's noise."""
    data = bytes(b for b in random.Random(seed).randbytes(size * 2) if b not in b"\r\n")
    return b"\x00" + data[: size - 1]  # NUL never starts JSON


def unused_tcp_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for a server that must be given one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ipv6_loopback() -> bool:
    """Whether ``::1`` can be bound here (containers sometimes lack IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


__all__ = [
    "Behaviour",
    "Connection",
    "FakeServer",
    "Handler",
    "QmpError",
    "garbage",
    "ipv6_loopback",
    "unused_tcp_port",
]


# -- handlers for the fault matrix (tests/e2e/test_faults.py): each is a ``Handler``


class Gate:
    """Holds its request until the test, from its own thread, lets it go.

    ``arrived`` is set once the request is in (the command is in flight);
    ``release()`` then sends ``value`` as the reply, ``abort()`` drops the
    connection instead (QEMU dying with the command in flight). Meanwhile this
    connection answers nothing else, as a QEMU busy with one command would not.
    """

    def __init__(self, value: object = None) -> None:
        self.value: object = {} if value is None else value
        self.arrived = threading.Event()
        self._go = threading.Event()
        self._drop = False

    async def __call__(self, conn: Connection, request: dict[str, Any]) -> None:
        self.arrived.set()
        while not self._go.is_set():
            await asyncio.sleep(0.01)
        if self._drop:
            conn.abort()
        else:
            await conn.reply(request, self.value)

    def wait_arrived(self, timeout: float = 10.0) -> None:
        assert self.arrived.wait(timeout), "the gated command never reached the server"

    def release(self) -> None:
        self._go.set()

    def abort(self) -> None:
        self._drop = True
        self._go.set()


class Unanswered:
    """Never answers this request, but goes on serving the next ones (a lost reply)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()

    async def __call__(self, conn: Connection, request: dict[str, Any]) -> None:
        self.arrived.set()


async def drop_connection(conn: Connection, request: dict[str, Any]) -> None:
    """The server goes away the moment this request arrives."""
    conn.abort()


def raw_reply(data: bytes) -> Handler:
    """Answer with ``data`` as it is (``ID`` in it replaced by the request's id, as JSON)."""

    async def handler(conn: Connection, request: dict[str, Any]) -> None:
        await conn.send_raw(data.replace(b"ID", json.dumps(request.get("id")).encode()))

    return handler


def half_reply(data: bytes = b'{"return": {"sta') -> Handler:
    """Send the start of a reply (no newline), then drop the connection."""

    async def handler(conn: Connection, request: dict[str, Any]) -> None:
        await conn.send_raw(data)
        conn.abort()

    return handler


def sized_value(size: int, chunk: int = 1000) -> list[str]:
    """A JSON value of at least ``size`` bytes, even written compactly: strings of digits."""
    return [f"{n:0{chunk}d}" for n in range(-(-size // (chunk + 3)))]


def event_flood(count: int, name: str = "FLOOD", *, reply_first: bool = False) -> Handler:
    """``count`` events numbered in ``data.n`` (0, 1, ...), before the reply or after it."""

    async def handler(conn: Connection, request: dict[str, Any]) -> None:
        if reply_first:
            await conn.reply(request, {})
        for n in range(count):
            await conn.event(name, {"n": n})
        if not reply_first:
            await conn.reply(request, {})

    return handler


__all__ += [
    "Gate",
    "Unanswered",
    "drop_connection",
    "event_flood",
    "half_reply",
    "sized_value",
]
