"""Connecting: every way to fail ends in exit 3 and one clear line, in bounded time.

The real ``python -m qmpsh`` runs as a subprocess each time. Real QEMU shows what
it can on demand (a monitor held by another client, an HMP monitor, QMP over
TCP, a socket only root may use); ``tests/support/fakeserver.py`` stands in for the
rest (silence, garbage, a broken greeting, a stalled negotiation, qemu-ga).

Elapsed times are asserted only as a guard against hangs: a failure that
needs no waiting must end long before its ``--timeout``, and one that must wait
ends soon after it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.busy import queue_filled
from tests.support.fakeserver import (
    Behaviour,
    Connection,
    FakeServer,
    QmpError,
    ipv6_loopback,
    unused_tcp_port,
)
from tests.support.places import short_tempdir
from tests.support.pty_process import PtyProcess
from tests.support.qemu import Qemu, start_qemu
from tests.support.qmpsh_process import json_lines, lines, no_traceback, run_qmpsh
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.timeout(90), pytest.mark.every_qemu]

#: What a failure that needs no waiting is given as --timeout: it must not wait for it.
LONG = 30.0
#: How long a failure that needs no waiting may take (Python start-up included).
QUICK = 10.0
#: What a failure that must wait is given as --timeout, and how much later it may end.
SHORT = 1.0
MARGIN = 6.0


@dataclass
class Failure:
    line: str  # the one line on stderr
    elapsed: float


def connect_fails(target: str, *options: str, timeout: float = LONG) -> Failure:
    """Run ``qmpsh [options] --timeout T TARGET -c query-status``; it must exit 3 with one
    line on stderr about TARGET, nothing on stdout, and end before ``timeout + MARGIN``."""
    start = time.monotonic()
    done = run_qmpsh(
        *options, "--timeout", f"{timeout:g}", target, "-c", "query-status", timeout=60
    )
    elapsed = time.monotonic() - start
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 3, done
    assert done.stdout == "", done
    errors = lines(done.stderr)
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"qmpsh: {target}: "), errors
    assert "\x1b" not in done.stderr, done.stderr
    assert elapsed < timeout + MARGIN, elapsed
    return Failure(errors[0], elapsed)


def fails_at_once(target: str, *options: str) -> str:
    failure = connect_fails(target, *options, timeout=LONG)
    assert failure.elapsed < QUICK, failure
    return failure.line


def fails_after_timeout(target: str, *options: str) -> str:
    failure = connect_fails(target, *options, timeout=SHORT)
    assert SHORT <= failure.elapsed < SHORT + MARGIN, failure
    assert f" within {SHORT:g} s" in failure.line, failure  # --timeout was the one that ran out
    return failure.line


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A short private directory (unix socket paths are limited to 108 bytes)."""
    directory = short_tempdir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# -- the target does not lead to a server


def test_missing_socket_path(tmp: Path) -> None:
    target = str(tmp / "qmp.sock")
    assert fails_at_once(target) == f"qmpsh: {target}: no such socket"


@pytest.mark.parametrize("kind", ["regular file", "directory", "fifo"])
def test_target_that_is_not_a_socket(tmp: Path, kind: str) -> None:
    path = tmp / "qmp.sock"
    if kind == "regular file":
        path.write_text("not a socket\n")
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    assert fails_at_once(str(path)) == f"qmpsh: {path}: not a socket"


def test_unix_socket_nobody_listens_on(tmp: Path) -> None:
    """A socket file left behind (QEMU was killed): bound once, never listened on."""
    path = tmp / "qmp.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    assert stat.S_ISSOCK(path.stat().st_mode)
    line = fails_at_once(str(path))
    assert line == f"qmpsh: {path}: connection refused (is QEMU running?)"


def test_tcp_port_nobody_listens_on() -> None:
    target = f"127.0.0.1:{unused_tcp_port()}"
    assert fails_at_once(target) == f"qmpsh: {target}: connection refused (is QEMU running?)"


# -- permission denied, as a user who is not root

NOBODY = 65534


