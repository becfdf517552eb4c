"""``/help`` with QEMU's reference manual as installed on this machine, on a real QEMU
and a real qemu-ga. The expected words are read from the installed pages here too:
none are kept in this repository."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest

from qmpsh.language.manual import Manual, first_sentence, parse_manual
from tests.support.guest_agent import GuestAgent
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh
from tests.support.repldriver import TAB, Repl, running_repl
from tests.support.tmux import PROMPT, Terminal, below_prompt, prompt_line

# Not every_qemu: the subject is the manual installed here (the system QEMU's, 7.2) set
# against the QEMU that answers; on a newer QEMU the installed manual is another
# version's, which is a different case (and tested as one).
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


def _device_words(manual: Manual) -> str:
    entry = manual.member("blockdev-snapshot-sync", ("device",))
    assert entry is not None
    return first_sentence(entry.text)


def test_the_menu_shows_a_members_first_sentence(qemu: Qemu) -> None:
    """Through a real PromptSession: the meta beside ``device=``."""
    words = _device_words(installed("qemu-qmp-ref"))

    def meta_of(r: Repl, text: str) -> str:
        state = r.prompt.default_buffer.complete_state
        assert state is not None
        return next(c.display_meta_text for c in state.completions if c.text == text)

    async def main() -> None:
        async with running_repl(qemu) as r:
            r.type("blockdev-snapshot-sync " + TAB)
            await r.until(lambda: "device=" in r.menu(), "the arguments menu")
            assert meta_of(r, "device=") == f"str, optional \u2014 {words}"

    asyncio.run(main())


def test_the_menu_shows_it_in_a_terminal(qemu: Qemu, terminal: Terminal, tmp_path: Path) -> None:
    words = _device_words(installed("qemu-qmp-ref"))
    terminal.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path)})
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")
    terminal.type("blockdev-snapshot-sync ")
    terminal.press("Tab")
    screen = terminal.wait_for(
        lambda s: any(line.startswith("device=") for line in below_prompt(s)), "the menu"
    )
    (row,) = [line for line in below_prompt(screen) if line.startswith("device=")]
    assert row.split(None, 1)[1] == f"str, optional \u2014 {words}"
    terminal.press("Escape", "C-u", "C-d")
    assert terminal.exit_status() == 0
