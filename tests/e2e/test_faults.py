"""The fault matrix: something fails under qmpsh, qmpsh says one line and exits.

Every test runs the real ``qmpsh`` program (``python -m qmpsh``) as a child
process with a deadline, and checks the exact exit status (docs/architecture.md,
"Exit statuses": 4 connection lost, 130 interrupted) and the exact text on stderr, which is
never a traceback. Real QEMU produces the faults it can produce on demand
(killed with SIGKILL, ``--launch`` under a signal, the prompt's history); the
fake server of ``tests/support/fakeserver.py`` the rest: a command that does not
return until the test says so, a reply cut in half, a 50 MB reply, floods of
10,000 events.

Faults before a session exists (missing socket, refused, busy monitor, not QMP,
a server that stalls after its greeting: exit 3) are in ``tests/e2e/test_connect.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from qmpsh.cli import parking
from qmpsh.cli.run import drive as finish
from qmpsh.errors import ConnectionLost, ExitStatus
from qmpsh.session.session import Session
from qmpsh.transport import blocking as direct
from qmpsh.transport import qemu_qmp as protocol
from tests.support.fakeserver import (
    Behaviour,
    FakeServer,
    Gate,
    Unanswered,
    drop_connection,
    event_flood,
    half_reply,
    raw_reply,
    sized_value,
)
from tests.support.pty_process import PtyProcess
from tests.support.qemu import QEMU, Qemu, start_qemu
from tests.support.qmpsh_process import PipedQmpsh, json_lines, run_qmpsh
from tests.support.repldriver import CTRL_D, repl_over, running_repl
from tests.support.waiting import wait_until

pytestmark = pytest.mark.qemu

DEADLINE = 10.0
#: How long qmpsh may take to notice QEMU has gone and leave (it is told at once).
PROMPTLY = 5.0
FLOOD = 10_000
INTERRUPTED = 130
LOST = 4


def statuses(stdout: str) -> list[str]:
    """The ``status`` of each query-status reply printed (other members vary by QEMU version)."""
    return [reply["status"] for reply in json_lines(stdout)]


def lost(target: object) -> str:
    """The one line qmpsh prints when the connection ends under it (exit 4)."""
    return f"qmpsh: {target}: connection closed by QEMU\n"


Spawn = Callable[..., PipedQmpsh]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    started: list[PipedQmpsh] = []

    def start(*args: str, env: dict[str, str] | None = None) -> PipedQmpsh:
        run = PipedQmpsh(*args, env=env)
        started.append(run)
        return run

    yield start
    for run in started:
        run.close()


@pytest.fixture
def vm() -> Iterator[Qemu]:
    """A QEMU of its own, for a test that kills it."""
    qemu = start_qemu()
    yield qemu
    qemu.stop()


@pytest.fixture(scope="module")
def shared_vm() -> Iterator[Qemu]:
    """One QEMU for the tests that leave it running (one client at a time)."""
    qemu = start_qemu()
    yield qemu
    qemu.stop()


def kill(qemu: Qemu) -> None:
    qemu.process.kill()
    qemu.process.wait()


# -- QEMU killed (SIGKILL) or gone


@pytest.mark.every_qemu  # a fault real QEMU produces
def test_qemu_killed_while_a_script_waits_for_an_event(vm: Qemu, spawn: Spawn) -> None:
    run = spawn(str(vm.qmp))
    run.send("query-status", "/wait NEVER_SENT timeout=30")
    run.wait_output(lambda out: out.endswith("}\n"), "the reply to query-status")
    run.wait_taken()  # the /wait too
    kill(vm)
    assert run.exit_status(PROMPTLY) == LOST  # not after /wait's 30 s
    assert run.stderr() == lost(vm.qmp)
    assert statuses(run.stdout()) == ["running"]


@pytest.mark.every_qemu  # a fault real QEMU produces
def test_qemu_killed_while_a_slow_pipe_is_idle(vm: Qemu, spawn: Spawn) -> None:
    """No command in flight, stdin open and silent: qmpsh still notices and leaves."""
    run = spawn(str(vm.qmp))
    run.send("query-status")
    run.wait_output(lambda out: out.endswith("}\n"), "the reply to query-status")
    kill(vm)
    assert run.exit_status(PROMPTLY) == LOST
    assert run.stderr() == lost(vm.qmp)
    assert statuses(run.stdout()) == ["running"]


def test_server_gone_with_a_command_in_flight() -> None:
    """QEMU dies while a QMP command runs (the fake drops the connection holding it)."""
    gate = Gate()
    with FakeServer(commands={"query-status": {"status": "running"}, "slow": gate}) as fake:
        run = PipedQmpsh(str(fake.path))
        try:
            run.send("query-status", "slow", "query-status")
            gate.wait_arrived()
            gate.abort()
            assert run.exit_status(PROMPTLY) == LOST
            assert run.stderr() == lost(fake.path)
            assert run.stdout() == '{"status":"running"}\n'  # the command before it, only
        finally:
            run.close()


def test_server_gone_during_the_schema_fetch() -> None:
    """A call with arguments is checked against the schema first; QEMU dies on that question."""
    with FakeServer(commands={"query-qmp-schema": drop_connection}) as fake:
        done = run_qmpsh(str(fake.path), "-c", "qom-list path=/machine", timeout=DEADLINE)
    assert (done.returncode, done.stderr, done.stdout) == (LOST, lost(fake.path), "")
    assert [msg.get("execute") for msg in fake.received] == [
        "qmp_capabilities",
        "query-qmp-schema",
    ]  # qom-list itself was never sent


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["plain", "json"])
def test_disconnect_in_the_middle_of_a_reply(mode: list[str]) -> None:
    with FakeServer(commands={"query-status": half_reply(b'{"return": {"sta')}) as fake:
        done = run_qmpsh(str(fake.path), *mode, "-c", "query-status", timeout=DEADLINE)
    assert (done.returncode, done.stderr, done.stdout) == (LOST, lost(fake.path), "")


DEEP = b"[" * 100_000 + b"]" * 100_000


async def nested_too_deep(conn: Any, request: dict[str, Any]) -> None:
    await conn.send_raw(b'{"return": ' + DEEP + b', "id": ' + json.dumps(request["id"]).encode())
    await conn.send_raw(b"}\n")


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["plain", "json"])
def test_json_nested_too_deeply_is_one_line(mode: list[str]) -> None:
    """100,000 levels: more than Python's decoder goes; a greeting so is not QMP (3), a
    reply so ends the session (4), as on the prompt's transport (test_transport_contract)."""
    with FakeServer(commands={"deep": nested_too_deep}) as fake:
        done = run_qmpsh(str(fake.path), *mode, "-c", "deep", timeout=DEADLINE)
    said = f"qmpsh: {fake.path}: QEMU sent JSON nested too deeply to read; qmpsh gave up on it\n"
    assert (done.returncode, done.stderr, done.stdout) == (LOST, said, "")
    with FakeServer(Behaviour.TEXT, text=b'{"QMP": ' + DEEP + b"}\n") as fake:
        done = run_qmpsh(str(fake.path), *mode, "-c", "query-name", timeout=DEADLINE)
    said = f"qmpsh: {fake.path}: not a QMP server (it sent JSON nested too deeply to read)\n"
    assert (done.returncode, done.stderr, done.stdout) == (3, said, "")


