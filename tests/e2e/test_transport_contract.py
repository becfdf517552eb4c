"""The ``Transport`` contract, written once and checked on every transport.

Each test is one coroutine, run by its transport's harness: without an event loop
for the blocking socket (``drive``: its coroutines never suspend), under
``asyncio.run`` for qemu.qmp and libvirt. The server is real QEMU (``-machine
none``; the suite's own domain for libvirt), and a real qemu-ga for ``-N``;
``tests/fakeserver.py`` stands in only for what QEMU will not do on demand (a
reply cut short, a greeting that is not QMP). Where a test cannot apply to a
transport, its parametrization says why; where transports disagree today, a
strict ``xfail`` names the disagreement, and turns red once it is mended.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from qmpsh.cli.run import drive
from qmpsh.errors import ConnectFailed, ConnectionLost, InputError, NoReply
from qmpsh.transport import failures, messages
from qmpsh.transport.blocking import BlockingTransport
from qmpsh.transport.interface import ServerInfo, Transport
from qmpsh.transport.qemu_qmp import QmpTransport
from qmpsh.transport.targets import make_transport
from tests.support.busy import queue_filled
from tests.support.fakeserver import (
    Behaviour,
    Connection,
    FakeServer,
    drop_connection,
    event_flood,
    half_reply,
    raw_reply,
)
from tests.support.guest_agent import GuestAgent
from tests.support.libvirt import Libvirt
from tests.support.qemu import Qemu

pytestmark = pytest.mark.every_qemu

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., None])

#: How long anything a test awaits may take before the test fails.
DEADLINE = 20.0
#: A timeout a test expects to run out (kept short: the suite waits it out).
SHORT = 0.3

BLOCKING, QEMU_QMP, LIBVIRT = "blocking", "qemu.qmp", "libvirt"

# -- harnesses: how each transport is made and its coroutines run


class Harness(Protocol):
    kind: str

    def make(self, target: str, *, negotiate: bool = True) -> Transport: ...

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T: ...


class WithoutLoop:
    """The blocking transport, driven as ``cli.run`` drives a script: no event loop."""

    kind = BLOCKING

    def make(self, target: str, *, negotiate: bool = True) -> Transport:
        return BlockingTransport(target, negotiate=negotiate)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return drive(coroutine)


class OnLoop:
    """qemu.qmp or libvirt, under ``asyncio.run`` as the prompt and ``--all`` run them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def make(self, target: str, *, negotiate: bool = True) -> Transport:
        if self.kind == QEMU_QMP:
            return QmpTransport(target, negotiate=negotiate)
        return make_transport(target, negotiate=negotiate)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(coroutine)


HARNESSES: dict[str, Harness] = {
    BLOCKING: WithoutLoop(),
    QEMU_QMP: OnLoop(QEMU_QMP),
    LIBVIRT: OnLoop(LIBVIRT),
}


def transports(
    *, not_libvirt: str = "", xfail: Mapping[str, str] | None = None, qemu: bool = True
) -> Callable[[F], F]:
    """Run a test once per transport. ``not_libvirt``: why libvirt cannot apply (the
    case is skipped saying so); ``xfail``: transports that break this part of the
    contract today, and how; ``qemu``: the test starts a real QEMU."""
    params = []
    for kind in HARNESSES:
        marks: list[pytest.MarkDecorator] = []
        if kind == LIBVIRT and not_libvirt:
            marks.append(pytest.mark.skip(reason=f"libvirt: {not_libvirt}"))
        if xfail and kind in xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=xfail[kind]))
        params.append(pytest.param(kind, marks=marks, id=kind))

    def decorate(test: F) -> F:
        test = pytest.mark.parametrize("harness", params, indirect=True)(test)
        return pytest.mark.qemu(test) if qemu else test

    return decorate


#: Why a raw socket's faults cannot apply to libvirt.
LIBVIRTD_HOLDS_THE_SOCKET = (
    "libvirtd holds the domain's monitor socket and speaks QMP to it itself; "
    "qmpsh never sees that socket, so a fake server cannot stand in for QEMU"
)


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Harness:
    return HARNESSES[request.param]


# -- servers: what each test talks to, and what the test knows of it from outside