def run_as_nobody(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run qmpsh as uid/gid 65534 with no supplementary groups.

    The venv's interpreter may live under a directory only root may enter (on
    this project's machines, ``/root/.pyenv``), so the process keeps one capability,
    CAP_DAC_READ_SEARCH: it may read files and search directories, which is
    all starting Python needs. Connecting to a unix socket needs *write*
    permission on it, which that capability does not grant (CAP_DAC_OVERRIDE
    would); the test with a 0666 socket shows the same process does connect.
    """
    caps = "-all,+dac_read_search"
    command = [
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
        f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
        sys.executable, "-m", "qmpsh", *args,
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
    done = subprocess.run(
        command, capture_output=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode()
    )


@pytest.mark.qemu
@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_socket_only_root_may_use(qemu: Qemu, tmp: Path) -> None:
    assert qemu.qmp.stat().st_uid == 0
    # Anyone may reach the socket (even without the capability): only its mode decides.
    qemu.directory.chmod(0o711)
    tmp.chmod(0o711)
    home = tmp / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)

    qemu.qmp.chmod(0o600)
    start = time.monotonic()
    denied = run_as_nobody(str(qemu.qmp), "-c", "query-status", home=home)
    no_traceback(denied.stdout, denied.stderr)
    assert denied.returncode == 3, denied
    assert denied.stdout == ""
    assert lines(denied.stderr) == [f"qmpsh: {qemu.qmp}: permission denied"]
    assert time.monotonic() - start < QUICK

    qemu.qmp.chmod(0o666)  # the control: the same unprivileged process, now allowed
    allowed = run_as_nobody(str(qemu.qmp), "-c", "query-status", home=home)
    no_traceback(allowed.stdout, allowed.stderr)
    assert allowed.returncode == 0, allowed
    assert json_lines(allowed.stdout) == [qemu.client().cmd("query-status")]


# -- a monitor that is busy, or not QMP


@pytest.mark.qemu
def test_real_qemu_monitor_held_by_another_client(qemu: Qemu) -> None:
    holder = qemu.client()  # QEMU serves one client per QMP socket
    line = fails_after_timeout(str(qemu.spare))
    assert "no QMP greeting within 1 s" in line
    assert "another client may hold this monitor" in line
    assert holder.cmd("query-name") == {"name": "testvm"}  # qmpsh disturbed nobody


@pytest.mark.qemu
def test_real_qemu_monitor_held_with_others_waiting_in_line(qemu: Qemu) -> None:
    """Past a few clients waiting, the socket refuses at once: still the busy line."""
    holder = qemu.client()
    with queue_filled(qemu.spare):
        line = fails_at_once(str(qemu.spare))
    assert line == (
        f"qmpsh: {qemu.spare}: busy: another client may hold this monitor (QEMU serves one "
        "client per QMP socket), and its queue of clients waiting is full"
    )
    assert holder.cmd("query-name") == {"name": "testvm"}


def test_silent_server() -> None:
    with FakeServer(Behaviour.SILENT) as fake:
        line = fails_after_timeout(str(fake.path))
        assert "another client may hold this monitor" in line
        assert fake.connections == 1
        assert fake.received == []


@pytest.mark.parametrize(
    ("behaviour", "text", "expected"),
    [
        (Behaviour.GARBAGE, b"", "not a QMP server (it sent bytes that are not UTF-8)"),
        (
            Behaviour.TEXT,
            b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
            "not a QMP server (it sent 'SSH-2.0-OpenSSH_9.2p1 Debian-2')",
        ),
        (
            Behaviour.TEXT,  # a peer trying to drive the user's terminal
            b"\x1b]0;owned\x07\x1b[2Jhello\n",
            "not a QMP server (it sent '\\\\x1b]0;owned\\\\x07\\\\x1b[2Jhello')",
        ),
        (Behaviour.TEXT, b"\r\n", "not a QMP server (it sent an empty line)"),
        (Behaviour.TEXT, b"[1, 2]\n", "not a QMP server (unexpected greeting: "),
        (Behaviour.INVALID_UTF8, b"", "not a QMP server (it sent bytes that are not UTF-8)"),
        (
            Behaviour.NO_CAPABILITIES,
            b"",
            "not a QMP server (unexpected greeting: 'QMPGreeting' object requires "
            "'capabilities' member)",
        ),
        (Behaviour.CLOSE, b"", "the server closed the connection before greeting (not QMP?)"),
    ],
    ids=["garbage", "ssh", "escapes", "empty-line", "json-array", "utf8", "no-caps", "close"],
)
def test_server_that_is_not_qmp(behaviour: Behaviour, text: bytes, expected: str) -> None:
    with FakeServer(behaviour, text=text) as fake:
        line = fails_at_once(str(fake.path))
        assert line.startswith(f"qmpsh: {fake.path}: {expected}"), line
        assert fake.received == []  # it never got as far as negotiating


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_other_garbage(seed: int) -> None:
    with FakeServer(Behaviour.GARBAGE, seed=seed) as fake:
        assert ": not a QMP server (" in fails_at_once(str(fake.path))


@pytest.mark.qemu
def test_real_qemu_hmp_monitor(tmp: Path) -> None:
    hmp = tmp / "hmp.sock"
    vm = start_qemu("-monitor", f"unix:{hmp},server=on,wait=off")
    try:
        wait_until(hmp.exists, "the HMP socket")
        line = fails_at_once(str(hmp))
        assert line == (
            f"qmpsh: {hmp}: not a QMP server (this is an HMP monitor; use the socket given to -qmp)"
        )
    finally:
        vm.stop()


def test_negotiation_never_answered() -> None:
    with FakeServer(Behaviour.STALL_AFTER_GREETING) as fake:
        line = fails_after_timeout(str(fake.path))
        assert line == (
            f"qmpsh: {fake.path}: the server greeted but did not answer qmp_capabilities within 1 s"
        )
        assert [m["execute"] for m in fake.received] == ["qmp_capabilities"]


# -- the guest agent: no greeting, no negotiation


def test_guest_agent_with_skip_negotiation() -> None:
    with FakeServer(Behaviour.GUEST_AGENT) as fake:
        start = time.monotonic()
        done = run_qmpsh(
            "-N", str(fake.path), "-c", "guest-ping", "-c", "guest-info", "-c",
            "guest-sync-delimited id=7", timeout=60,
        )  # fmt: skip
        assert time.monotonic() - start < QUICK
        no_traceback(done.stdout, done.stderr)
        assert done.returncode == 0, done
        assert done.stderr == ""
        ping, info, sync = json_lines(done.stdout)
        assert ping == {}
        assert info["version"] == "7.2.0"
        assert {"name": "guest-ping", "enabled": True, "success-response": True} in info[
            "supported_commands"
        ]
        assert sync == 7  # the reply came after qemu-ga's 0xFF sentinel
        assert [m["execute"] for m in fake.received] == [
            "guest-ping",
            "guest-info",
            "guest-sync-delimited",
        ]  # no qmp_capabilities


def test_guest_agent_without_skip_negotiation_hints_at_it() -> None:
    with FakeServer(Behaviour.GUEST_AGENT) as fake:
        line = fails_after_timeout(str(fake.path))
        assert line.endswith("(a guest agent needs -N)"), line
        assert fake.received == []


# -- connections that work


def listening(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) == 0


@pytest.mark.qemu
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_real_qemu_over_tcp(host: str) -> None:
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    port = unused_tcp_port(host)
    if host == "::1":
        # QEMU's legacy "-qmp tcp:HOST:PORT" splits at the first ':' and cannot take IPv6.
        monitor = [
            "-chardev", f"socket,id=tcpmon,host={host},port={port},server=on,wait=off,ipv6=on",
            "-mon", "chardev=tcpmon,mode=control",
        ]  # fmt: skip
        target = f"[{host}]:{port}"
    else:
        monitor = ["-qmp", f"tcp:{host}:{port},server=on,wait=off"]
        target = f"{host}:{port}"
    vm = start_qemu(*monitor)
    try:
        # QEMU serves one client at a time and drops this probe at once.
        wait_until(lambda: listening(host, port) or vm.process.poll() is not None, "QEMU to listen")
        assert vm.process.poll() is None, (vm.directory / "qemu.log").read_text()
        done = run_qmpsh(target, "-c", "query-status", timeout=60)
        no_traceback(done.stdout, done.stderr)
        assert done.returncode == 0, done
        assert done.stderr == ""
        assert json_lines(done.stdout) == [vm.client().cmd("query-status")]
    finally:
        vm.stop()


async def event_then_reply(conn: Connection, request: dict[str, Any]) -> None:
    await conn.event("RESUME")
    await conn.reply(request, {"status": "running", "running": True})


@pytest.mark.parametrize("transport", ["unix", "tcp", "tcp6"])
def test_fake_qmp_server_answers_from_its_table(transport: str) -> None:
    if transport == "tcp6" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    commands = {
        "query-name": {"name": "fake"},
        "stop": QmpError("GenericError", "not today"),
        "cont": event_then_reply,
    }
    with FakeServer(
        Behaviour.QMP, commands=commands, tcp=transport == "tcp", tcp6=transport == "tcp6"
    ) as fake:
        target = {"unix": str(fake.path)}.get(transport) or (
            fake.tcp_target if transport == "tcp" else fake.tcp6_target
        )
        done = run_qmpsh(
            "--json", "-k", target, "-c", "query-name", "-c", "stop", "-c", "cont", "-c", "nope",
            timeout=60,
        )  # fmt: skip
        no_traceback(done.stdout, done.stderr)
        assert done.returncode == 1, done
        messages = json_lines(done.stdout)
        assert [m.get("return", m.get("error", m.get("event"))) for m in messages] == [
            {"name": "fake"},
            {"class": "GenericError", "desc": "not today"},
            "RESUME",
            {"status": "running", "running": True},
            {"class": "CommandNotFound", "desc": "The command nope has not been found"},
        ]
        assert [m["execute"] for m in fake.received] == [
            "qmp_capabilities",
            "query-name",
            "stop",
            "cont",
            "nope",
            "query-commands",  # the names, for a suggestion after CommandNotFound
        ]


# -- the banner is for people at a terminal


@pytest.mark.qemu
def test_script_stdout_holds_only_results(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), input="query-status\n\nquery-name\n", timeout=60)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 0, done
    assert done.stderr == ""
    status = qemu.client().cmd("query-status")
    assert done.stdout.splitlines() == [
        json.dumps(status, separators=(",", ":")),
        '{"name":"testvm"}',
    ]


_PROMPT = re.compile(r"^(QMP|HMP)( \S+)?>", re.MULTILINE)


def on_a_terminal(target: str) -> str:
    """Start qmpsh on a pseudo-terminal, wait for its prompt, leave with /exit; return
    what the terminal showed, without escape sequences."""
    env = {"XDG_STATE_HOME": str(short_tempdir())}
    term = PtyProcess.qmpsh(target, env=env, rows=40, cols=200)
    try:
        term.expect(_PROMPT, timeout=30)
        term.finish("/exit\r")
        return term.text()
    finally:
        term.close()
        shutil.rmtree(env["XDG_STATE_HOME"], ignore_errors=True)


def test_the_banner_is_there_on_a_terminal() -> None:
    """The control for the test above: the same run on a terminal prints the banner."""
    version = {"qemu": {"major": 9, "minor": 1, "micro": 2}, "package": "fake-pkg"}
    with FakeServer(Behaviour.QMP, version=version) as fake:
        shown = on_a_terminal(str(fake.path))
    assert f"Connected to QEMU 9.1.2 (fake-pkg) at {fake.path}" in shown, shown


def test_a_huge_server_string_is_shortened_in_the_banner_and_the_prompt() -> None:
    """A greeting's 10 MB package and a long VM name stay one line each."""
    package = "p" * (10 << 20)
    version = {"qemu": {"major": 9, "minor": 1, "micro": 2}, "package": package}
    name = "n" * 5000
    with FakeServer(
        Behaviour.QMP, version=version, commands={"query-name": {"name": name}}
    ) as fake:
        env = {"XDG_STATE_HOME": str(short_tempdir())}
        term = PtyProcess.qmpsh(str(fake.path), env=env, rows=40, cols=400)
        try:
            shortened = "n" * 120 + "... (5,000 characters)"
            term.expect(shortened, timeout=30)  # the prompt, once query-name is answered
            term.finish("/exit\r")
            shown = term.text()
        finally:
            term.close()
            shutil.rmtree(env["XDG_STATE_HOME"], ignore_errors=True)
    head = f"Connected to QEMU 9.1.2 ({'p' * 120}... (10,485,760 characters)) at {fake.path}"
    assert head in shown
    assert len(shown) < 20_000
