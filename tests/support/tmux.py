"""A real terminal emulator for the tests: one pane of a private tmux server.

What no pipe or pty test can show is the screen as drawn: the completion menu,
a reply, an event above the prompt while a half-typed line stays as it was. Each
``Terminal`` has its own tmux server (``-S``), killed by ``close``; the test
types keys and waits on what the screen shows, with a deadline.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.places import ROOT
from tests.support.waiting import wait_until

TMUX = shutil.which("tmux")
#: The prompt of qmpsh on the tests' QEMU (``-name testvm``).
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
            raise AssertionError("tmux is not installed; the README's test command installs it")
        self.tmux_path = TMUX
        # A private server on a private socket (tmux leaves its socket file behind).
        self.directory = Path(tempfile.mkdtemp(prefix="qmpsh-tmux", dir="/tmp"))
        self.socket = self.directory / "tmux.sock"
        self.exit_file = self.directory / "exit"
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
        """Run the shell command ``script`` in the pane, in the repository."""
        setenv = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        self.tmux(
            "new-session", "-d", "-s", self.target, "-x", str(width), "-y", str(height),
            "-c", str(ROOT), *setenv, "sh", "-c", script,
            ";", "set-option", "-t", self.target, "remain-on-exit", "on",
        )  # fmt: skip
        self.started = True

    def start_qmpsh(
        self, *args: str, env: dict[str, str], width: int = 100, height: int = 40
    ) -> None:
        """Run ``python -m qmpsh ARGS`` in the pane; ``exit_status`` then waits for it."""
        command = shlex.join([sys.executable, "-m", "qmpsh", *args])
        exit_file = shlex.quote(str(self.exit_file))
        self.start(f"{command}; echo $? > {exit_file}", env=env, width=width, height=height)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def scrollback(self) -> str:
        """All the pane has shown, the lines scrolled off the top included, joined where
        they wrapped."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", self.target)

    def type(self, text: str) -> None:
        """Literal text, as typed."""
        self.tmux("send-keys", "-t", self.target, "-l", text)

    def paste(self, text: str) -> None:
        """``text`` pasted as a terminal pastes it: bracketed when the program asked for
        it (prompt_toolkit does), each newline sent as a carriage return."""
        self.tmux("set-buffer", "-b", "qmpsh-paste", "--", text)
        self.tmux("paste-buffer", "-p", "-d", "-b", "qmpsh-paste", "-t", self.target)

    def press(self, *keys: str) -> None:
        """Named keys: ``Tab``, ``Enter``, ``C-d``."""
        self.tmux("send-keys", "-t", self.target, *keys)

    def wait_for(
        self,
        condition: Callable[[str], bool],
        what: str,
        *,
        nudge: Callable[[], None] | None = None,
    ) -> str:
        """Wait until the screen satisfies ``condition``; return it. ``nudge`` (retype a
        letter, say) is called each second it does not: what runs on keystrokes, as the
        completer does, redraws only on the next one."""
        next_nudge = time.monotonic() + 1.0
        seen = [""]

        def shown() -> bool:
            nonlocal next_nudge
            seen[0] = self.screen()
            if condition(seen[0]):
                return True
            if nudge is not None and time.monotonic() > next_nudge:
                nudge()
                next_nudge = time.monotonic() + 1.0
            return False

        wait_until(shown, what, DEADLINE, describe=lambda: f"the screen:\n{seen[0]}", interval=0.05)
        return seen[0]

    def exit_status(self) -> int:
        """The exit status of what ``start_qmpsh`` ran, once it has left."""
        wait_until(
            lambda: self.exit_file.exists() and self.exit_file.read_text().endswith("\n"),
            "qmpsh to exit",
            DEADLINE,
            describe=lambda: f"the screen:\n{self.screen()}",
            interval=0.05,
        )
        return int(self.exit_file.read_text())

    def close(self) -> None:
        if self.started:
            subprocess.run(
                [self.tmux_path, "-S", str(self.socket), "kill-server"],
                capture_output=True,
                timeout=10,
            )
        shutil.rmtree(self.directory, ignore_errors=True)


def prompt_line(screen: str) -> str:
    """The last prompt on the screen: the line being edited."""
    found = [line.rstrip() for line in screen.splitlines() if line.startswith(PROMPT.rstrip())]
    return found[-1] if found else ""


def below_prompt(screen: str) -> list[str]:
    """What is drawn under the line being edited: the completion menu, if any."""
    lines = screen.rstrip("\n").splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith(PROMPT.rstrip()))
    return [line.strip() for line in lines[last + 1 :] if line.strip()]