@dataclass
class Server:
    """A running QEMU as a transport reaches it, and what the test learnt of it
    without qmpsh: ``info`` is what the greeting (or libvirt) should report,
    ``answers`` what QEMU returns to each of ``QUERIES``, ``lost`` whether words
    say that the connection ended once QEMU was killed."""

    target: str
    name: str
    pid: int
    info: ServerInfo
    answers: dict[str, object]
    lost: Callable[[str], bool]
    qemu: Qemu | None = None  # with a spare monitor for the test (not through libvirt)

    @contextmanager
    def stalled(self) -> Iterator[None]:
        """QEMU stopped (SIGSTOP): it reads nothing and answers nothing until the end."""
        os.kill(self.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        if self.qemu is not None:
            self.qemu.process.wait()


#: Queries whose answers the tests compare (asked through the spare monitor or virsh).
QUERIES = ("query-name", "query-status", "query-kvm")


def socket_server(qemu: Qemu) -> Server:
    greeting = qemu.client().greeting["QMP"]
    numbers = greeting["version"]["qemu"]
    target = str(qemu.qmp)
    return Server(
        target=target,
        name="testvm",
        pid=qemu.process.pid,
        info=ServerInfo(
            f"{numbers['major']}.{numbers['minor']}.{numbers['micro']}",
            greeting["version"]["package"].strip(),
            tuple(greeting["capabilities"]),
        ),
        answers={name: qemu.client().cmd(name) for name in QUERIES},
        lost=f"{target}: connection closed by QEMU".__eq__,
        qemu=qemu,
    )


def domain_server(libvirt: Libvirt, name: str) -> Server:
    """A libvirt domain; ``info`` from query-version through virsh, which has no
    greeting to show (libvirtd negotiated with QEMU on its own)."""
    answers = {
        command: json.loads(
            libvirt.virsh("qemu-monitor-command", name, json.dumps(query(command)))
        )["return"]
        for command in (*QUERIES, "query-version")
    }
    version = answers.pop("query-version")
    numbers = version["qemu"]
    target = libvirt.target.replace(libvirt.domain, name)
    return Server(
        target=target,
        name=name,
        pid=int(Path(f"/run/libvirt/qemu/{name}.pid").read_text()),
        info=ServerInfo(
            f"{numbers['major']}.{numbers['minor']}.{numbers['micro']}",
            version["package"].strip(),
        ),
        answers=answers,
        lost=lambda text: text.startswith(f"{target}: domain {name!r} "),
    )


@pytest.fixture
def server(request: pytest.FixtureRequest, harness: Harness) -> Iterator[Server]:
    """A fresh ``-machine none`` QEMU, or the suite's libvirt domain (left running)."""
    if harness.kind != LIBVIRT:
        yield socket_server(request.getfixturevalue("qemu"))
        return
    libvirt: Libvirt = request.getfixturevalue("libvirt")
    yield domain_server(libvirt, libvirt.domain)
    if libvirt.virsh("domstate", libvirt.domain).strip() == "paused":
        libvirt.virsh("resume", libvirt.domain)  # a test failed between stop and cont


@pytest.fixture
def doomed(request: pytest.FixtureRequest, harness: Harness) -> Iterator[Server]:
    """A QEMU the test may kill: its own QEMU, or a transient libvirt domain."""
    if harness.kind != LIBVIRT:
        yield socket_server(request.getfixturevalue("qemu"))
        return
    libvirt: Libvirt = request.getfixturevalue("libvirt")
    name = f"{libvirt.domain}-contract"
    libvirt.transient(name)
    try:
        yield domain_server(libvirt, name)
    finally:
        libvirt.virsh("destroy", name, check=False)


# -- helpers


class Seen:
    """An observer that keeps what it is shown, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, object]]] = []

    def __call__(self, direction: str, msg: Mapping[str, object]) -> None:
        self.messages.append((direction, dict(msg)))

    def events(self) -> list[object]:
        return [msg["event"] for _, msg in self.messages if "event" in msg]


@asynccontextmanager
async def connection(
    harness: Harness,
    target: str,
    *,
    negotiate: bool = True,
    seen: Seen | None = None,
    quietly: Seen | None = None,
) -> AsyncIterator[Transport]:
    """A connected transport (observed by ``seen``, and ``quietly`` with quiet=True)."""
    transport = harness.make(target, negotiate=negotiate)
    if seen is not None:
        transport.observe(seen)
    if quietly is not None:
        transport.observe(quietly, quiet=True)
    await transport.connect(DEADLINE)
    try:
        yield transport
    finally:
        await transport.close()


async def until(transport: Transport, arrived: Callable[[], bool], what: str) -> None:
    """Wait (``Transport.wait``) until ``arrived()``; each wait must be woken by what
    came, not by its timeout running out."""
    deadline = time.monotonic() + DEADLINE
    while not arrived():
        assert await transport.wait(timeout=max(0, deadline - time.monotonic())) is False
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"


async def until_event(transport: Transport, seen: Seen, name: str) -> None:
    await until(transport, lambda: name in seen.events(), f"{name} event in {seen.messages}")


async def until_lost(transport: Transport) -> str:
    """Wait until ``Transport.wait`` says the connection has ended; its words."""
    deadline = time.monotonic() + DEADLINE
    while (left := deadline - time.monotonic()) > 0:
        try:
            await transport.wait(timeout=left)
        except ConnectionLost as lost:
            return str(lost)
    raise AssertionError(f"the connection did not end within {DEADLINE} s")


def query(name: str, **arguments: object) -> dict[str, object]:
    return {"execute": name, "arguments": arguments} if arguments else {"execute": name}


def fds_open_on(pid: int, path: Path) -> int:
    """How many descriptors of process ``pid`` are open on ``path``."""
    count = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(entry) == str(path)
        except OSError:  # closed meanwhile
            continue
    return count


# -- greeting and negotiation


@transports()
def test_info_says_what_the_server_is(harness: Harness, server: Server) -> None:
    async def body() -> ServerInfo:
        async with connection(harness, server.target) as transport:
            return transport.info

    info = harness.run(body())
    assert info == server.info
    assert info.version.count(".") == 2 and info.package
    if harness.kind != LIBVIRT:  # libvirtd has the greeting; qmpsh asks query-version
        assert "oob" in info.capabilities


@transports(not_libvirt="libvirtd negotiates with QEMU itself", qemu=False)
@pytest.mark.parametrize("offered", [("oob",), ()], ids=["oob offered", "nothing offered"])
def test_negotiation_enables_oob_only_when_offered(
    harness: Harness, offered: tuple[str, ...]
) -> None:
    version = {"qemu": {"major": 9, "minor": 1, "micro": 2}, "package": " v9.1.2-custom\n"}

    async def body(target: str) -> tuple[ServerInfo, dict[str, object]]:
        async with connection(harness, target) as transport:
            return transport.info, await transport.execute(query("query-name"))

    commands = {"query-name": {"name": "fake"}}
    with FakeServer(capabilities=offered, version=version, commands=commands) as fake:
        info, reply = harness.run(body(str(fake.path)))
    assert info == ServerInfo("9.1.2", "v9.1.2-custom", offered)
    assert reply["return"] == {"name": "fake"}
    negotiation, command = fake.received
    assert negotiation["execute"] == "qmp_capabilities"
    assert negotiation.get("arguments", {}) == ({"enable": ["oob"]} if offered else {})
    assert command["execute"] == "query-name"


@transports(not_libvirt="libvirtd negotiates with QEMU itself", qemu=False)
def test_an_event_before_the_greeting_is_passed_over(harness: Harness) -> None:
    """QEMU can send an event to a client it has just accepted before greeting it."""

    async def body(target: str) -> tuple[ServerInfo, dict[str, object]]:
        async with connection(harness, target) as transport:
            return transport.info, await transport.execute(query("query-name"))

    commands = {"query-name": {"name": "fake"}}
    with FakeServer(Behaviour.EVENT_FIRST, commands=commands) as fake:
        info, reply = harness.run(body(str(fake.path)))
    assert info.version  # the greeting after the event was read
    assert reply["return"] == {"name": "fake"}
    assert [request["execute"] for request in fake.received] == ["qmp_capabilities", "query-name"]


@transports(not_libvirt="-N is for a guest agent's own socket; libvirt reaches only the monitor")
def test_no_negotiation_with_a_guest_agent(harness: Harness, guest_agent: GuestAgent) -> None:
    seen = Seen()

    async def body(target: str, *, check: bool) -> None:
        async with connection(harness, target, negotiate=False, seen=seen) as transport:
            assert transport.info == ServerInfo()
            if check:  # the real agent
                ping = await transport.execute(query("guest-ping"))
                assert ping["return"] == {}
                # qemu-ga sends 0xFF before this reply: read past, not a broken message
                synced = await transport.execute(query("guest-sync-delimited", id=5))
                assert synced["return"] == 5
            else:
                await transport.execute(query("guest-ping"))

    harness.run(body(str(guest_agent.socket), check=True))
    sent = [msg["execute"] for direction, msg in seen.messages if direction == "send"]
    assert sent == ["guest-ping", "guest-sync-delimited"]
    with FakeServer(Behaviour.GUEST_AGENT) as fake:  # what crossed, seen by the agent
        harness.run(body(str(fake.path), check=False))
    assert [msg["execute"] for msg in fake.received] == ["guest-ping"]


# -- ids and observers


@transports()
def test_a_users_own_id_comes_back_on_the_reply(harness: Harness, server: Server) -> None:
    seen = Seen()

    async def body() -> dict[str, object]:
        async with connection(harness, server.target, seen=seen) as transport:
            return await transport.execute({"execute": "query-name", "id": "mine"})

    reply = harness.run(body())
    assert reply == {"return": server.answers["query-name"], "id": "mine"}
    (out, sent), (back, received) = seen.messages
    assert (out, back) == ("send", "recv")
    assert sent["execute"] == "query-name"
    assert sent.get("id", "mine") == "mine"  # libvirt numbers the command itself
    assert received == reply


@transports()
def test_a_non_string_id_is_kept_or_refused_never_waited_on(
    harness: Harness, server: Server
) -> None:
    """QMP allows any JSON value as an id; qemu.qmp refuses all but strings, libvirt
    keeps any. Either is fine; waiting for a reply that has come is not."""

    async def body() -> list[object]:
        outcomes: list[object] = []
        async with connection(harness, server.target) as transport:
            for own in (7, {"n": [1]}):
                try:
                    reply = await transport.execute(query("query-name") | {"id": own}, timeout=2)
                except InputError as err:
                    outcomes.append(str(err))
                else:
                    outcomes.append(reply["id"] == own)
            outcomes.append(await transport.execute(query("query-name"), timeout=5))
        return outcomes

    *outcomes, last = harness.run(body())
    for outcome in outcomes:
        assert outcome is True or (isinstance(outcome, str) and "must be a string" in outcome)
    assert isinstance(last, dict) and last["return"] == server.answers["query-name"]


async def stray_ids_first(conn: Connection, request: dict[str, Any]) -> None:
    """Replies nobody asked for, whose ids are an object and an array, then the answer."""
    await conn.send_raw(b'{"return": {}, "id": {"n": [1]}}\n{"return": {}, "id": [1, {}]}\n')
    await conn.reply(request, {"name": "fake"})


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
def test_a_reply_whose_id_is_an_object_or_array_is_dropped(harness: Harness) -> None:
    """QMP lets an id be any JSON value; a reply with one nobody waits for is dropped (the
    QMP spec's rule for unknown ids), seen by the observers, and the connection goes on."""
    seen = Seen()

    async def body(target: str) -> list[dict[str, object]]:
        async with connection(harness, target, seen=seen) as transport:
            return [await transport.execute(query("stray"), timeout=DEADLINE) for _ in range(2)]

    with FakeServer(commands={"stray": stray_ids_first}) as fake:
        replies = harness.run(body(str(fake.path)))
    assert [reply["return"] for reply in replies] == [{"name": "fake"}] * 2
    received = [msg["id"] for direction, msg in seen.messages if direction == "recv"]
    assert received[:3] == [{"n": [1]}, [1, {}], replies[0]["id"]]


@transports()
def test_an_id_that_looks_like_ours_is_refused(harness: Harness, server: Server) -> None:
    """``__qmp#`` starts the ids qmpsh numbers its commands with: a user's id that does
    could be taken for the reply to another command, so no transport sends it."""

    async def body() -> tuple[str, dict[str, object]]:
        async with connection(harness, server.target) as transport:
            with pytest.raises(InputError) as refused:
                await transport.execute(query("query-name") | {"id": "__qmp#00000"})
            return str(refused.value), await transport.execute(query("query-name"))

    said, after = harness.run(body())
    assert said == (
        "cannot send: the id '__qmp#00000' starts with '__qmp#', which qmpsh keeps for its "
        "own commands; choose another"
    )
    assert after["return"] == server.answers["query-name"]


@transports()
def test_only_our_prefix_marks_our_own_questions(harness: Harness, server: Server) -> None:
    """qmpsh's quiet questions are numbered under the prefix ``check_own_id`` refuses, so
    no id a user may send (``qmpsh-1`` included) passes for one: its reply is the user's,
    shown as any other."""
    seen, quietly = Seen(), Seen()

    async def body() -> dict[str, object]:
        async with connection(harness, server.target, seen=seen, quietly=quietly) as transport:
            before = len(quietly.messages)
            await transport.execute(query("query-status"), quiet=True)
            asked = [msg.get("id") for _, msg in quietly.messages[before:]]
            if harness.kind != LIBVIRT:  # libvirt numbers what it sends itself
                assert [str(msg_id)[:6] for msg_id in asked] == [messages.OWN_ID_PREFIX] * 2
            return await transport.execute({"execute": "query-name", "id": "qmpsh-1"})

    reply = harness.run(body())
    assert reply["id"] == "qmpsh-1" and reply["return"] == server.answers["query-name"]
    assert [d for d, _ in seen.messages] == ["send", "recv"]
    assert seen.messages[-1][1] == reply


@transports(not_libvirt="libvirt numbers the commands it sends itself (libvirt-N)")
def test_our_ids_count_up_in_order(harness: Harness, server: Server) -> None:
    seen = Seen()

    async def body() -> list[dict[str, object]]:
        async with connection(harness, server.target, seen=seen) as transport:
            replies = [await transport.execute(query("query-name"))]
            await transport.execute(query("query-status"), quiet=True)  # takes no number
            replies.append(await transport.execute(query("query-kvm")))
            tickets = [transport.submit(query("query-name")) for _ in range(3)]
            replies += [await transport.result(ticket, DEADLINE) for ticket in tickets]
            return replies

    replies = harness.run(body())
    ids = [f"__qmp#{n:05d}" for n in range(5)]
    assert [reply["id"] for reply in replies] == ids
    assert [msg["id"] for direction, msg in seen.messages if direction == "send"] == ids


@transports(not_libvirt="libvirt numbers the commands it sends itself (libvirt-N)")
def test_a_users_own_id_takes_no_number(harness: Harness, server: Server) -> None:
    async def body() -> object:
        async with connection(harness, server.target) as transport:
            await transport.execute({"execute": "query-name", "id": "mine"})
            return (await transport.execute(query("query-name")))["id"]

    assert harness.run(body()) == "__qmp#00000"


@transports()
def test_quiet_questions_reach_only_quiet_observers(harness: Harness, server: Server) -> None:
    seen, quietly = Seen(), Seen()

    async def body() -> tuple[dict[str, object], dict[str, object]]:
        async with connection(harness, server.target, seen=seen, quietly=quietly) as transport:
            assert seen.messages == []  # connecting is no business of the user's
            before = len(quietly.messages)  # libvirt asks query-version, quietly
            mine = await transport.execute(query("query-status"), quiet=True)
            assert seen.messages == []
            assert [d for d, _ in quietly.messages[before:]] == ["send", "recv"]
            assert quietly.messages[-1][1] == mine
            theirs = await transport.execute(query("query-name"))
            return mine, theirs

    mine, theirs = harness.run(body())
    assert mine["return"] == server.answers["query-status"]
    assert [(d, m.get("execute")) for d, m in seen.messages] == [
        ("send", "query-name"),
        ("recv", None),
    ]
    assert seen.messages[-1][1] == theirs
    assert quietly.messages[-2:] == seen.messages  # quiet observers see everything


# -- events


@transports()
def test_events_reach_observers_in_order_and_wake_wait(harness: Harness, server: Server) -> None:
    seen = Seen()

    async def body() -> None:
        async with connection(harness, server.target, seen=seen) as transport:
            await transport.execute(query("stop"))
            await until_event(transport, seen, "STOP")
            status = await transport.execute(query("query-status"))
            paused = {"status": "paused", "running": False}
            # "singlestep" was in it until QEMU 10.0.
            assert status["return"] in ({**paused, "singlestep": False}, paused)
            await transport.execute(query("cont"))
            await until_event(transport, seen, "RESUME")

    harness.run(body())
    assert seen.events() == ["STOP", "RESUME"]
    stop = next(msg for _, msg in seen.messages if msg.get("event") == "STOP")
    assert set(stop) == {"event", "timestamp"}
    timestamp = stop["timestamp"]
    assert isinstance(timestamp, dict) and set(timestamp) == {"seconds", "microseconds"}


@transports(
    not_libvirt="libvirt queues events apart from replies: no order between an event "
    "and a reply holds through it"
)
def test_events_keep_their_place_among_replies(harness: Harness, server: Server) -> None:
    """QEMU writes STOP (caused from its other monitor) to every monitor before it
    answers the stop there; so on ours it comes before the reply to what we ask next."""
    assert server.qemu is not None
    spare = server.qemu.client()
    seen = Seen()

    async def body() -> None:
        async with connection(harness, server.target, seen=seen) as transport:
            spare.cmd("stop")
            status = await transport.execute(query("query-status"))
            assert status["return"]["running"] is False  # type: ignore[index]
            spare.cmd("cont")
            await until_event(transport, seen, "RESUME")

    harness.run(body())
    assert [(d, m.get("event") or m.get("execute") or "reply") for d, m in seen.messages] == [
        ("send", "query-status"),
        ("recv", "STOP"),
        ("recv", "reply"),
        ("recv", "RESUME"),
    ]


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
@pytest.mark.parametrize("reply_first", [False, True], ids=["events first", "reply first"])
def test_a_flood_of_events_keeps_its_order(harness: Harness, reply_first: bool) -> None:
    count = 2000
    seen = Seen()

    async def body(target: str) -> None:
        async with connection(harness, target, seen=seen) as transport:
            await transport.execute(query("flood"))
            # those after the reply come to wait()
            await until(transport, lambda: len(seen.events()) == count, f"{count} events")

    commands = {"flood": event_flood(count, reply_first=reply_first)}
    with FakeServer(commands=commands) as fake:
        harness.run(body(str(fake.path)))
    numbers = [msg["data"] for _, msg in seen.messages if "event" in msg]
    assert numbers == [{"n": n} for n in range(count)]
    where = next(i for i, (d, msg) in enumerate(seen.messages) if d == "recv" and "return" in msg)
    assert where == (1 if reply_first else 1 + count)


# -- out of band, file descriptors


@transports(
    not_libvirt="libvirtd negotiates QMP without out-of-band execution, so QEMU refuses "
    "exec-oob from it (\"QMP input member 'exec-oob' is unexpected\")"
)
def test_exec_oob_reaches_qemu(harness: Harness, server: Server) -> None:
    async def body() -> list[dict[str, object]]:
        async with connection(harness, server.target) as transport:
            return [
                await transport.execute({"exec-oob": "migrate-pause"}),
                await transport.execute({"exec-oob": "query-name"}),
            ]

    pause, name = harness.run(body())
    # QEMU ran migrate-pause out of band (it is allowed there; it has nothing to pause)
    # and would not run query-name so; without oob negotiated, exec-oob is refused.
    only = "migrate-pause is currently only supported during postcopy-active"
    assert pause["error"] in (
        {"class": "GenericError", "desc": f"{only} state"},
        {"class": "GenericError", "desc": f"{only} or postcopy-recover state"},  # newer QEMU
    )
    assert name["error"] == {
        "class": "GenericError",
        "desc": "The command query-name does not support OOB",
    }


@transports()
def test_getfd_passes_a_real_file_descriptor(
    harness: Harness, server: Server, tmp_path: Path
) -> None:
    path = tmp_path / "passed"
    path.write_text("")
    getfd = query("getfd", fdname="f0")

    async def body(fd: int) -> None:
        async with connection(harness, server.target) as transport:
            if harness.kind == LIBVIRT:
                with pytest.raises(InputError, match=r"^passing file descriptors is not supp"):
                    await transport.execute(getfd, fd=fd)
            else:
                assert await transport.execute(getfd, fd=fd) == {"return": {}, "id": "__qmp#00000"}
                assert fds_open_on(server.pid, path) == 1
                assert (await transport.execute(query("closefd", fdname="f0")))["return"] == {}
                assert fds_open_on(server.pid, path) == 0
                with pytest.raises(InputError, match=r"^cannot pass the file descriptor: "):
                    await transport.execute(getfd, fd=1 << 20)  # no such descriptor
            name = await transport.execute(query("query-name"))  # and the session goes on
            assert name["return"] == server.answers["query-name"]

    with path.open() as passed:
        harness.run(body(passed.fileno()))


# -- timeouts, queries sent ahead


@transports()
def test_no_reply_in_time_is_said_in_the_shared_words(harness: Harness, server: Server) -> None:
    async def body() -> list[str]:
        said = []
        async with connection(harness, server.target) as transport:
            with server.stalled():
                with pytest.raises(NoReply) as late:
                    await transport.execute(query("query-name"), timeout=SHORT)
                said.append(str(late.value))
                ticket = transport.submit(query("query-status"))
                with pytest.raises(NoReply) as late:
                    await transport.result(ticket, SHORT)
                said.append(str(late.value))
            # The late replies arrive now; each command still gets its own.
            reply = await transport.execute(query("query-kvm"), timeout=DEADLINE)
            assert reply["return"] == server.answers["query-kvm"]
        return said

    assert harness.run(body()) == [
        failures.no_reply(server.target, "query-name", SHORT),
        failures.no_reply(server.target, "query-status", SHORT),
    ]


@transports()
def test_a_command_run_while_queries_are_due_leaves_their_replies(
    harness: Harness, server: Server
) -> None:
    """A question asked while replies sent ahead are still due (the schema, confirmed on
    a refusal) gets its own reply; theirs still come to ``result``, in any order."""
    sent = ["query-name", "query-status", "query-kvm"]

    async def body() -> tuple[object, list[object]]:
        async with connection(harness, server.target) as transport:
            tickets = [transport.submit(query(name)) for name in sent]
            asked = await transport.execute(query("query-version"), quiet=True, timeout=DEADLINE)
            late = [await transport.result(ticket, DEADLINE) for ticket in reversed(tickets)]
            return asked["return"], [reply["return"] for reply in reversed(late)]

    asked, answers = harness.run(body())
    assert isinstance(asked, dict) and "qemu" in asked
    assert answers == [server.answers[name] for name in sent]


@transports()
def test_results_come_back_in_order_of_submission(harness: Harness, server: Server) -> None:
    sent = [QUERIES[n % 3] for n in range(60)]

    async def body() -> list[dict[str, object]]:
        async with connection(harness, server.target) as transport:
            own = [{"id": f"q{n}"} if n % 7 == 0 else {} for n in range(len(sent))]
            tickets = [transport.submit(query(name) | i) for name, i in zip(sent, own, strict=True)]
            return [await transport.result(ticket, DEADLINE) for ticket in tickets]

    replies = harness.run(body())
    assert [reply["return"] for reply in replies] == [server.answers[name] for name in sent]
    assert [reply["id"] for reply in replies[::7]] == [f"q{n}" for n in range(0, 60, 7)]


@transports()
def test_a_dropped_query_is_not_waited_for(harness: Harness, server: Server) -> None:
    async def body() -> list[dict[str, object]]:
        async with connection(harness, server.target) as transport:
            first = transport.submit(query("query-name"))
            dropped = transport.submit(query("query-status"))
            third = transport.submit(query("query-kvm"))
            transport.drop(dropped)
            replies = [await transport.result(first, DEADLINE)]
            replies.append(await transport.result(third, DEADLINE))
            replies.append(await transport.execute(query("query-name"), timeout=DEADLINE))
            return replies

    name, kvm, again = harness.run(body())
    assert name["return"] == again["return"] == server.answers["query-name"]
    assert kvm["return"] == server.answers["query-kvm"]


@transports()
def test_what_is_not_json_is_an_input_error(harness: Harness, server: Server) -> None:
    unsendable = query("qom-get", path="/machine", property=b"type")

    async def body() -> dict[str, object]:
        async with connection(harness, server.target) as transport:
            with pytest.raises(InputError, match=r"^cannot send: "):
                await transport.execute(unsendable)
            with pytest.raises(InputError, match=r"^cannot send: "):  # at once or at result
                await transport.result(transport.submit(unsendable), DEADLINE)
            return await transport.execute(query("query-name"))

    assert harness.run(body())["return"] == server.answers["query-name"]


#: JSON that Python writes and QEMU cannot parse: a lone surrogate in a string.
UNPARSABLE = query("qom-get", path="\ud800", property="type")


@transports()
def test_an_error_without_an_id_answers_the_one_command_in_flight(
    harness: Harness, server: Server
) -> None:
    """QEMU answers what it cannot parse at once, with an error that carries no id:
    with one command in flight that is its answer, not a stall or a lost connection."""

    async def body() -> tuple[dict[str, object], float, dict[str, object]]:
        async with connection(harness, server.target) as transport:
            start = time.monotonic()
            refused = await transport.execute(UNPARSABLE, timeout=DEADLINE)
            took = time.monotonic() - start
            return refused, took, await transport.execute(query("query-name"), timeout=DEADLINE)

    refused, took, after = harness.run(body())
    assert "error" in refused and "return" not in refused
    assert took < DEADLINE / 2
    assert after["return"] == server.answers["query-name"]


@transports(not_libvirt="libvirt sends one command at a time")
def test_an_error_without_an_id_among_many_in_flight_ends_the_connection(
    harness: Harness, server: Server
) -> None:
    """Whose it is cannot be told: the connection ends saying what QEMU said."""

    async def body() -> str:
        async with connection(harness, server.target) as transport:
            tickets = [transport.submit(UNPARSABLE), transport.submit(query("query-name"))]
            with pytest.raises(ConnectionLost) as lost:
                for ticket in tickets:
                    await transport.result(ticket, DEADLINE)
            return str(lost.value)

    said = harness.run(body())
    assert said.startswith(f"{server.target}: QEMU could not parse a command: ")
    assert "cannot tell which" in said and "\n" not in said


@transports()
def test_a_number_json_cannot_hold_is_an_input_error(harness: Harness, server: Server) -> None:
    async def body() -> dict[str, object]:
        async with connection(harness, server.target) as transport:
            with pytest.raises(InputError, match=r"^cannot send: "):
                await transport.execute(query("qom-get", path="/machine", property=float("nan")))
            return await transport.execute(query("query-name"))

    assert harness.run(body())["return"] == server.answers["query-name"]


# -- wait()


@transports()
def test_wait_returns_true_only_for_a_readable_fd(harness: Harness, server: Server) -> None:
    read_end, write_end = os.pipe()

    async def body() -> list[tuple[bool, float]]:
        outcomes = []
        async with connection(harness, server.target) as transport:
            for write in (False, True):
                if write:
                    os.write(write_end, b"x")
                start = time.monotonic()
                ready = await transport.wait(fd=read_end, timeout=SHORT if not write else DEADLINE)
                outcomes.append((ready, time.monotonic() - start))
            start = time.monotonic()
            outcomes.append((await transport.wait(timeout=SHORT), time.monotonic() - start))
        return outcomes

    try:
        (idle, idle_took), (readable, _), (timed_out, timed_out_took) = harness.run(body())
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (idle, readable, timed_out) == (False, True, False)
    assert idle_took >= SHORT * 0.95 and timed_out_took >= SHORT * 0.95  # not a moment sooner


@transports()
def test_wait_raises_connection_lost_once_qemu_is_killed(harness: Harness, doomed: Server) -> None:
    async def body() -> list[str]:
        async with connection(harness, doomed.target) as transport:
            reply = await transport.execute(query("query-name"))
            assert reply["return"] == doomed.answers["query-name"]
            doomed.kill()
            said = [await until_lost(transport), await transport.wait_closed()]
            with pytest.raises(ConnectionLost) as lost:
                await transport.execute(query("query-name"))
            said.append(str(lost.value))
            return said

    said = harness.run(body())
    assert len(set(said)) == 1, said
    assert doomed.lost(said[0]), said[0]


@transports()
def test_close_lets_go_of_the_monitor(harness: Harness, server: Server) -> None:
    """QEMU serves one client per monitor: the next can connect only once we let go."""

    async def body() -> None:
        for _ in range(2):
            async with connection(harness, server.target) as transport:
                reply = await transport.execute(query("query-name"), timeout=DEADLINE)
                assert reply["return"] == server.answers["query-name"]
            assert (await transport.wait_closed()).startswith(f"{server.target}: ")
            with pytest.raises(ConnectionLost):
                await transport.execute(query("query-name"))

    harness.run(body())


@pytest.mark.qemu
@pytest.mark.parametrize("harness", [QEMU_QMP, LIBVIRT], indirect=True)  # blocking: no loop
def test_a_cancel_while_closing_waits_for_the_close(harness: Harness, server: Server) -> None:
    """A signal cancels the task while the connection closes (a terminal closed: SIGHUP
    and the end of the input at once), and the run ends right after: the close still
    ends, the cancel goes on, and asyncio is left nothing to print at exit."""
    left: list[dict[str, Any]] = []

    async def cancelled_while_closing() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: left.append(context))
        transport = harness.make(server.target)
        await transport.connect(DEADLINE)
        closing = asyncio.ensure_future(transport.close())
        await asyncio.sleep(0)  # one turn of the loop: the close has begun
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        # and the run ends here, as qmpsh's does: asyncio.run cancels what is left

    async def again() -> object:
        async with connection(harness, server.target) as transport:
            return (await transport.execute(query("query-name"), timeout=DEADLINE))["return"]

    harness.run(cancelled_while_closing())
    gc.collect()  # what was never retrieved is reported when it is collected
    assert left == []
    assert harness.run(again()) == server.answers["query-name"]  # the monitor was let go


# -- a server that goes wrong (fake: QEMU will not, on demand)


def ended(what: str) -> str:
    return f"QEMU sent {what}; qmpsh ended the connection"


#: A reply that is no QMP message, and what qmpsh says (after the target) as it ends
#: the connection over it: its own doing, never blamed on QEMU closing it.
BROKEN_REPLIES: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"this is not JSON\r\n", ended("a message that is not JSON ('this is not JSON')")),
    "a list": (b"[1,2]\r\n", ended("a message that is not a JSON object ('[1,2]')")),
    "a number": (b"42\r\n", ended("a message that is not a JSON object ('42')")),
    "a string": (b'"x"\r\n', ended("a message that is not a JSON object ('\"x\"')")),
    "not UTF-8": (b'{"return": "caf\xe9", "id": ID}\r\n', ended("bytes that are not UTF-8")),
    "100k digits": (
        b'{"return": ' + b"7" * 100_000 + b', "id": ID}\r\n',
        ended("a number too long to read"),
    ),
    "neither return nor error": (
        b'{"id": ID}\r\n',
        ended('a message with no return, error or event (\'{"id": "__qmp#00000"}\')'),
    ),
}

