"""Shared fixtures: real QEMU on private sockets, a libvirt domain, a qemu-ga; running qmpsh.

Every QEMU here is real (``qemu-system-x86_64`` under TCG); a test that needs a
fault QEMU cannot produce uses ``tests/fakeserver.py`` instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

QEMU = os.environ.get("QMPSH_QEMU", "qemu-system-x86_64")
ROOT = Path(__file__).resolve().parent.parent


def short_tempdir() -> Path:
    """A private directory with a short path: unix socket paths are limited to 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="qmpsh-t", dir="/tmp"))


class RawQmp:
    """A minimal blocking QMP client, independent of qmpsh, to check QEMU's state."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self.events: list[dict[str, Any]] = []
        self.greeting = self._read()
        self.cmd("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise EOFError("QEMU closed the monitor")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def call(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send a command, return its whole reply; events seen meanwhile go to ``events``."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
            else:
                return reply

    def cmd(self, command: str, **arguments: Any) -> Any:
        """Like ``call`` but return the return value, failing the test on an error."""
        reply = self.call(command, **arguments)
        assert "return" in reply, reply
        return reply["return"]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@dataclass
class Qemu:
    """One real QEMU process: ``qmp`` is for qmpsh, ``spare`` for the test itself."""

    process: subprocess.Popen[bytes]
    directory: Path
    qmp: Path
    spare: Path
    image: Path | None = None
    _clients: list[RawQmp] = field(default_factory=list)

    def client(self) -> RawQmp:
        """The raw client on the spare monitor; the same one each time, since QEMU
        serves one client per monitor socket."""
        if not self._clients:
            self._clients.append(RawQmp(self.spare))
        return self._clients[0]

    def stop(self) -> None:
        for raw in self._clients:
            raw.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_qemu(*extra: str, disk: bool = False, machine: str = "none") -> Qemu:
    """Start QEMU under TCG with two QMP sockets; ``disk`` adds a qcow2 (not attached)."""
    if shutil.which(QEMU) is None:
        pytest.fail(f"{QEMU} is not installed; the README's test command installs it")
    directory = short_tempdir()
    qmp, spare = directory / "qmp.sock", directory / "spare.sock"
    image = None
    if disk:
        image = directory / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    command = [
        QEMU, "-machine", machine, "-accel", "tcg", "-nodefaults", "-display", "none",
        "-m", "64", "-name", "testvm",
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-qmp", f"unix:{spare},server=on,wait=off",
        *extra,
    ]  # fmt: skip
    log = open(directory / "qemu.log", "wb")  # noqa: SIM115 - lives as long as QEMU
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 20
    while not listening(qmp, spare):
        if process.poll() is not None or time.monotonic() > deadline:
            output = (directory / "qemu.log").read_text(errors="replace")
            process.kill()
            pytest.fail(f"QEMU did not start: {output}")
        time.sleep(0.02)
    return Qemu(process, directory, qmp, spare, image)


def listening(*paths: Path) -> bool:
    """Whether every one of ``paths`` is a unix socket that accepts connections.

    Not just that the file exists: QEMU creates it (bind) a moment before it
    listens, and a client that connects in between is refused.
    """
    wanted = {str(path) for path in paths}
    with open("/proc/net/unix") as table:
        next(table)  # the header
        for fields in map(str.split, table):
            if len(fields) >= 8 and int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON
                wanted.discard(fields[7])
    return not wanted


_EMPTY_CONFIG = tempfile.mkdtemp(prefix="qmpsh-config")
_STATE = tempfile.mkdtemp(prefix="qmpsh-state")


def pytest_configure(config: pytest.Config) -> None:
    """The tester's own ``~/.config/qmpsh/config.toml`` must not change what tests see:
    every qmpsh a test starts (tmux panes included) reads an empty config directory
    unless the test gives it one."""
    os.environ["XDG_CONFIG_HOME"] = _EMPTY_CONFIG
    # Nor its history or schema cache: in-process sessions write to a directory of the run.
    os.environ["XDG_STATE_HOME"] = _STATE


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_EMPTY_CONFIG, ignore_errors=True)
    shutil.rmtree(_STATE, ignore_errors=True)


@pytest.fixture
def qemu() -> Iterator[Qemu]:
    """A ``-machine none`` QEMU: cheap, for everything that needs no guest hardware."""
    vm = start_qemu(disk=True)
    yield vm
    vm.stop()


def run_qmpsh(
    *args: str,
    input: str | bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``qmpsh`` (``python -m qmpsh``) as a user would, from a pipe."""
    state = short_tempdir()
    full_env = {**os.environ, "XDG_STATE_HOME": str(state), **(env or {})}
    data = input.encode() if isinstance(input, str) else input
    try:
        done = subprocess.run(
            [sys.executable, "-m", "qmpsh", *args],
            input=data if data is not None else b"",
            capture_output=True,
            timeout=timeout,
            env=full_env,
        )
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in lines(text)]