async def stray_ids_first(conn: Any, request: dict[str, Any]) -> None:
    await conn.send_raw(b'{"return": {}, "id": {"n": [1]}}\n{"return": {}, "id": [1, {}]}\n')
    await conn.reply(request, {"name": "fake"})


@pytest.mark.parametrize("how", [[], ["--json"], ["--all"]], ids=["plain", "json", "asyncio"])
def test_a_reply_whose_id_is_an_object_or_array_is_dropped(how: list[str]) -> None:
    """Replies with an id nobody sent (an object, an array) are dropped, on both
    transports (``--all`` runs on qemu.qmp), and the command's own reply is printed."""
    with FakeServer(commands={"stray": stray_ids_first}) as fake:
        done = run_qmpsh(*how, str(fake.path), "-c", "stray", "-c", "stray", timeout=DEADLINE)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.count('{"name":') == 2, done.stdout


# -- broken standard streams (`>/dev/full`, `>&-`, `2>&-`, `<&-`)

CANNOT_WRITE = "qmpsh: cannot write the output: "


def with_streams(
    tmp_path: Path, *args: str, closed: tuple[int, ...] = (), full: bool = False
) -> tuple[int, str, str]:
    """The real qmpsh with the standard streams ``closed`` as a shell's ``N>&-`` leaves
    them, or stdout on /dev/full: (status, stdout, stderr), stdin empty."""

    def close() -> None:
        for fd in closed:
            os.close(fd)

    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    with open(os.devnull if not full else "/dev/full", "wb") as sink:
        done = subprocess.run(
            [sys.executable, "-m", "qmpsh", *args],
            stdin=subprocess.DEVNULL,
            stdout=sink if full else subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=close,
            env=env,
            timeout=DEADLINE,
        )
    out = "" if full else done.stdout.decode()
    return done.returncode, out, done.stderr.decode()


