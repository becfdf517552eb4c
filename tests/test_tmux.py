"""qmpsh in a real terminal: tmux runs ``python -m qmpsh``, the test types and reads the screen.

This is what no pipe-driven test can show: the completion menu as drawn, the
reply as printed, and an event arriving above the prompt while a half-typed
line stays on screen as it was. Each test gets its own tmux server (``-S``),
killed in teardown, and waits on what the screen shows, with a deadline.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Qemu

pytestmark = pytest.mark.qemu

TMUX = shutil.which("tmux")
PROMPT = "QMP testvm> "
DEADLINE = 15.0
# The pane's size is the terminal's size. An inherited COLUMNS / LINES would override
# it for rich and prompt_toolkit; under pytest the C environment can carry them even
# though os.environ does not (readline exports them when initialised), so the tmux
# server gets an explicit environment.
ENV = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}


class Terminal:
    """One tmux pane of a fixed size, on a private tmux server."""

    def __init__(self) -> None:
        if TMUX is None:
            pytest.fail("tmux is not installed; the README's test command installs it")
        self.tmux_path = TMUX
        # A private server on a private socket (tmux leaves its socket file behind).
        self.directory = Path(tempfile.mkdtemp(prefix="qmpsh-tmux", dir="/tmp"))
        self.socket = self.directory / "tmux.sock"
        self.target = "qmpsh"
        self.started = False

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux_path, "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=ENV,
        )
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start(
        self, script: str, *, env: dict[str, str], width: int = 100, height: int = 40
    ) -> None:
        setenv = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        self.tmux(
            "new-session", "-d", "-s", self.target, "-x", str(width), "-y", str(height),
            "-c", str(ROOT), *setenv, "sh", "-c", script,
            ";", "set-option", "-t", self.target, "remain-on-exit", "on",
        )  # fmt: skip
        self.started = True

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def type(self, text: str) -> None:
        """Literal text, as typed."""
        self.tmux("send-keys", "-t", self.target, "-l", text)

    def press(self, *keys: str) -> None:
        """Named keys: ``Tab``, ``Enter``, ``C-d``."""
        self.tmux("send-keys", "-t", self.target, *keys)

    def wait_for(self, condition: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.started:
            subprocess.run(
                [self.tmux_path, "-S", str(self.socket), "kill-server"],
                capture_output=True,
                timeout=10,
            )
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    yield term
    term.close()


def prompt_line(screen: str) -> str:
    """The last prompt on the screen: the line being edited."""
    found = [line.rstrip() for line in screen.splitlines() if line.startswith(PROMPT.rstrip())]
    return found[-1] if found else ""


def below_prompt(screen: str) -> list[str]:
    """What is drawn under the line being edited: the completion menu, if any."""
    lines = screen.rstrip("\n").splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith(PROMPT.rstrip()))
    return [line.strip() for line in lines[last + 1 :] if line.strip()]


def test_completion_reply_and_event_above_the_prompt_in_a_real_terminal(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    spare = qemu.client()
    state, exit_file = tmp_path / "state", tmp_path / "exit"
    command = shlex.join([sys.executable, "-m", "qmpsh", str(qemu.qmp)])
    terminal.start(
        f"{command}; echo EXIT=$? > {shlex.quote(str(exit_file))}",
        env={"XDG_STATE_HOME": str(state)},
    )
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
    deadline = time.monotonic() + DEADLINE
    while not (exit_file.exists() and exit_file.read_text().endswith("\n")):
        if time.monotonic() > deadline:
            pytest.fail(f"qmpsh did not exit on Ctrl-D; the screen:\n{terminal.screen()}")
        time.sleep(0.05)
    assert exit_file.read_text().strip() == "EXIT=0"
    assert "Traceback" not in terminal.screen()
    assert qemu.process.poll() is None  # leaving qmpsh leaves the VM alone
    history = (state / "qmpsh" / "history").read_text()
    assert "+query-status" in history and "+query-name" in history
    assert "+stop" not in history  # the cleared line was never entered
