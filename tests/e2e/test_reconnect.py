"""Reply timeouts and reconnecting: QEMU stalls, QEMU goes away and comes back.

Scripts never wait for a QEMU that went away (exit 4) and never wait for a
reply longer than ``--timeout`` (exit 4, one line). At the prompt a stalled
command is reported and the session goes on; a QEMU that went away is waited
for (asked, or ``--reconnect``), and the session carries on with what the user
was typing, keeping the schema when the QEMU version is the same. The REPL is
driven through a real ``PromptSession`` (pipe input) against real QEMU
processes restarted on the same socket path; the fake server stands in only
for a stall and for a QEMU whose version changed across the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from qmpsh.errors import ConnectionLost, ExitStatus
from qmpsh.interactive import reconnect as rejoin
from qmpsh.interactive import repl
from qmpsh.language.schema import SchemaIndex
from qmpsh.render.rich_terminal import rich_renderer
from qmpsh.session.session import Session
from qmpsh.transport.interface import Transport
from qmpsh.transport.launch import listening
from qmpsh.transport.qemu_qmp import QmpTransport
from tests.support.fakeserver import Behaviour, Connection, FakeServer
from tests.support.places import short_tempdir
from tests.support.qemu import QEMU, start_qemu
from tests.support.qmpsh_process import no_traceback, run_qmpsh
from tests.support.repldriver import Repl, repl_over
from tests.support.tmux import PROMPT, Terminal, prompt_line
from tests.support.waiting import until, wait_until

pytestmark = pytest.mark.qemu

ENTER = "\r"
DEADLINE = 15.0
QUESTION = "Wait for QEMU to come back at"


# -- a real QEMU that can be stopped and started again on the same socket path


class Vm:
    """QEMU on a fixed socket path, restartable: what a VM restart looks like to qmpsh."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "vm.qmp"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, name: str = "testvm") -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        command = [
            QEMU, "-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none",
            "-m", "64", "-name", name, "-qmp", f"unix:{self.socket},server=on,wait=off",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        process = self.process
        wait_until(lambda: listening(self.socket) or process.poll() is not None, "QEMU", 20)
        assert process.poll() is None, "QEMU did not start"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def vm() -> Iterator[Vm]:
    machine = Vm(short_tempdir())
    machine.start()
    yield machine
    machine.kill()
    shutil.rmtree(machine.directory, ignore_errors=True)


# -- the REPL, as cli builds it, with a way to connect again


@dataclass
class Driver:
    """The shared REPL driver, plus what reconnecting did: connections made, questions asked."""

    repl: Repl
    connects: list[Transport]
    questions: list[str]

    def asked(self) -> bool:
        """The yes/no question is up (prompt_toolkit draws it, not the renderer)."""
        return any(q.startswith(QUESTION) for q in self.questions)


@asynccontextmanager
async def repl_on(
    target: str, *, auto: bool = False, reply_timeout: float | None = None
) -> AsyncIterator[tuple[Repl, Driver]]:
    """``run_repl`` as cli builds it, with a way to connect again to ``target``."""
    connects: list[Transport] = []

    async def connect() -> Transport:
        transport = QmpTransport(target)
        try:
            await transport.connect(2)
        except BaseException:
            await transport.close()
            raise
        connects.append(transport)
        return transport

    session = Session(await connect(), reply_timeout=reply_timeout)
    questions: list[str] = []
    confirm = rejoin.confirm

    async def asked(prompt: PromptSession[str], question: str) -> bool:
        questions.append(question)
        return await confirm(prompt, question)

    with mock.patch.object(rejoin, "confirm", asked):
        async with repl_over(session, reconnect=connect, auto_reconnect=auto) as driver:
            yield driver, Driver(driver, connects, questions)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


# -- scripts: a stalled QEMU ends the script after --timeout, exit 4


async def _stall(conn: Connection, request: dict[str, Any]) -> None:
    await conn.stall()


async def _half_then_stall(conn: Connection, request: dict[str, Any]) -> None:
    await conn.send_raw(b'{"return": {"status": "runn')
    await conn.stall()