@pytest.mark.parametrize("args", [["-c", "query-name"], ["--help"], ["--version"]])
def test_stdout_on_a_full_disk_is_one_line(
    shared_vm: Qemu, tmp_path: Path, args: list[str]
) -> None:
    said = with_streams(tmp_path, str(shared_vm.qmp), *args, full=True)
    assert said == (1, "", f"{CANNOT_WRITE}No space left on device\n")


@pytest.mark.parametrize("args", [["-c", "query-name"], ["--help"], ["--version"]])
def test_stdout_closed_is_one_line(shared_vm: Qemu, tmp_path: Path, args: list[str]) -> None:
    said = with_streams(tmp_path, str(shared_vm.qmp), *args, closed=(1,))
    assert said == (1, "", f"{CANNOT_WRITE}stdout is closed\n")
    # Nothing to write, nothing wrong; both closed: the status alone says it.
    assert with_streams(tmp_path, str(shared_vm.qmp), closed=(1,)) == (0, "", "")
    assert with_streams(tmp_path, str(shared_vm.qmp), *args, closed=(1, 2)) == (1, "", "")


def test_stderr_closed_costs_only_its_lines(shared_vm: Qemu, tmp_path: Path) -> None:
    """The output is whole; what would have gone to stderr is lost, never put on stdout."""
    target = str(shared_vm.qmp)
    said = with_streams(tmp_path, target, "-c", "query-name", closed=(2,))
    assert said == (0, '{"name":"testvm"}\n', "")
    said = with_streams(tmp_path, target, "-k", "-c", "nosuch", "-c", "query-name", closed=(2,))
    assert said == (1, '{"name":"testvm"}\n', "")
    assert with_streams(tmp_path, "/nonexistent.sock", "-c", "x", closed=(2,)) == (3, "", "")


def test_stdin_closed_reads_as_empty(shared_vm: Qemu, tmp_path: Path) -> None:
    target = str(shared_vm.qmp)
    assert with_streams(tmp_path, target, closed=(0,)) == (0, "", "")  # a script of nothing
    said = with_streams(tmp_path, target, "-c", "query-name", closed=(0,))
    assert said == (0, '{"name":"testvm"}\n', "")


# -- big replies, floods of events

MB = 1_000_000


def test_a_message_over_the_limit_is_named_not_blamed_on_qemu() -> None:
    """qmpsh reads messages up to MAX_MESSAGE; past it, it says so (not "closed by QEMU")."""

    async def body(target: str) -> None:
        transport = protocol.QmpTransport(target)
        await transport.connect(5)
        try:
            with pytest.raises(ConnectionLost) as lost:
                await transport.execute({"execute": "big"})
            assert (
                str(lost.value) == f"{target}: QEMU sent a message over 2 MiB; qmpsh gave up on it"
            )
        finally:
            await transport.close()

    with (
        FakeServer(commands={"big": sized_value(3 * MB)}) as fake,
        mock.patch.object(protocol, "MAX_MESSAGE", 2 << 20),
    ):
        asyncio.run(body(str(fake.path)))


def test_a_message_over_the_limit_is_named_by_the_direct_client_too() -> None:
    """Plain scripts read QMP without qemu.qmp (the blocking transport): the same limit,
    the same words."""
    with (
        FakeServer(commands={"big": sized_value(3 * MB)}) as fake,
        mock.patch.object(direct, "MAX_MESSAGE", 2 << 20),
    ):
        conn = direct.BlockingTransport(str(fake.path))
        finish(conn.connect(5))
        try:
            with pytest.raises(ConnectionLost) as lost:
                finish(conn.execute({"execute": "big"}, timeout=5))
        finally:
            finish(conn.close())
    assert str(lost.value) == f"{fake.path}: QEMU sent a message over 2 MiB; qmpsh gave up on it"


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["plain", "json"])
@pytest.mark.parametrize(
    "size",
    [8 * MB, 50 * MB],
    ids=["8MB", "50MB"],
)
def test_a_huge_reply_is_printed_whole(size: int, mode: list[str]) -> None:
    value = sized_value(size)
    with FakeServer(commands={"big": value}) as fake:
        started = time.monotonic()
        done = run_qmpsh(str(fake.path), *mode, "-c", "big", timeout=30)
        took = time.monotonic() - started
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert len(done.stdout) > size
    assert done.stdout.count("\n") == 1  # one line: compact JSON
    printed = json.loads(done.stdout)
    assert printed == ({"return": value, "id": printed.get("id")} if mode else value)
    assert took < 20, f"{size} bytes took {took:.1f} s"


