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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from qmpsh.cli.run import drive as finish
from qmpsh.errors import ConnectionLost
from qmpsh.transport import blocking as direct
from qmpsh.transport import qemu_qmp as protocol
from tests.support.fakeserver import (
    FakeServer,
    Gate,
    Unanswered,
    drop_connection,
    event_flood,
    half_reply,
    sized_value,
)
from tests.support.pty_process import PtyProcess
from tests.support.qemu import QEMU, Qemu, start_qemu
from tests.support.qmpsh_process import PipedQmpsh, json_lines, run_qmpsh
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


# -- the interactive prompt on a real terminal


@pytest.fixture
def on_terminal(tmp_path: Path) -> Iterator[Callable[[str], PtyProcess]]:
    """qmpsh at its prompt on a terminal; stderr goes to a file, so what it says there
    is seen even after a hang-up."""
    started: list[PtyProcess] = []

    def start(target: str) -> PtyProcess:
        env = {"NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
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