LOST = "connection closed by QEMU"


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (half_reply(), LOST),
        (drop_connection, LOST),
        *((raw_reply(data), words) for data, words in BROKEN_REPLIES.values()),
    ],
    ids=["reply cut short", "gone on receipt", *BROKEN_REPLIES],
)
def test_a_reply_that_never_comes_whole_ends_the_connection(
    harness: Harness,
    handler: Callable[[Connection, dict[str, Any]], Any],
    words: str,
) -> None:
    async def body(target: str) -> list[str]:
        said = []
        async with connection(harness, target) as transport:
            with pytest.raises(ConnectionLost) as lost:
                await transport.execute(query("break"))  # no timeout: the end is the answer
            assert type(lost.value) is ConnectionLost  # not NoReply
            said.append(str(lost.value))
            with pytest.raises(ConnectionLost) as lost:  # at once: it has ended
                await transport.wait(timeout=2)
            said.append(str(lost.value))
            said.append(await transport.wait_closed())
        return said

    with FakeServer(commands={"break": handler}) as fake:
        said = harness.run(body(str(fake.path)))
    assert said == [f"{fake.path}: {words}"] * 3


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
def test_nan_and_infinity_from_the_server_are_read_as_null(harness: Harness) -> None:
    """Not JSON, though Python reads them: as null, every output stays JSON."""
    data = b'{"return": {"a": NaN, "b": [Infinity, -Infinity], "c": 1.5}, "id": ID}\r\n'

    async def body(target: str) -> dict[str, object]:
        async with connection(harness, target) as transport:
            return await transport.execute(query("odd"), timeout=DEADLINE)

    with FakeServer(commands={"odd": raw_reply(data)}) as fake:
        reply = harness.run(body(str(fake.path)))
    assert reply["return"] == {"a": None, "b": [None, None], "c": 1.5}