@pytest.mark.parametrize("handler", [_stall, _half_then_stall], ids=["no-reply", "mid-reply"])
def test_script_gives_up_on_a_stalled_command_after_timeout(handler: Any) -> None:
    commands = {"query-status": {"status": "running"}, "query-name": handler}
    with FakeServer(commands=commands) as fake:
        started = time.monotonic()
        done = run_qmpsh(
            str(fake.path), "--timeout", "1", input="query-status\nquery-name\nquery-status\n"
        )
        took = time.monotonic() - started
    assert done.returncode == ExitStatus.LOST, done
    assert json.loads(done.stdout) == {"status": "running"}  # the first one, only
    assert done.stderr == (
        f"qmpsh: {fake.path}: no reply to query-name within 1 s "
        "(QEMU is stalled or still busy with it; --timeout waits longer)\n"
    )
    assert took < 10, took


def test_guest_agent_that_never_answers_is_not_waited_for_forever() -> None:
    """-N against a socket nobody answers on (a guest agent with no guest behind it)."""
    with FakeServer(Behaviour.SILENT) as fake:
        done = run_qmpsh(str(fake.path), "-N", "--timeout", "1", "-c", "guest-ping")
    assert done.returncode == ExitStatus.LOST, done
    assert done.stderr.startswith(f"qmpsh: {fake.path}: no reply to guest-ping within 1 s")
    assert done.stderr.count("\n") == 1
    no_traceback(done.stderr)