def numbers(messages: list[Any]) -> list[int]:
    return [msg["data"]["n"] for msg in messages if isinstance(msg, dict) and "event" in msg]


@pytest.mark.parametrize("mode", ["--events", "--json"])
def test_a_flood_of_events_while_a_command_runs(mode: str) -> None:
    """10,000 events before the reply: every one printed, in order, then the reply."""
    with FakeServer(commands={"flood": event_flood(FLOOD)}) as fake:
        done = run_qmpsh(str(fake.path), mode, "-c", "flood", timeout=30)
    assert (done.returncode, done.stderr) == (0, "")
    printed = json_lines(done.stdout)
    assert len(printed) == FLOOD + 1
    assert numbers(printed[:-1]) == list(range(FLOOD))
    assert printed[-1] == ({} if mode == "--events" else {"return": {}, "id": printed[-1]["id"]})


@pytest.mark.parametrize("mode", ["--events", "--json"])
def test_a_flood_of_events_between_commands(mode: str) -> None:
    """10,000 events while the script waits for its next line: all printed as they come."""
    commands = {"burst": event_flood(FLOOD, reply_first=True), "ping": {"pong": True}}
    with FakeServer(commands=commands) as fake:
        run = PipedQmpsh(str(fake.path), mode)
        try:
            run.send("burst")
            run.wait_output(lambda out: out.count("\n") >= FLOOD + 1, "the reply and the flood")
            run.send("ping")
            run.close_stdin()
            assert run.exit_status() == 0
            assert run.stderr() == ""
            printed = json_lines(run.stdout())
        finally:
            run.close()
    assert len(printed) == FLOOD + 2
    assert numbers(printed[1:-1]) == list(range(FLOOD))
    if mode == "--events":
        assert (printed[0], printed[-1]) == ({}, {"pong": True})
    else:
        assert printed[0]["return"] == {} and printed[-1]["return"] == {"pong": True}


# -- stdin closed, signals


def test_stdin_closed_with_a_command_in_flight() -> None:
    """The end of the script is not the end of the command: its reply still prints."""
    gate = Gate({"finally": True})
    with FakeServer(commands={"slow": gate}) as fake:
        run = PipedQmpsh(str(fake.path))
        try:
            run.send("slow")
            gate.wait_arrived()
            run.close_stdin()
            # What is tested: qmpsh, which reads stdin in the background, does not leave
            # at its end. No event says it has seen the end; a slow machine only makes
            # the check weaker, never wrong.
            time.sleep(0.3)
            assert run.process.poll() is None, run.stderr()
            gate.release()
            assert run.exit_status() == 0
            assert (run.stdout(), run.stderr()) == ('{"finally":true}\n', "")
        finally:
            run.close()


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def interrupted(sig: signal.Signals) -> str:
    """The one line qmpsh leaves on stderr when a signal ends it."""
    return "qmpsh: interrupted\n" if sig == signal.SIGINT else f"qmpsh: interrupted ({sig.name})\n"


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_during_a_command_in_a_script(sig: signal.Signals) -> None:
    """Interrupted mid-command: exit 130 and one line (no traceback, no half reply)."""
    gate = Gate()
    with FakeServer(commands={"slow": gate}) as fake:
        run = PipedQmpsh(str(fake.path))
        try:
            run.send("slow")
            gate.wait_arrived()
            run.process.send_signal(sig)
            assert run.exit_status(PROMPTLY) == INTERRUPTED
            assert (run.stdout(), run.stderr()) == ("", interrupted(sig))
        finally:
            gate.release()
            run.close()


