"""qmpsh in a real terminal: tmux runs ``python -m qmpsh``, the test types and reads the screen.

This is what no pipe-driven test can show: the completion menu as drawn, the
reply as printed, and an event arriving above the prompt while a half-typed
line stays on screen as it was. Each test gets its own tmux server (the
``terminal`` fixture, ``tests/support/tmux.py``) and waits on what the screen
shows, with a deadline.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.support.places import short_tempdir
from tests.support.processes import processes_mentioning
from tests.support.qemu import Qemu
from tests.support.tmux import PROMPT, Terminal, below_prompt, prompt_line
from tests.support.waiting import wait_until

pytestmark = pytest.mark.qemu


def test_completion_reply_and_event_above_the_prompt_in_a_real_terminal(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    spare = qemu.client()
    state = tmp_path / "state"
    terminal.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(state)})
    screen = terminal.wait_for(
        lambda s: "Connected to QEMU " in s and prompt_line(s) == PROMPT.rstrip(),
        "the banner and the prompt with the VM name",
    )
    assert str(qemu.qmp) in screen and "Ctrl-D or /exit leaves" in screen

    # Tab completion of a command name QEMU reported.
    terminal.type("query-sta")
    screen = terminal.wait_for(
        lambda s: prompt_line(s) == PROMPT + "query-sta" and len(below_prompt(s)) == 3,
        "the completion menu",
    )
    assert [line.split()[0] for line in below_prompt(screen)] == [
        "query-stats",
        "query-stats-schemas",
        "query-status",
    ]
    terminal.type("tu")
    terminal.wait_for(lambda s: len(below_prompt(s)) == 1, "the menu narrowed to one")
    terminal.press("Tab")
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT + "query-status", "the completed name")
    terminal.press("Enter")  # takes the highlighted completion, closes the menu
    terminal.wait_for(lambda s: below_prompt(s) == [], "the menu to close")
    terminal.press("Enter")
    screen = terminal.wait_for(
        lambda s: '"status": "running"' in s and prompt_line(s) == PROMPT.rstrip(),
        "the reply and a new prompt",
    )
    assert '"running": true' in screen

    # An event arrives while a line is half typed: it appears above, the line stays.
    terminal.type("query-na")
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT + "query-na", "the half-typed line")
    spare.cmd("stop")
    screen = terminal.wait_for(
        lambda s: s.rfind("\nSTOP") >= 0 and s.rfind(PROMPT + "query-na") > s.rfind("\nSTOP"),
        "the STOP event and the prompt redrawn below it, with no key pressed",
    )
    lines = [line.rstrip() for line in screen.splitlines()]
    stop = next(i for i, line in enumerate(lines) if line.startswith("STOP"))
    assert re.fullmatch(r"STOP  \d\d:\d\d:\d\d\.\d{6}  \{\}", lines[stop]), lines[stop]
    assert lines[stop + 1] == PROMPT + "query-na"  # redrawn right below, intact
    assert prompt_line(screen) == PROMPT + "query-na"
    assert sum(PROMPT + "query-na" in line for line in lines) == 1  # no stale copy left
    terminal.type("me")
    terminal.wait_for(lambda s: below_prompt(s) != [], "the menu for query-name")
    terminal.press("Enter")
    screen = terminal.wait_for(
        lambda s: '"name": "testvm"' in s and prompt_line(s) == PROMPT.rstrip(),
        "the query-name reply",
    )
    assert spare.cmd("query-status")["status"] == "paused"  # the event was real

    # Ctrl-C clears a line; Ctrl-D leaves with status 0.
    terminal.type("stop")
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT + "stop", "a line to clear")
    terminal.press("C-c")
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the line cleared")
    terminal.press("C-d")
    assert terminal.exit_status() == 0
    assert "Traceback" not in terminal.screen()
    assert qemu.process.poll() is None  # leaving qmpsh leaves the VM alone
    history = (state / "qmpsh" / "history").read_text()
    assert "+query-status" in history and "+query-name" in history
    assert "+stop" not in history  # the cleared line was never entered


@pytest.mark.every_qemu
@pytest.mark.parametrize("stderr", ["piped", "to a file"])
def test_launch_stops_its_qemu_when_the_terminal_is_closed(tmp_path: Path, stderr: str) -> None:
    """A terminal closed under a script (its output piped on): qmpsh gets SIGHUP, reads
    the end of its input and finds its output gone at once; its QEMU must still stop,
    and what stderr still takes is at most the one line."""
    tmp_root = short_tempdir()  # qmpsh's TMPDIR: what --launch makes is under it alone
    term = Terminal()
    qmpsh = shlex.join([sys.executable, "-m", "qmpsh", "--launch"])
    said = tmp_path / "stderr"
    redirect = "2>&1" if stderr == "piped" else f"2>{shlex.quote(str(said))}"
    try:
        term.start(f"{qmpsh} {redirect} | cat", env={"TMPDIR": str(tmp_root)})
        term.type("query-name\n")  # typed before qmpsh reads it: the terminal keeps it
        term.wait_for(lambda screen: "{}" in screen.splitlines(), "the reply to query-name")
        assert processes_mentioning(tmp_root) != []
        term.tmux("kill-server")
        # qmpsh too (its TMPDIR names tmp_root): then stderr holds all it will.
        wait_until(
            lambda: processes_mentioning(tmp_root, environment=True) == [],
            "qmpsh and the QEMU it launched to end",
        )
        assert list(tmp_root.iterdir()) == []
        if stderr == "to a file":
            assert said.read_text() in ("", "qmpsh: interrupted (SIGHUP)\n")
    finally:
        term.close()
        for pid in processes_mentioning(tmp_root, environment=True):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp_root, ignore_errors=True)
