"""Colour, pager, spinner and prompt settings, seen where a person sees them.

qmpsh runs on a real pseudo-terminal (its own session, the pty as controlling
terminal, as a shell would start it) against a real QEMU; the test types keys
and reads the bytes qmpsh writes, colour codes included. The spinner is judged
on a tmux screen, since "disappears cleanly" is about what is left on screen.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Qemu, run_qmpsh
from tests.test_tmux import Terminal, prompt_line

pytestmark = pytest.mark.qemu

PROMPT = "QMP testvm> "
#: The prompt as written to the terminal (its last space is a cursor movement).
DRAWN_PROMPT = PROMPT.rstrip()
DEADLINE = 15.0
# Any escape sequence a terminal program writes: CSI (colours, cursor), OSC, charset.
_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")
_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_codes(raw: str) -> set[str]:
    """SGR parameters that set a colour (foreground or background), as written."""
    found = set()
    for params in _SGR.findall(raw):
        codes = [int(p) for p in params.split(";") if p]
        for i, code in enumerate(codes):
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 107 or code in (38, 48):
                found.add(";".join(str(c) for c in codes[i:]))
                break
    return found


def plain(raw: str) -> str:
    return _ESCAPE.sub("", raw).replace("\r\n", "\n").replace("\r", "")


class Pty:
    """``python -m qmpsh ARGS`` on a pseudo-terminal of a fixed size."""

    def __init__(self, *args: str, env: dict[str, str], rows: int = 24, cols: int = 100) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        full_env.update(TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
        for inherited in ("NO_COLOR", "PAGER", "LESS"):  # the tester's own, not the test's
            full_env.pop(inherited, None)
        full_env.update(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qmpsh", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.raw = ""

    def read(self, timeout: float = 0.05) -> None:
        while select.select([self.master], [], [], timeout)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the other side has gone
                return
            if not data:
                return
            self.raw += data.decode("utf-8", "replace")
            timeout = 0.01

    def expect(self, what: str, start: int = 0) -> int:
        """Wait until ``what`` appears in the plain text after ``start``; its end position."""
        deadline = time.monotonic() + DEADLINE
        while True:
            self.read()
            text = plain(self.raw)
            at = text.find(what, start)
            if at >= 0:
                return at + len(what)
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what!r}; the output:\n{text[-3000:]}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self) -> int:
        """Ctrl-D at the prompt; the exit status."""
        self.type("\x04")
        deadline = time.monotonic() + DEADLINE
        while self.process.poll() is None:
            self.read()
            if time.monotonic() > deadline:
                pytest.fail(f"qmpsh did not leave on Ctrl-D:\n{plain(self.raw)[-2000:]}")
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def pty_run(tmp_path: Path) -> Iterator[list[Pty]]:
    started: list[Pty] = []
    yield started
    for term in started:
        term.close()


def start(started: list[Pty], qemu: Qemu, tmp_path: Path, *args: str, **env: str) -> Pty:
    term = Pty(*args, str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path / "state"), **env})
    started.append(term)
    term.expect("testvm>")  # the prompt, once it has learned the VM name
    return term


def run_line(term: Pty, line: str, marker: str) -> str:
    """Type a line and Enter; wait for ``marker`` in what follows, then the next prompt.

    Returns the output from the first line that starts with ``{`` or ``[`` (a JSON
    reply) up to that prompt, as plain text: the echo of what was typed and the
    completion menu, drawn while typing, come before it.
    """
    start = len(plain(term.raw))
    term.type(line + "\r")
    end = term.expect(DRAWN_PROMPT, term.expect(marker, start))
    shown = plain(term.raw)[start : end - len(DRAWN_PROMPT)]
    reply = re.search(r"^[\[{].*", shown, re.MULTILINE | re.DOTALL)
    return reply.group() if reply else ""


# -- pager


def test_a_reply_taller_than_the_terminal_goes_through_pager(
    qemu: Qemu, tmp_path: Path, pty_run: list[Pty]
) -> None:
    pager = 'cat; echo "[paged, LESS=$LESS]"'
    term = start(pty_run, qemu, tmp_path, PAGER=pager, NO_COLOR="1")
    shown = run_line(term, "query-commands", "[paged")
    assert shown.rstrip().endswith("[paged, LESS=FRX]")  # less gets -F -R -X unless LESS is set
    reply = shown.rstrip().removesuffix("[paged, LESS=FRX]")
    assert json.loads(reply) == qemu.client().cmd("query-commands")  # whole and intact

    shown = run_line(term, "query-name", '"testvm"')  # fits on the screen: printed as is
    assert json.loads(shown) == {"name": "testvm"} and "[paged" not in shown
    assert term.finish() == 0


def test_pager_cat_shows_the_whole_reply(qemu: Qemu, tmp_path: Path, pty_run: list[Pty]) -> None:
    term = start(pty_run, qemu, tmp_path, PAGER="cat")
    shown = run_line(term, "query-commands", '"query-status"')
    assert json.loads(shown) == qemu.client().cmd("query-commands")
    assert term.finish() == 0


def test_no_pager_and_a_missing_pager_print_directly(
    qemu: Qemu, tmp_path: Path, pty_run: list[Pty]
) -> None:
    term = start(pty_run, qemu, tmp_path, "--no-pager", PAGER="echo PAGED")
    assert "PAGED" not in run_line(term, "query-commands", '"query-status"')
    assert term.finish() == 0
    term = start(pty_run, qemu, tmp_path, PAGER="/nonexistent/pager")
    shown = run_line(term, "query-commands", '"query-status"')  # the shell says so; still shown
    assert '"name": "query-status"' in shown
    assert term.finish() == 0


def test_ctrl_c_in_the_pager_ends_the_pager_not_qmpsh(
    qemu: Qemu, tmp_path: Path, pty_run: list[Pty]
) -> None:
    term = start(pty_run, qemu, tmp_path, PAGER="cat >/dev/null; echo PAGER-UP; sleep 30")
    start_at = len(plain(term.raw))
    term.type("query-commands\r")
    term.expect("PAGER-UP", start_at)
    term.type("\x03")  # the terminal sends SIGINT to the pager and to qmpsh
    term.expect(DRAWN_PROMPT, term.expect("PAGER-UP", start_at))
    assert term.process.poll() is None
    assert json.loads(run_line(term, "query-name", '"testvm"')) == {"name": "testvm"}
    assert term.finish() == 0


# -- colour


def test_no_color_and_color_never_mean_no_colour(
    qemu: Qemu, tmp_path: Path, pty_run: list[Pty]
) -> None:
    def session(*args: str, **env: str) -> str:
        term = start(pty_run, qemu, tmp_path, *args, **env)
        run_line(term, "query-status", '"running"')
        run_line(term, "qom-get path=/machine property=bogus", "not found")  # an error
        assert term.finish() == 0
        return term.raw

    assert colour_codes(session())  # the default on a terminal: colours
    assert colour_codes(session(NO_COLOR="1")) == set()
    assert colour_codes(session("--color=never")) == set()
    assert colour_codes(session("--color=always", NO_COLOR="1"))


def test_scripts_have_no_colour_unless_color_always(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), "-c", "query-name", "-c", "bogus-command", "-k")
    assert "\x1b" not in done.stdout + done.stderr
    done = run_qmpsh(
        "--color=always", str(qemu.qmp), "-c", "query-name", "-c", "bogus-command", "-k"
    )
    assert done.returncode == 1
    assert colour_codes(done.stdout) and colour_codes(done.stderr)
    assert plain(done.stdout) == '{"name":"testvm"}\n'  # still one compact JSON line
    assert plain(done.stderr).startswith("CommandNotFound: ")


# -- spinner


def test_spinner_while_qemu_is_slow_then_gone_from_the_screen(qemu: Qemu, tmp_path: Path) -> None:
    term = Terminal()
    try:
        command = shlex.join([sys.executable, "-m", "qmpsh", str(qemu.qmp)])
        term.start(command, env={"XDG_STATE_HOME": str(tmp_path)})
        term.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")
        os.kill(qemu.process.pid, signal.SIGSTOP)
        try:
            term.type("query-status")
            term.wait_for(lambda s: prompt_line(s) == PROMPT + "query-status", "the line")
            term.press("Enter")
            term.wait_for(lambda s: "waiting for QEMU" in s, "the spinner")
        finally:
            os.kill(qemu.process.pid, signal.SIGCONT)
        screen = term.wait_for(lambda s: '"running": true' in s, "the reply")
        screen = term.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the next prompt")
        assert "waiting for QEMU" not in screen
        rows = screen.splitlines()
        at = rows.index(PROMPT + "query-status")
        assert rows[at + 1] == "{"  # the reply right below the command: no line left over
    finally:
        term.close()


def test_spinner_while_connecting_to_a_busy_socket(qemu: Qemu, tmp_path: Path) -> None:
    qemu.client()  # QEMU serves one client per monitor: the spare one is now busy
    term = Terminal()
    try:
        command = shlex.join([sys.executable, "-m", "qmpsh", "--timeout", "1", str(qemu.spare)])
        term.start(f"{command}; echo EXIT=$?", env={"XDG_STATE_HOME": str(tmp_path)})
        term.wait_for(lambda s: f"connecting to {qemu.spare}" in s, "the spinner")
        term.wait_for(lambda s: "EXIT=3" in s, "the failure")
        # All of it, scrollback included (tmux's "Pane is dead" line scrolls the pane).
        shown = term.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", term.target)
        assert "connecting to" not in shown
        assert shown.strip().splitlines()[:2] == [
            next(line for line in shown.splitlines() if line.startswith(f"qmpsh: {qemu.spare}: ")),
            "EXIT=3",
        ]
    finally:
        term.close()


# -- settings at the prompt


def test_config_mutes_events_and_history_size_0_keeps_no_file(
    qemu: Qemu, tmp_path: Path, pty_run: list[Pty]
) -> None:
    config = tmp_path / "config"
    (config / "qmpsh").mkdir(parents=True)
    (config / "qmpsh" / "config.toml").write_text('history_size = 0\n[events]\nmute = ["STOP"]\n')
    term = start(pty_run, qemu, tmp_path, XDG_CONFIG_HOME=str(config))
    spare = qemu.client()
    spare.cmd("stop")
    spare.cmd("cont")
    term.expect("RESUME")
    assert "STOP" not in plain(term.raw)
    run_line(term, "/events unmute STOP", "muted")  # the config's mute is the session's
    spare.cmd("stop")
    term.expect("STOP")
    assert term.finish() == 0
    assert not (tmp_path / "state" / "qmpsh" / "history").exists()


def test_vi_key_bindings_and_a_pygments_style(
    qemu: Qemu, tmp_path: Path, pty_run: list[Pty]
) -> None:
    config = tmp_path / "config"
    (config / "qmpsh").mkdir(parents=True)
    (config / "qmpsh" / "config.toml").write_text('key_bindings = "vi"\nstyle = "monokai"\n')
    term = start(pty_run, qemu, tmp_path, XDG_CONFIG_HOME=str(config))
    mark = len(term.raw)
    # vi: Esc to normal mode, x deletes the m, a appends "me"; in emacs this would be
    # M-x and a line "query-namame" that QEMU does not know.
    term.type("query-nam\x1bxame\r")
    term.expect('"name": "testvm"')
    # monokai's colours (256-colour codes), not qmpsh's own palette
    assert any(code.startswith("38;5;") for code in colour_codes(term.raw[mark:]))
    assert term.finish() == 0