@pytest.mark.every_qemu  # a fault real QEMU produces
@pytest.mark.parametrize("waiting", ["next-line", "wait-event"])
@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_to_a_script_on_real_qemu(
    sig: signal.Signals, waiting: str, shared_vm: Qemu, spawn: Spawn
) -> None:
    """Between lines of a slow pipe, or in ``/wait``: exit 130, one line on stderr."""
    run = spawn(str(shared_vm.qmp))
    run.send("query-status", *(["/wait NEVER_SENT timeout=30"] if waiting == "wait-event" else []))
    run.wait_output(lambda out: out.endswith("}\n"), "the reply to query-status")
    run.wait_taken()  # the /wait too, if any
    run.process.send_signal(sig)
    assert run.exit_status(PROMPTLY) == INTERRUPTED
    assert (run.stderr(), statuses(run.stdout())) == (interrupted(sig), ["running"])


#: Python run at start-up (``sitecustomize``): SIGNAL arrives while ``qmpsh.session.builtins``
#: imports, inside an ``exec()`` of a string (as when a dataclass is made), or inside a
#: ``__set_name__`` (as when a dataclass's field is), which Python 3.11 wraps in RuntimeError.
SIGNAL_IN_CLASS_MAKING = """
import signal, sys

def hook(event, args):
    if event == "import" and args[0] == "qmpsh.session.builtins":
        exec(CODE, dict(signal=signal))

CODE = {code!r}
sys.addaudithook(hook)
"""
IN_EXEC = "signal.raise_signal(signal.SIGNAL)"
IN_SET_NAME = """
class Field:
    def __set_name__(self, owner, name):
        signal.raise_signal(signal.SIGNAL)
class Made:
    field = Field()
"""


@pytest.mark.parametrize("code", [IN_EXEC, IN_SET_NAME], ids=["exec", "set_name"])
@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_signal_while_a_late_import_makes_a_class_is_the_one_line_and_130(
    shared_vm: Qemu, tmp_path: Path, sig: signal.Signals, code: str
) -> None:
    """A signal that lands while a module qmpsh imports late makes its classes still ends
    in the one line and 130: not an internal error, and not, under ``python -m``, death
    by SIGINT (CPython takes a KeyboardInterrupt leaving an ``exec()`` as unhandled)."""
    program = SIGNAL_IN_CLASS_MAKING.format(code=code.replace("SIGNAL", sig.name))
    (tmp_path / "sitecustomize.py").write_text(program)
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    script = "query-status\n/wait NEVER_SENT timeout=30\n"
    done = run_qmpsh(str(shared_vm.qmp), input=script, env={"PYTHONPATH": path})
    assert (done.returncode, done.stderr) == (INTERRUPTED, interrupted(sig))
    assert statuses(done.stdout) == ["running"]


