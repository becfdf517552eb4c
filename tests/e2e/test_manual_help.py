"""``/help`` with QEMU's reference manual as installed on this machine, on a real QEMU
and a real qemu-ga. The expected words are read from the installed pages here too:
none are kept in this repository."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from qmpsh.language.manual import Manual, parse_manual
from tests.support.guest_agent import GuestAgent
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh

MAN7 = Path("/usr/share/man/man7")
TRIXIE = Path("/srv/trixie/usr/share/man")


def installed(page: str) -> Manual:
    path = MAN7 / f"{page}.7.gz"
    if not path.is_file():
        pytest.skip(f"{path} is not installed")
    return parse_manual(gzip.decompress(path.read_bytes()).decode())


def test_help_starts_with_the_manuals_words(qemu: Qemu) -> None:
    manual = installed("qemu-qmp-ref")
    doc = manual.get("blockdev-snapshot-sync")
    member = manual.member("blockdev-snapshot-sync", ("snapshot-file",))
    assert doc is not None and member is not None
    done = run_qmpsh(str(qemu.qmp), "-c", "/help blockdev-snapshot-sync")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "blockdev-snapshot-sync (command)"
    assert lines[1] == doc.text.split("\n\n")[0]  # the description, first
    # each argument's text under its type and notes (through the type the manual names)
    row = next(i for i, line in enumerate(lines) if line.split()[:1] == ["snapshot-file"])
    assert lines[row + 1].strip() == member.text
    assert lines[-1].split() == ["since:", "QEMU", doc.since]
    assert not any("not installed" in line or "the server is" in line for line in lines)
    done = run_qmpsh(str(qemu.qmp), "-c", "/help BLOCK_JOB_COMPLETED")
    event = manual.get("BLOCK_JOB_COMPLETED")
    assert event is not None
    assert done.stdout.splitlines()[1] == event.text


def test_without_the_manual_one_line_names_its_package(qemu: Qemu) -> None:
    script = "/help query-status\n/help query-status\n"
    done = run_qmpsh(str(qemu.qmp), input=script, env={"MANPATH": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["query-status (command)", "arguments:"]  # the schema's help
    said = [line for line in lines if "qemu-qmp-ref(7)" in line]
    assert said == [
        "no words from qemu-qmp-ref(7): it is not installed (Debian: qemu-system-common)"
    ]


def test_another_versions_manual_is_said_once(qemu: Qemu) -> None:
    if not (TRIXIE / "man7/qemu-qmp-ref.7.gz").is_file():
        pytest.skip(f"no QEMU 10.0 manual under {TRIXIE}")
    script = "/help query-status\n/help query-name\n"
    done = run_qmpsh(str(qemu.qmp), input=script, env={"MANPATH": str(TRIXIE)})
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if "the server is" in line]
    assert len(said) == 1 and "QEMU 10.0." in said[0], done.stdout


def test_guest_agent_help_from_its_manual(guest_agent: GuestAgent) -> None:
    manual = installed("qemu-ga-ref")
    doc = manual.get("guest-ping")
    assert doc is not None
    done = run_qmpsh("-N", str(guest_agent.socket), "-c", "/help guest-ping")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["guest-ping (command)", doc.text.split("\n\n")[0]]
    assert "arguments:" in lines