def no_traceback(*outputs: str | Sequence[str]) -> None:
    for out in outputs:
        assert "Traceback" not in str(out), out


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many cases the fuzz properties generated (``tests/fuzzcount.py``)."""
    from tests.fuzzcount import summary

    for line in summary():
        terminalreporter.write_line(line)


#: Runs qmpsh's main() and then says which heavy modules it imported.
PROBE = """
import sys
from qmpsh.cli.main import main
status = main(sys.argv[1:])
heavy = ("asyncio", "qemu.qmp", "prompt_toolkit", "rich")
print("imported:", *sorted(m for m in heavy if m in sys.modules), file=sys.stderr)
sys.exit(status)
"""


def run_python(code: str, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS``, fed ``input``: qmpsh entered in ways its binary is not."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    """qmpsh run with ``args``; its stderr ends with the heavy modules it imported."""
    return run_python(PROBE, *args, input=input)


# -- a real libvirtd and a real qemu-ga, shared by the tests that reach QEMU through them

#: The libvirt connection of the test domains, and the session-wide domain's name.
URI = "qemu:///system"
DOMAIN = f"qmpsh-t{os.getpid()}"


@dataclass(frozen=True)
class Libvirt:
    """The running libvirtd and the test domain on it."""

    domain: str
    workdir: Path

    @property
    def target(self) -> str:
        return f"{URI}/{self.domain}"

    def virsh(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=30
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done.stdout

    def transient(self, name: str) -> int:
        """Start a transient domain (gone once it stops); return its QEMU's pid."""
        xml = self.workdir / f"{name}.xml"
        xml.write_text((self.workdir / f"{self.domain}.xml").read_text().replace(self.domain, name))
        self.virsh("create", str(xml))
        return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())


@pytest.fixture(scope="session")
def libvirt() -> Iterator[Libvirt]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the tests run libvirtd with the QEMU driver")
    workdir = short_tempdir()
    down = ["bash", str(ROOT / "tests" / "libvirt_teardown.sh"), str(workdir), DOMAIN]
    up = subprocess.run(
        ["bash", str(ROOT / "tests" / "libvirt_setup.sh"), str(workdir), DOMAIN],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if up.returncode != 0:
        log = Path(os.environ.get("QMPSH_LIBVIRT_STATE", "/tmp/qmpsh-libvirt-daemons"))
        log /= "libvirtd.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        subprocess.run(down, capture_output=True, timeout=60)
        pytest.fail(f"libvirt set-up failed:\n{up.stdout}\n{up.stderr}\n{tail}")
    yield Libvirt(DOMAIN, workdir)
    subprocess.run(down, capture_output=True, timeout=60)


#: Debian's qemu-guest-agent, run on this machine in unix-listen mode (no guest needed).
QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"
HARMLESS = {"guest-ping", "guest-info", "guest-sync", "guest-sync-delimited", "guest-get-time"}


@dataclass
class GuestAgent:
    process: subprocess.Popen[bytes]
    socket: Path
    directory: Path
    blocked: set[str]


@pytest.fixture
def guest_agent() -> Iterator[GuestAgent]:
    if not os.access(QEMU_GA, os.X_OK):
        pytest.fail("qemu-ga is not installed; the README's test command installs it")
    listed = subprocess.run(
        [QEMU_GA, "--block-rpcs", "help"], capture_output=True, text=True, timeout=10
    )
    every = set(listed.stdout.split()) | set(listed.stderr.split())
    assert every >= HARMLESS, listed
    blocked = every - HARMLESS  # no shutdown, exec, file access or freeze of this machine
    directory = short_tempdir()
    sock = directory / "ga.sock"
    command = [
        QEMU_GA, "--method", "unix-listen", "--path", str(sock),
        "--statedir", str(directory), "--pidfile", str(directory / "qemu-ga.pid"),
        "--logfile", str(directory / "qemu-ga.log"), "--block-rpcs", ",".join(sorted(blocked)),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not listening(sock):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (directory / "qemu-ga.log").read_text(errors="replace")
            shutil.rmtree(directory, ignore_errors=True)
            pytest.fail(f"qemu-ga did not start: {log}")
        time.sleep(0.02)
    agent = GuestAgent(process, sock, directory, blocked)
    yield agent
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(directory, ignore_errors=True)
