"""What QEMU 11.1 deprecates, against the real 11.1 (Debian sid's, in a chroot behind the
``/srv/bin/qemu-sid`` wrapper ``dev/qemu-chroots.sh`` makes): a script is
warned once per command on stderr and goes on; at the prompt the completion menu marks
the deprecated command and Enter warns once (in tmux, and in a real PromptSession
driven through a pipe). Skipped where the wrapper is absent;
``test_deprecation.py`` proves the same rules on the recorded 11.1 schema everywhere.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmpsh.session.session import Session
from qmpsh.transport.launch import listening
from qmpsh.transport.qemu_qmp import QmpTransport
from tests.support.places import short_tempdir
from tests.support.processes import end
from tests.support.qmpsh_process import run_plain
from tests.support.repldriver import CTRL_D, repl_over
from tests.support.tmux import PROMPT, Terminal, below_prompt, prompt_line
from tests.support.waiting import wait_until

pytestmark = pytest.mark.qemu

SID = Path("/srv/bin/qemu-sid")


@pytest.fixture
def sid() -> Iterator[Path]:
    """QEMU 11.1 (``-machine none``, TCG) with its QMP socket; yields the socket."""
    if not SID.exists():
        pytest.skip(f"{SID} is absent: dev/qemu-chroots.sh sid makes it (as root)")
    directory = short_tempdir()  # under /tmp, which the wrapper shows the chroot
    socket = directory / "qmp.sock"
    command = [
        str(SID), "-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none",
        "-m", "64", "-name", "testvm", "-qmp", f"unix:{socket},server=on,wait=off",
    ]  # fmt: skip
    with open(directory / "qemu.log", "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_until(
            lambda: process.poll() is not None or listening(socket),
            "QEMU 11.1's QMP socket",
            describe=lambda: (directory / "qemu.log").read_text(errors="replace"),
        )
        assert process.poll() is None, (directory / "qemu.log").read_text(errors="replace")
        yield socket
    finally:
        end(process)  # the wrapper execs QEMU: this is QEMU's own PID
        shutil.rmtree(directory, ignore_errors=True)


def test_a_script_is_warned_once_per_deprecated_command_or_argument(sid: Path) -> None:
    script = "\n".join(
        [
            "qom-list path=/machine",  # arguments: the schema is read (and with it, features)
            "query-kvm",
            "query-kvm",
            "block-job-pause device=nojob",  # no such job: fails, -k goes on
            "block-job-pause device=nojob",
            "block-commit device=nodev top=a",
            "query-status",
        ]
    )
    done = run_plain("-k", str(sid), input=script + "\n")
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: 'query-kvm' is deprecated",
        "warning: 'block-job-pause' is deprecated (use 'job-pause')",
        "warning: block-commit argument 'top' is deprecated (use 'top-node')",
    ]
    assert done.code == 1  # the block commands failed; the deprecated query-kvm did not
    replies = done.stdout.splitlines()
    assert len([r for r in replies if '"present"' in r]) == 2  # both query-kvm replies
    assert '"status"' in replies[-1]  # and the script went on to its end


def test_the_menu_marks_and_enter_warns_once_in_a_real_terminal(
    sid: Path, terminal: Terminal, tmp_path: Path
) -> None:
    term = terminal
    term.start_qmpsh(str(sid), env={"XDG_STATE_HOME": str(tmp_path / "state")}, width=160)
    term.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")
    line = "block-job-p"
    term.type(line)

    def retype() -> None:  # the schema is learned in the background: redraw the menu
        term.press("BSpace")
        term.type("p")

    screen = term.wait_for(
        lambda s: prompt_line(s) == PROMPT + line and "block-job-pause" in s,
        "block-job-pause with its features in the menu",
        nudge=retype,
    )
    assert [" ".join(row.split()) for row in below_prompt(screen)] == [
        "block-job-pause command, deprecated"
    ]
    term.press("C-u")
    for _ in range(2):
        term.type("query-kvm")
        term.press("Enter")
    screen = term.wait_for(
        lambda s: s.count("present") == 2 and prompt_line(s) == PROMPT.rstrip(),
        "both replies to query-kvm",
    )
    assert screen.count("warning: 'query-kvm' is deprecated") == 1
    term.press("C-d")
    assert term.exit_status() == 0


def test_the_prompt_marks_values_and_variants_and_warns_once(sid: Path) -> None:
    """The menu's meta column in a real PromptSession: a value's feature (win-dmp,
    allowed-by-guest) and the variant's a tag value selects (fdset); the warning once."""
    warnings: list[str] = []

    async def body() -> None:
        transport = QmpTransport(str(sid))
        await transport.connect(5)
        session = Session(transport, on_warning=warnings.append)
        await session.learn()
        async with repl_over(session) as r:

            def shown() -> dict[str, str]:
                state = r.prompt.default_buffer.complete_state
                found = [] if state is None else state.completions
                return {c.text: c.display_meta_text for c in found}

            for line, text, meta in [
                ("dump-guest-memory format=win", "win-dmp", "enum, allowed-by-guest"),
                ("blockdev-add driver=virtio-blk-vhost-vd", "virtio-blk-vhost-vdpa", "enum, fdset"),
            ]:
                await r.until(r.at_prompt, "the prompt")
                r.type(line)
                await r.until(lambda: text in shown(), f"{text} in the menu")  # noqa: B023
                # the installed manual may add the value's first sentence after ' — '
                assert shown()[text].split(" — ")[0] == meta
                r.type("\x1b\x15")  # Escape closes the menu, Ctrl-U clears the line
                await r.until(lambda: r.line == "", "the line to clear")
            await r.enter("query-kvm", "present")
            await r.enter("query-kvm", "present")
            r.type(CTRL_D)
            await r.finish()

    asyncio.run(body())
    assert warnings == ["'query-kvm' is deprecated"]