async def nested_too_deep(conn: Connection, request: dict[str, Any]) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    await conn.send_raw(b'{"return": ' + deep + b', "id": ' + json.dumps(request["id"]).encode())
    await conn.send_raw(b"}\n")


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
def test_a_reply_nested_too_deeply_ends_the_connection_in_one_line(harness: Harness) -> None:
    async def body(target: str) -> str:
        async with connection(harness, target) as transport:
            with pytest.raises(ConnectionLost) as lost:
                await transport.execute(query("deep"))
            return str(lost.value)

    with FakeServer(commands={"deep": nested_too_deep}) as fake:
        said = harness.run(body(str(fake.path)))
    assert said == f"{fake.path}: QEMU sent JSON nested too deeply to read; qmpsh gave up on it"


#: Every broken server of the fault set, and what qmpsh says of it after the target.
FAULTS: dict[str, tuple[Behaviour, bytes, str]] = {
    "silent": (
        Behaviour.SILENT,
        b"",
        "no QMP greeting within 0.5 s; another client may hold this monitor (QEMU serves "
        "one client per QMP socket), or it is not QMP (a guest agent needs -N)",
    ),
    "garbage": (Behaviour.GARBAGE, b"", "not a QMP server (it sent bytes that are not UTF-8)"),
    "ssh": (
        Behaviour.TEXT,
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        "not a QMP server (it sent 'SSH-2.0-OpenSSH_9.2p1 Debian-2')",
    ),
    "escapes": (
        Behaviour.TEXT,
        b"\x1b]0;owned\x07\x1b[2Jhello\n",
        "not a QMP server (it sent '\\\\x1b]0;owned\\\\x07\\\\x1b[2Jhello')",
    ),
    "empty line": (Behaviour.TEXT, b"\r\n", "not a QMP server (it sent an empty line)"),
    "a list": (
        Behaviour.TEXT,
        b"[1, 2]\n",
        "not a QMP server (unexpected greeting: QMP message is not a JSON object.)",
    ),
    "bad version": (
        Behaviour.TEXT,
        b'{"QMP": {"version": 7}}\n',
        "not a QMP server (unexpected greeting: 'QMPGreeting' member 'version' must be a "
        "JSON object)",
    ),
    "hmp": (
        Behaviour.TEXT,
        b"QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) ",
        "not a QMP server (this is an HMP monitor; use the socket given to -qmp)",
    ),
    "not utf-8": (
        Behaviour.INVALID_UTF8,
        b"",
        "not a QMP server (it sent bytes that are not UTF-8)",
    ),
    "nested 100,000 deep": (
        Behaviour.TEXT,
        b'{"QMP": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        "not a QMP server (it sent JSON nested too deeply to read)",
    ),
    "no capabilities": (
        Behaviour.NO_CAPABILITIES,
        b"",
        "not a QMP server (unexpected greeting: 'QMPGreeting' object requires "
        "'capabilities' member)",
    ),
    "closes": (
        Behaviour.CLOSE,
        b"",
        "the server closed the connection before greeting (not QMP?)",
    ),
    "stalls after greeting": (
        Behaviour.STALL_AFTER_GREETING,
        b"",
        "the server greeted but did not answer qmp_capabilities within 0.5 s",
    ),
    "drips": (
        Behaviour.DRIP,
        b"",
        "the QMP greeting was still arriving after 0.5 s (the server sends it slowly; "
        "--timeout waits longer)",
    ),
    "guest agent": (
        Behaviour.GUEST_AGENT,
        b"",
        "no QMP greeting within 0.5 s; another client may hold this monitor (QEMU serves "
        "one client per QMP socket), or it is not QMP (a guest agent needs -N)",
    ),
}


