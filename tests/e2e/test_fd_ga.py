"""File descriptors handed to real QEMU (``/fd PATH getfd|add-fd``), and a real qemu-ga.

FD passing is checked from outside qmpsh: ``query-fdsets`` on the test's own
monitor, and QEMU's ``/proc/PID/fd`` table. The guest agent is Debian's
``qemu-guest-agent`` run on this machine in ``unix-listen`` mode (no guest
needed); every command that could act on the machine is blocked with ``-b``,
so only harmless ones answer, and guest-info shows the rest disabled.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.guest_agent import HARMLESS, QEMU_GA, GuestAgent
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import out_lines, probe, run_plain

# --------------------------------------------------------------------------- /fd


def fds_open_on(pid: int, path: Path) -> list[int]:
    """The descriptors of process ``pid`` that are open on ``path``."""
    found = []
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(entry) == str(path):
                found.append(int(entry.name))
        except OSError:  # closed meanwhile
            continue
    return sorted(found)


@pytest.mark.qemu
def test_fd_passes_an_open_file_with_add_fd_and_getfd(qemu: Qemu) -> None:
    path = qemu.directory / "passed.img"
    path.write_bytes(b"\0" * 4096)
    pid = qemu.process.pid
    raw = qemu.client()
    assert raw.cmd("query-fdsets") == [] and fds_open_on(pid, path) == []
    res = run_plain(
        str(qemu.qmp),
        "-c", f"/fd {path} add-fd fdset-id=7 opaque=qmpsh-test",
        "-c", f"/fd {path} getfd fdname=f0",
    )  # fmt: skip
    assert res.code == 0, res
    assert res.stderr == ""
    added, got = out_lines(res.stdout)
    assert got == "{}"
    number = json.loads(added)
    assert number["fdset-id"] == 7
    # QEMU's own record of the fd set, asked on another monitor ...
    assert raw.cmd("query-fdsets") == [
        {"fdset-id": 7, "fds": [{"fd": number["fd"], "opaque": "qmpsh-test"}]}
    ]
    # ... and the kernel's: QEMU holds the file open twice, once under the number it reported.
    held = fds_open_on(pid, path)
    assert len(held) == 2 and number["fd"] in held
    # getfd's descriptor is named on the monitor it came through (it outlives the client).
    res = run_plain(str(qemu.qmp), "-c", "closefd fdname=f0")
    assert (res.code, res.stdout) == (0, "{}\n"), res
    assert fds_open_on(pid, path) == [number["fd"]]
    raw.cmd("remove-fd", **{"fdset-id": 7})
    assert raw.cmd("query-fdsets") == [] and fds_open_on(pid, path) == []


@pytest.mark.qemu
def test_getfd_is_usable_by_name_in_the_same_session(qemu: Qemu) -> None:
    path = qemu.directory / "named.img"
    path.write_bytes(b"x")
    res = run_plain(
        str(qemu.qmp),
        "-k",
        "-c", f"/fd {path} getfd fdname=f1",
        "-c", "closefd fdname=f1",
        "-c", "closefd fdname=f1",
    )  # fmt: skip
    assert res.code == 1, res
    assert out_lines(res.stdout) == ["{}", "{}"]  # the named fd existed once, and only once
    assert res.stderr == "-c 3: closefd: GenericError: File descriptor named 'f1' not found\n"


@pytest.mark.qemu
def test_fd_problems_are_one_line_and_the_session_goes_on(qemu: Qemu) -> None:
    missing = qemu.directory / "no-such-file"
    script = (
        f"/fd {missing} add-fd fdset-id=1\n"
        f"/fd {qemu.directory}\n"
        "/fd\n"
        f"/fd {qemu.image} /hmp info version\n"
        "query-name\n"
    )
    res = run_plain(str(qemu.qmp), "--keep-going", input=script)
    assert res.code == 1, res
    assert out_lines(res.stdout) == ['{"name":"testvm"}']
    usage = "/fd takes PATH and a QMP command, e.g. /fd /tmp/x getfd fdname=f0"
    assert out_lines(res.stderr) == [
        f"line 1: {missing}: No such file or directory",
        f"line 2: {usage}",
        f"line 3: {usage}",
        f"line 4: {usage}",
    ]
    assert qemu.client().cmd("query-fdsets") == []  # nothing half-passed
    res = run_plain(str(qemu.qmp), input=script)  # without -k the script stops at line 1
    assert res.code == 1, res
    assert (res.stdout, out_lines(res.stderr)) == (
        "",
        [f"line 1: {missing}: No such file or directory"],
    )


# --------------------------------------------------------------------------- qemu-ga


def agent_version() -> str:
    done = subprocess.run([QEMU_GA, "--version"], capture_output=True, text=True, timeout=10)
    return done.stdout.split("QEMU Guest Agent ")[1].split()[0]


def test_real_guest_agent_with_skip_negotiation(guest_agent: GuestAgent) -> None:
    sock = str(guest_agent.socket)
    res = run_plain(
        "-N", sock, "-c", "guest-ping", "-c", "guest-info", "-c", "guest-sync-delimited id=5"
    )
    assert res.code == 0, res
    assert res.stderr == ""
    ping, info_line, synced = out_lines(res.stdout)
    assert ping == "{}"
    info = json.loads(info_line)
    assert info["version"] == agent_version()
    enabled = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    assert {name for name, on in enabled.items() if on} == HARMLESS
    assert enabled["guest-shutdown"] is False and enabled["guest-exec"] is False
    assert synced == "5"  # the reply after qemu-ga's 0xFF delimiter byte, read cleanly
    # A script on stdin, with raw JSON and the JSON reply lines of --json.
    script = 'guest-sync id=12345\n{"execute": "guest-get-time"}\n'
    before = time.time_ns()
    res = run_plain("-N", "--json", sock, input=script)
    after = time.time_ns()
    assert res.code == 0, res
    sync, now = (json.loads(line) for line in out_lines(res.stdout))
    assert sync["return"] == 12345
    assert before <= now["return"] <= after


def test_a_guest_agent_script_needs_no_event_loop(guest_agent: GuestAgent) -> None:
    done = probe("-N", str(guest_agent.socket), input="guest-ping\nguest-sync id=7\n")
    assert done.returncode == 0, done
    assert out_lines(done.stdout) == ["{}", "7"]
    assert done.stderr == "imported:\n"


def test_real_guest_agent_errors_and_missing_negotiation(guest_agent: GuestAgent) -> None:
    sock = str(guest_agent.socket)
    blocked = "guest-file-open path=/nonexistent/qmpsh-test"  # harmless even if it ran
    res = run_plain("-N", sock, "-c", blocked, "-c", "guest-ping")
    assert res.code == 1, res
    assert res.stdout == ""
    assert res.stderr == (
        "-c 1: guest-file-open: CommandNotFound: Command guest-file-open has been disabled\n"
    )
    # Without -N qmpsh waits for a greeting qemu-ga never sends: one line, with the hint.
    res = run_plain("--timeout", "1", sock, "-c", "guest-ping")
    assert res.code == 3, res
    [line] = out_lines(res.stderr)
    assert line.startswith(f"qmpsh: {sock}: no QMP greeting within 1 s") and line.endswith(
        "(a guest agent needs -N)"
    ), line
    res = run_plain("-N", sock, "-c", "guest-ping")  # and the agent still serves the next client
    assert (res.code, res.stdout) == (0, "{}\n"), res