def child_processes(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.every_qemu  # a fault real QEMU produces
@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_stops_the_launched_qemu(sig: signal.Signals, spawn: Spawn) -> None:
    """``--launch`` under a signal: exit 130, and the QEMU it started is gone with its files."""
    machine = ["-machine", "none", "-accel", "tcg", "-nodefaults", "-m", "64"]
    run = spawn("--launch", "--", *machine)
    run.send("query-status", "/wait NEVER_SENT timeout=30")
    run.wait_output(lambda out: out.endswith("}\n"), "the reply to query-status")
    children = child_processes(run.process.pid)
    assert len(children) == 1, children
    qemu = children[0]
    command = Path(f"/proc/{qemu}/cmdline").read_bytes().split(b"\0")
    assert Path(os.fsdecode(command[0])).name.startswith("qemu-system"), command
    assert any(str(run.tmpdir).encode() in arg for arg in command), command  # its socket
    try:
        run.process.send_signal(sig)
        assert run.exit_status() == INTERRUPTED
        assert (run.stderr(), statuses(run.stdout())) == (interrupted(sig), ["running"])
        assert not alive(qemu), "the launched QEMU outlived qmpsh"
        assert list(run.tmpdir.iterdir()) == []  # socket, log, scratch disk: all gone
    finally:
        if alive(qemu):
            os.kill(qemu, signal.SIGKILL)


SLOW_QEMU = """#!/bin/sh
echo $$ > "$0.pid"
sleep 1
exec {qemu} "$@"
"""


@pytest.mark.every_qemu  # a fault real QEMU produces
@pytest.mark.parametrize("sig", SIGNALS[:2], ids=[s.name for s in SIGNALS[:2]])
def test_signal_while_the_launched_qemu_starts_stops_it_too(
    sig: signal.Signals, spawn: Spawn, tmp_path: Path
) -> None:
    """Ctrl-C / SIGTERM during "starting QEMU": the QEMU being started must not outlive qmpsh."""
    qemu_binary = shutil.which(QEMU)
    assert qemu_binary is not None
    wrapper = tmp_path / "slow-qemu"  # a QEMU slow to open its socket: one second
    wrapper.write_text(SLOW_QEMU.format(qemu=qemu_binary))
    wrapper.chmod(0o755)
    pid_file = Path(f"{wrapper}.pid")
    machine = ["-machine", "none", "-accel", "tcg", "-nodefaults", "-m", "64"]
    run = spawn("--launch", "--", *machine, env={"QMPSH_QEMU": str(wrapper)})
    wait_until(
        lambda: (
            run.process.poll() is not None
            or (pid_file.exists() and pid_file.read_text().endswith("\n"))
        ),
        "the slow QEMU's pid",
    )
    assert run.process.poll() is None, run.stderr()
    qemu = int(pid_file.read_text())  # the wrapper's pid: QEMU's once it execs
    try:
        run.process.send_signal(sig)
        assert run.exit_status() == INTERRUPTED
        assert (run.stderr(), run.stdout()) == (interrupted(sig), "")
        assert not alive(qemu), "the QEMU being launched outlived qmpsh"
        assert list(run.tmpdir.iterdir()) == []
    finally:
        if alive(qemu):
            os.kill(qemu, signal.SIGKILL)


def parked_at(point: str, tmp_path: Path) -> dict[str, str]:
    """The environment that parks qmpsh at ``point`` (``qmpsh.cli.parking``): it creates
    the file returned under ``"file"`` there and waits for a signal."""
    return {"QMPSH_TEST_PARK": f"{point}:{tmp_path / 'parked'}", "file": str(tmp_path / "parked")}


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_while_modules_import(sig: signal.Signals, spawn: Spawn, tmp_path: Path) -> None:
    """The first moments of a run, before most of qmpsh is imported: the same line and
    status as later, never a traceback or a death by the signal (143, 129)."""
    park = parked_at("imports", tmp_path)
    run = spawn("/nonexistent.sock", "-c", "query-name", env=park)
    wait_until(
        lambda: run.process.poll() is not None or Path(park["file"]).exists(), "qmpsh parked"
    )
    run.process.send_signal(sig)
    assert run.exit_status() == INTERRUPTED
    assert (run.stderr(), run.stdout()) == (interrupted(sig), "")


# -- the interactive prompt on a real terminal


@pytest.fixture
def on_terminal(tmp_path: Path) -> Iterator[Callable[..., PtyProcess]]:
    """qmpsh at its prompt on a terminal; stderr goes to a file, so what it says there
    is seen even after a hang-up."""
    started: list[PtyProcess] = []

    def start(target: str, **more: str) -> PtyProcess:
        env = {"NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path / "state"), **more}
        term = PtyProcess.qmpsh("--no-pager", target, env=env, stderr=tmp_path / "stderr")
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


def test_ctrl_c_cancels_a_stalled_command_and_the_next_one_works(
    on_terminal: Callable[[str], PtyProcess],
) -> None:
    stalled = Unanswered()
    commands = {
        "slow": stalled,
        "query-status": {"status": "running"},
        "query-name": {"name": "fakevm"},
    }
    with FakeServer(commands=commands) as fake:
        term = on_terminal(str(fake.path))
        prompt = "fakevm>"
        term.expect(prompt)
        start = len(term.text())
        term.type("slow\r")
        assert stalled.arrived.wait(DEADLINE)
        term.type("\x03")  # Ctrl-C, through the terminal: SIGINT to qmpsh
        term.expect(prompt, term.expect("cancelled; QEMU may still complete the command", start))
        term.enter("query-status", '"status": "running"', prompt)
        term.type("\x04")  # Ctrl-D
        assert term.exit_status() == 0
        assert term.stderr() == ""
        sent = [msg.get("execute") for msg in fake.received]
    assert sent.count("slow") == 1 and sent[-1] == "query-status", sent


HANG_UPS = ["SIGTERM", "SIGHUP", "terminal-closed"]


@pytest.mark.parametrize("how", HANG_UPS)
def test_signal_at_the_prompt_keeps_the_history(
    how: str, shared_vm: Qemu, on_terminal: Callable[[str], PtyProcess], tmp_path: Path
) -> None:
    """Lines entered before SIGTERM / SIGHUP / a closed terminal are in the history file."""
    from prompt_toolkit.history import FileHistory

    term = on_terminal(str(shared_vm.qmp))
    prompt = "testvm>"
    term.expect(prompt)
    term.enter("query-status", '"running": true', prompt)
    term.enter("query-name", '"name": "testvm"', prompt)
    start = len(term.text())
    term.type("query-vers")  # typed, not entered: not history
    term.expect("query-vers", start)
    assert not term.cooked()  # the prompt edits the line itself
    if how == "terminal-closed":
        term.hang_up()
    else:
        term.process.send_signal(signal.Signals[how])
    assert term.exit_status() == INTERRUPTED
    assert term.stderr() == interrupted(
        signal.Signals.SIGHUP if how == "terminal-closed" else signal.Signals[how]
    )
    if how != "terminal-closed":
        assert term.cooked(), "qmpsh left the terminal in raw mode"
    history = tmp_path / "state" / "qmpsh" / "history"
    assert list(FileHistory(str(history)).load_history_strings()) == [
        "query-name",
        "query-status",
    ]  # newest first
    assert history.stat().st_mode & 0o777 == 0o600


def test_a_failing_observer_costs_a_warning_not_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in what shows a message (an observer) must not drop the session."""
    with FakeServer(commands={"query-status": {"status": "running"}}) as fake:

        async def body() -> None:
            transport = protocol.QmpTransport(str(fake.path))
            await transport.connect(5)
            seen: list[str] = []

            def broken(direction: str, msg: object) -> None:
                raise RuntimeError("boom")

            transport.observe(broken)
            transport.observe(lambda direction, msg: seen.append(direction))
            try:
                for _ in range(2):
                    reply = await transport.execute({"execute": "query-status"})
                    assert reply["return"] == {"status": "running"}
            finally:
                await transport.close()
            assert seen == ["send", "recv", "send", "recv"]

        asyncio.run(body())
    # Outside pytest, Python's last-resort handler prints this one line on stderr.
    said = [r.getMessage() for r in caplog.records if r.name == "qmpsh"]
    assert (
        len(said) == 1 and "internal error while showing a message (RuntimeError: boom)" in said[0]
    )


# -- what QEMU said, not a stall or a lost connection

#: Raw JSON QEMU cannot parse (a lone surrogate): it answers at once, with no id.
UNPARSABLE = '{"execute": "qom-get", "arguments": {"path": "\\ud800", "property": "type"}}'


@pytest.mark.every_qemu  # what QEMU answers to what it cannot parse
def test_what_qemu_cannot_parse_is_its_error_in_a_script(shared_vm: Qemu) -> None:
    started = time.monotonic()
    res = run_qmpsh(
        str(shared_vm.qmp), "--timeout", "60", "-k", "-c", UNPARSABLE, "-c", "query-name"
    )
    assert time.monotonic() - started < 30  # not the whole --timeout
    assert res.returncode == 1, res
    (said,) = res.stderr.splitlines()
    assert said.startswith("-c 1: qom-get: GenericError: ") and "stalled" not in said
    assert json_lines(res.stdout) == [{"name": "testvm"}]  # the connection goes on


@pytest.mark.every_qemu  # what QEMU answers to what it cannot parse
def test_what_qemu_cannot_parse_is_its_error_at_the_prompt(shared_vm: Qemu) -> None:
    async def body() -> None:
        async with running_repl(shared_vm) as r:
            shown = await r.enter(UNPARSABLE, "GenericError")
            assert "closed" not in shown
            await r.enter("query-name", '"testvm"')  # the session goes on
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    asyncio.run(body())


# -- a server that breaks the protocol: said what was wrong, output still JSON


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["plain", "json"])
def test_a_message_that_is_no_qmp_message_is_named_not_blamed_on_qemu(mode: list[str]) -> None:
    with FakeServer(commands={"odd": raw_reply(b"[1,2]\r\n")}) as fake:
        done = run_qmpsh(str(fake.path), *mode, "-c", "odd", timeout=30)
    assert done.returncode == LOST
    assert done.stderr.splitlines()[-1] == (
        f"qmpsh: {fake.path}: QEMU sent a message that is not a JSON object ('[1,2]'); "
        "qmpsh ended the connection"
    )


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["plain", "json"])
def test_nan_and_infinity_from_the_server_print_as_json(mode: list[str]) -> None:
    data = b'{"return": {"a": NaN, "b": Infinity, "c": -Infinity}, "id": ID}\r\n'
    with FakeServer(commands={"odd": raw_reply(data)}) as fake:
        done = run_qmpsh(str(fake.path), *mode, "-c", "odd", timeout=30)
    assert (done.returncode, done.stderr) == (0, ""), done

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    printed = [json.loads(line, parse_constant=refuse) for line in done.stdout.splitlines()]
    value = {"a": None, "b": None, "c": None}
    assert value in (printed if not mode else [m.get("return") for m in printed]), printed


def test_a_flood_of_events_at_the_prompt_is_summarised_and_a_reply_still_comes() -> None:
    """Every event is logged; past a display rate the rest are counted in one line."""
    count = 30_000
    commands = {"flood": event_flood(count, reply_first=True), "query-name": {"name": "fakevm"}}
    with FakeServer(commands=commands) as fake:

        async def body() -> None:
            transport = protocol.QmpTransport(str(fake.path))
            await transport.connect(5)
            session = Session(transport, use_schema=False)
            async with repl_over(session) as r:
                await r.enter("!flood", "{}")
                await r.enter("!query-name", '"fakevm"')

                def accounted() -> int:
                    """Events drawn, plus those the summary lines count."""
                    shown = [line for line in r.output().splitlines() if "FLOOD" in line]
                    summaries = [line for line in shown if "/events shows them" in line]
                    counted = sum(int(s.split()[1].replace(",", "")) for s in summaries)
                    return len(shown) - len(summaries) + counted

                await r.until(lambda: accounted() == count, "each event shown or counted")
                shown = [line for line in r.output().splitlines() if "FLOOD" in line]
                assert "more FLOOD events; /events shows them" in r.output()
                assert len(shown) < count // 10
                logged = [e.message for e in session.events]
                assert logged[-1]["data"] == {"n": count - 1}  # the log has the latest
                r.type(CTRL_D)
                assert await r.finish() == ExitStatus.OK

        asyncio.run(body())


def test_ctrl_c_before_the_prompt_reads_keys_only_clears_them(
    shared_vm: Qemu, on_terminal: Callable[..., PtyProcess], tmp_path: Path
) -> None:
    """Between the banner and the prompt reading keys the terminal is still in line
    mode: Ctrl-C there is a signal, and it clears what was typed (the terminal throws
    it away), as at the prompt; it does not end qmpsh. Keys typed there are kept."""
    park = parked_at("prompt", tmp_path)
    term = on_terminal(str(shared_vm.qmp), QMPSH_TEST_PARK=park["QMPSH_TEST_PARK"])
    wait_until(
        lambda: term.process.poll() is not None or Path(park["file"]).exists(), "qmpsh parked"
    )
    assert not term.reading()
    term.type("junk\x03")  # typed, then cleared: SIGINT while qmpsh is parked
    term.wait_reading()
    assert term.process.poll() is None, term.tail()
    start = len(term.text())
    term.type("query-name\r")
    term.expect('"testvm"', start)
    assert term.finish() == 0
    assert "junk" not in term.text()[start:]


def test_keys_typed_before_the_prompt_reads_them_reach_it(
    shared_vm: Qemu, on_terminal: Callable[..., PtyProcess], tmp_path: Path
) -> None:
    """A command typed (Enter included) after the banner, before the prompt reads keys,
    is not lost: it runs once the prompt reads, as if typed there."""
    park = parked_at("prompt", tmp_path)
    term = on_terminal(str(shared_vm.qmp), QMPSH_TEST_PARK=park["QMPSH_TEST_PARK"])
    wait_until(
        lambda: term.process.poll() is not None or Path(park["file"]).exists(), "qmpsh parked"
    )
    assert not term.reading()
    start = len(term.text())
    term.type("query-name\r")  # the terminal, in line mode, holds the line
    wait_until(lambda: "query-name" in term.text()[start:], "the terminal's echo")
    os.kill(term.process.pid, parking.GO_ON)
    term.expect('"testvm"', start)
    assert term.finish() == 0
    assert term.text()[start:].count('"testvm"') == 1  # run once