async def failure(harness: Harness, target: str, timeout: float) -> str:
    """What connecting to ``target`` says (its ConnectFailed), or "connected"."""
    transport = harness.make(target)
    try:
        await transport.connect(timeout)
    except ConnectFailed as err:
        return str(err)
    finally:
        await transport.close()
    return "connected"


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_server_is_said_in_one_line(harness: Harness, fault: str) -> None:
    behaviour, text, words = FAULTS[fault]
    with FakeServer(behaviour, text=text) as fake:
        said = harness.run(failure(harness, str(fake.path), 0.5))
    assert said == f"{fake.path}: {words}"
    assert "\n" not in said


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET, qemu=False)
def test_no_server_is_said_in_one_line(harness: Harness, tmp_path: Path) -> None:
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(str(tmp_path / "bound"))  # not listening
    (tmp_path / "file").write_text("")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        said = {
            name: harness.run(failure(harness, target, 1))
            for name, target in {
                "missing": str(tmp_path / "missing"),
                "bound": str(tmp_path / "bound"),
                "file": str(tmp_path / "file"),
                "port": f"127.0.0.1:{port}",
            }.items()
        }
    finally:
        bound.close()
    assert said == {
        "missing": f"{tmp_path / 'missing'}: no such socket",
        "bound": f"{tmp_path / 'bound'}: connection refused (is QEMU running?)",
        "file": f"{tmp_path / 'file'}: not a socket",
        "port": f"127.0.0.1:{port}: connection refused (is QEMU running?)",
    }