def test_script_never_reconnects_even_with_the_option(vm: Vm) -> None:
    """--reconnect is for people at a prompt; a script that lost QEMU exits 4."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qmpsh", "--reconnect", str(vm.socket)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "XDG_STATE_HOME": str(vm.directory / "state")},
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"query-status\n")
    process.stdin.flush()
    assert json.loads(process.stdout.readline())["status"] == "running"
    vm.kill()
    vm.start()  # back at once: still no reconnect for a script
    try:
        status = process.wait(10)
    finally:
        process.kill()
    assert process.stderr is not None
    assert status == ExitStatus.LOST
    assert process.stderr.read().decode() == f"qmpsh: {vm.socket}: connection closed by QEMU\n"


# -- at the prompt: a stalled command is reported, the session goes on


def test_slow_command_at_the_prompt_is_reported_and_the_session_goes_on() -> None:
    """QEMU busy past --timeout: the prompt comes back; the late reply is dropped."""

    async def late(conn: Connection, request: dict[str, Any]) -> None:
        await asyncio.sleep(1.0)
        await conn.reply(request, "late")

    # Not a command qmpsh asks itself (query-name is): only the user's waits.
    commands = {"query-status": {"status": "running"}, "x-slow": late}
    with FakeServer(commands=commands) as fake:

        async def body() -> None:
            async with repl_on(str(fake.path), reply_timeout=0.5) as (driver, _):
                shown = await driver.enter("!x-slow", "no reply to x-slow within 0.5 s")
                assert "Traceback" not in shown
                shown = await driver.enter("query-status", '"running"')
                assert "late" not in shown
                driver.type("\x04")
                assert await asyncio.wait_for(driver.task, DEADLINE) == ExitStatus.OK

        run(body())


def test_quit_at_the_prompt_leaves_with_0_without_offering_to_wait(tmp_path: Path) -> None:
    """Where QEMU could be waited for, a quit it accepted is not taken for a crash."""

    async def body(target: str) -> None:
        async with repl_on(target) as (driver, seen):
            driver.type("quit" + ENTER)
            assert await asyncio.wait_for(driver.task, DEADLINE) == ExitStatus.OK
            assert seen.questions == []
            assert len(seen.connects) == 1
            assert "closed" not in driver.output()

    vm = start_qemu()
    try:
        run(body(str(vm.qmp)))
        assert vm.process.wait(10) == 0  # QEMU itself went away, cleanly
    finally:
        vm.stop()


# -- at the prompt: QEMU goes away and comes back


def test_prompt_offers_to_wait_and_goes_on_with_the_same_schema(vm: Vm) -> None:
    async def body() -> None:
        async with repl_on(str(vm.socket)) as (driver, seen):
            await driver.enter("query-status", "running")
            index = await learned_schema(driver)
            assert index is not None
            vm.kill()
            await driver.until(seen.asked, "the question")
            assert f"qmpsh: {vm.socket}: connection closed by QEMU" in driver.output()
            vm.start(name="again")
            driver.type("y")
            await driver.until(lambda: "reconnected to QEMU" in driver.output(), "reconnected")
            assert f"at {vm.socket} (same QEMU version, schema kept)" in driver.output()
            assert await learned_schema(driver) is index  # not fetched again
            assert len(seen.connects) == 2
            # The session works on the new QEMU, and learned its name anew.
            await driver.enter("query-name", '"again"')
            await driver.until(lambda: driver.session.vm_name == "again", "the new VM name")
            await driver.enter("blockdev-add driver=null-co node-name=n1", "{}")
            driver.type("\x04")
            assert await asyncio.wait_for(driver.task, DEADLINE) == ExitStatus.OK

    run(body())


def test_declining_to_wait_ends_with_status_4(vm: Vm) -> None:
    async def body() -> None:
        async with repl_on(str(vm.socket)) as (driver, seen):
            vm.kill()
            await driver.until(seen.asked, "the question")
            driver.type("n")
            assert await asyncio.wait_for(driver.task, DEADLINE) == ExitStatus.LOST
            assert len(seen.connects) == 1

    run(body())


def test_the_line_being_typed_survives_a_reconnect(vm: Vm) -> None:
    async def body() -> None:
        async with repl_on(str(vm.socket), auto=True) as (driver, seen):
            driver.type("query-sta")
            await driver.until(lambda: driver.line == "query-sta", "the half-typed line")
            vm.kill()
            await driver.until(lambda: "waiting for QEMU" in driver.output(), "the wait")
            assert not seen.questions  # --reconnect does not ask
            vm.start()
            await driver.until(lambda: "reconnected" in driver.output(), "reconnected")
            await driver.until(lambda: driver.line == "query-sta", "the line restored")
            shown = await driver.enter("tus", '"running"')
            assert '"status": "running"' in shown

    run(body())


def test_a_command_lost_with_qemu_is_reported_then_the_wait_begins(vm: Vm) -> None:
    async def body() -> None:
        async with repl_on(str(vm.socket), auto=True) as (driver, _):
            await driver.until(driver.at_prompt, "the prompt")
            driver.type("/wait RESET timeout=30" + ENTER)
            await driver.until(lambda: not driver.at_prompt(), "the wait to start")
            vm.kill()
            await driver.until(lambda: "waiting for QEMU" in driver.output(), "the wait")
            assert "may or may not have taken effect" in driver.output()
            vm.start()
            await driver.until(lambda: "reconnected" in driver.output(), "reconnected")
            await driver.enter("query-status", "running")

    run(body())


async def learned_schema(driver: Repl) -> SchemaIndex | None:
    """The schema the prompt learned in the background for the current connection."""
    await driver.lookups.learned()
    return driver.session.index


def test_new_qemu_version_means_a_new_schema() -> None:
    """The fake server stands in for an upgraded QEMU restarted on the same socket."""
    old_schema: list[dict[str, object]] = [
        {"name": "query-status", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
        {"name": "0", "meta-type": "object", "members": []},
    ]
    new_schema = [*old_schema, {**old_schema[0], "name": "query-new"}]
    schemas = [old_schema]

    async def schema(conn: Connection, request: dict[str, Any]) -> None:
        await conn.reply(request, schemas[-1])

    async def die(conn: Connection, request: dict[str, Any]) -> None:
        conn.abort()

    commands = {"query-qmp-schema": schema, "query-status": {"status": "running"}, "die": die}
    with FakeServer(commands=commands) as fake:

        async def body() -> None:
            async with repl_on(str(fake.path)) as (driver, seen):
                index = await learned_schema(driver)
                assert index is not None and "query-new" not in index.commands
                fake.version = {"qemu": {"major": 8, "minor": 0, "micro": 0}, "package": ""}
                schemas.append(new_schema)
                driver.type("!die" + ENTER)
                await driver.until(seen.asked, "the question")
                driver.type(ENTER)  # Enter means yes
                await driver.until(lambda: "reconnected" in driver.output(), "reconnected")
                assert "QEMU 7.2.0 -> 8.0.0, reading the new schema" in driver.output()
                index = await learned_schema(driver)
                assert index is not None and "query-new" in index.commands

        run(body())
    asked = [r.get("execute") for r in fake.received].count("query-qmp-schema")
    assert asked == 2


def test_without_a_way_back_the_loss_is_raised(vm: Vm) -> None:
    """A QEMU qmpsh launched itself is not waited for: cli passes no ``reconnect``."""

    async def body() -> None:
        transport = QmpTransport(str(vm.socket))
        await transport.connect(5)
        session = Session(transport)
        with create_pipe_input() as keys:
            task = asyncio.ensure_future(
                repl.run_repl(
                    session, rich_renderer(file=io.StringIO()), history=None, input=keys,
                    output=DummyOutput(),
                )
            )  # fmt: skip
            await until(lambda: session.vm_name, "the prompt to learn the VM's name")
            vm.kill()
            with pytest.raises(ConnectionLost, match="connection closed by QEMU"):
                await asyncio.wait_for(task, DEADLINE)
        await transport.close()

    run(body())


# -- in a real terminal: the question, the spinner, Ctrl-C gives up; --reconnect comes back


def test_reconnect_in_a_real_terminal(vm: Vm, tmp_path: Path) -> None:
    terminal = Terminal()
    try:
        exit_file = tmp_path / "exit"
        command = shlex.join([sys.executable, "-m", "qmpsh", str(vm.socket)])
        terminal.start(
            # The shell outlives the Ctrl-C sent to the pane's process group (a trap
            # with a command is not inherited: qmpsh gets SIGINT as usual).
            f"trap true INT; {command}; echo EXIT=$? > {shlex.quote(str(exit_file))}",
            env={"XDG_STATE_HOME": str(tmp_path / "state")},
        )
        terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")
        vm.kill()
        terminal.wait_for(lambda s: QUESTION in s, "the question")
        terminal.press("y")
        spinner = terminal.wait_for(lambda s: " s (" in s, "the spinner with the time and why")
        assert "waiting for " in spinner and "(connection refused" in spinner  # the socket is left
        terminal.press("C-c")
        screen = terminal.wait_for(lambda s: "gave up waiting" in s, "giving up")
        assert "Traceback" not in screen
        wait_until(exit_file.exists, "qmpsh's exit status")
        assert exit_file.read_text().strip() == "EXIT=4"
    finally:
        terminal.close()


def test_automatic_reconnect_in_a_real_terminal(vm: Vm, tmp_path: Path) -> None:
    terminal = Terminal()
    try:
        command = shlex.join([sys.executable, "-m", "qmpsh", "--reconnect", str(vm.socket)])
        terminal.start(command, env={"XDG_STATE_HOME": str(tmp_path / "state")})
        terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")
        terminal.type("query-st")
        vm.kill()
        terminal.wait_for(lambda s: "waiting for QEMU to come back" in s, "the wait")
        vm.start()
        terminal.wait_for(lambda s: "reconnected to QEMU" in s, "reconnected")
        terminal.wait_for(lambda s: prompt_line(s) == PROMPT + "query-st", "the line kept")
        terminal.type("atus")
        terminal.press("Enter")
        screen = terminal.wait_for(lambda s: '"running"' in s, "the reply")
        assert "Traceback" not in screen
    finally:
        terminal.close()


def test_a_real_qemu_that_stops_answering_ends_the_script_after_timeout(vm: Vm) -> None:
    """QEMU itself stalled (SIGSTOP): the script gives up after --timeout, exit 4."""
    assert vm.process is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "qmpsh", "--timeout", "1", str(vm.socket)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "XDG_STATE_HOME": str(vm.directory / "state")},
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"query-name\n")
    process.stdin.flush()
    assert json.loads(process.stdout.readline()) == {"name": "testvm"}
    vm.process.send_signal(signal.SIGSTOP)
    try:
        process.stdin.write(b"query-status\n")
        process.stdin.flush()
        status = process.wait(15)
    finally:
        vm.process.send_signal(signal.SIGCONT)
        process.kill()
    assert process.stderr is not None
    assert status == ExitStatus.LOST
    assert process.stderr.read().decode() == (
        f"qmpsh: {vm.socket}: no reply to query-status within 1 s "
        "(QEMU is stalled or still busy with it; --timeout waits longer)\n"
    )