@transports(not_libvirt=LIBVIRTD_HOLDS_THE_SOCKET)
def test_a_busy_monitor_is_said_in_one_line(harness: Harness, qemu: Qemu) -> None:
    """Its one client taken and its queue full, a socket refuses at once (EAGAIN)."""
    holder = qemu.client()
    with queue_filled(qemu.spare):
        said = harness.run(failure(harness, str(qemu.spare), DEADLINE))
    assert said == (
        f"{qemu.spare}: busy: another client may hold this monitor (QEMU serves one "
        "client per QMP socket), and its queue of clients waiting is full"
    )
    assert holder.cmd("query-name") == {"name": "testvm"}  # qmpsh disturbed nobody


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (
            Behaviour.REFUSE_NEGOTIATION,
            "QMP capabilities negotiation failed (it sent "
            '\'{"error": {"class": "GenericError", "desc": "Capability \\\'oob\')',
        ),
        (Behaviour.CLOSE_AFTER_GREETING, "connection closed by QEMU"),
    ],
    ids=["refuses", "hangs up"],
)
def test_a_failed_negotiation_is_said_alike(behaviour: Behaviour, words: str) -> None:
    """Both socket transports at once, in the same words (``failures``): what the server
    answered instead of a ``return``, or that it hung up after greeting."""
    with FakeServer(behaviour) as fake:
        said = {
            kind: HARNESSES[kind].run(failure(HARNESSES[kind], str(fake.path), 2))
            for kind in (BLOCKING, QEMU_QMP)
        }
    assert said == {BLOCKING: f"{fake.path}: {words}", QEMU_QMP: f"{fake.path}: {words}"}


def test_every_fault_is_covered() -> None:
    """A new broken server in the fake's set gets its words here too (an event before
    the greeting is no fault: ``test_an_event_before_the_greeting_is_passed_over``)."""
    covered = {behaviour for behaviour, _, _ in FAULTS.values()}
    covered |= {Behaviour.QMP, Behaviour.REFUSE_NEGOTIATION, Behaviour.CLOSE_AFTER_GREETING}
    covered |= {Behaviour.EVENT_FIRST}
    assert covered == set(Behaviour)


def test_the_harnesses_run_what_they_say() -> None:
    """The blocking harness has no event loop to lean on; the others do."""

    async def loop_running() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    assert [HARNESSES[kind].run(loop_running()) for kind in HARNESSES] == [False, True, True]
