"""Colour, pager, spinner and prompt settings, seen where a person sees them.

qmpsh runs on a real pseudo-terminal (its own session, the pty as controlling
terminal, as a shell would start it) against a real QEMU; the test types keys
and reads the bytes qmpsh writes, colour codes included. The spinner is judged
on a tmux screen, since "disappears cleanly" is about what is left on screen.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pty_process import PtyProcess, colour_codes, plain
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh
from tests.support.tmux import PROMPT, Terminal, prompt_line
from tests.support.waiting import wait_until

pytestmark = pytest.mark.qemu

#: The prompt as written to the terminal (its last space is a cursor movement).
DRAWN_PROMPT = PROMPT.rstrip()


@pytest.fixture
def pty_run(tmp_path: Path) -> Iterator[list[PtyProcess]]:
    started: list[PtyProcess] = []
    yield started
    for term in started:
        term.close()


def start(
    started: list[PtyProcess], qemu: Qemu, tmp_path: Path, *args: str, **env: str
) -> PtyProcess:
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), **env}
    term = PtyProcess.qmpsh(*args, str(qemu.qmp), env=env)
    started.append(term)
    term.expect("testvm>")  # the prompt, once it has learned the VM name
    return term


def run_line(term: PtyProcess, line: str, marker: str) -> str:
    """Type a line and Enter; wait for ``marker`` in what follows, then the next prompt.

    Returns the output from the first line that starts with ``{`` or ``[`` (a JSON
    reply) up to that prompt, as plain text: the echo of what was typed and the
    completion menu, drawn while typing, come before it.
    """
    shown = term.enter(line, marker, DRAWN_PROMPT)
    reply = re.search(r"^[\[{].*", shown, re.MULTILINE | re.DOTALL)
    return reply.group() if reply else ""


# -- pager


def names_in_table(shown: str) -> list[str]:
    """The rows of a one-column table headed ``name`` (query-commands at the prompt)."""
    lines = [line.rstrip() for line in shown.splitlines()]
    return lines[lines.index("name") + 1 :]


def command_names(qemu: Qemu) -> list[str]:
    return [command["name"] for command in qemu.client().cmd("query-commands")]


def test_a_reply_taller_than_the_terminal_goes_through_pager(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
) -> None:
    pager = 'cat; echo "[paged, LESS=$LESS]"'
    term = start(pty_run, qemu, tmp_path, PAGER=pager, NO_COLOR="1")
    shown = term.enter("query-commands", "[paged", DRAWN_PROMPT)
    assert shown.rstrip().endswith("[paged, LESS=FRX]")  # less gets -F -R -X unless LESS is set
    reply = shown.rstrip().removesuffix("[paged, LESS=FRX]")
    assert names_in_table(reply) == command_names(qemu)  # whole and intact

    shown = run_line(term, "query-name", '"testvm"')  # fits on the screen: printed as is
    assert json.loads(shown) == {"name": "testvm"} and "[paged" not in shown
    assert term.finish() == 0


def test_pager_cat_shows_the_whole_reply(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
) -> None:
    term = start(pty_run, qemu, tmp_path, PAGER="cat")
    shown = term.enter("query-commands", "query-status", DRAWN_PROMPT)
    assert names_in_table(shown) == command_names(qemu)
    assert term.finish() == 0


def test_no_pager_and_a_missing_pager_print_directly(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
) -> None:
    term = start(pty_run, qemu, tmp_path, "--no-pager", PAGER="echo PAGED")
    assert "PAGED" not in term.enter("query-commands", "query-status", DRAWN_PROMPT)
    assert term.finish() == 0
    term = start(pty_run, qemu, tmp_path, PAGER="/nonexistent/pager")
    shown = term.enter("query-commands", "query-status", DRAWN_PROMPT)  # said; still shown
    assert "query-status" in names_in_table(shown)
    assert term.finish() == 0


def test_ctrl_c_in_the_pager_ends_the_pager_not_qmpsh(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
) -> None:
    term = start(pty_run, qemu, tmp_path, PAGER="cat >/dev/null; echo PAGER-UP; sleep 30")
    start_at = len(term.text())
    term.type("query-commands\r")
    term.expect("PAGER-UP", start_at)
    wait_until(lambda: "sleep" in term.session(), "the pager to sleep")
    term.type("\x03")  # the terminal sends SIGINT to the pager and to qmpsh
    term.expect(DRAWN_PROMPT, term.expect("PAGER-UP", start_at))
    assert term.process.poll() is None
    assert json.loads(run_line(term, "query-name", '"testvm"')) == {"name": "testvm"}
    assert term.finish() == 0


# -- colour


def test_no_color_and_color_never_mean_no_colour(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
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
    assert plain(done.stderr).startswith("-c 2: bogus-command: CommandNotFound: ")


def test_color_always_means_colour_on_a_dumb_terminal_too(qemu: Qemu) -> None:
    """``always`` means always, as for ``ls`` and ``grep``: ``TERM=dumb`` does not veto it."""
    done = run_qmpsh("--color=always", str(qemu.qmp), "-c", "query-name", env={"TERM": "dumb"})
    assert done.returncode == 0
    assert colour_codes(done.stdout)
    assert plain(done.stdout) == '{"name":"testvm"}\n'


# -- spinner


def test_spinner_while_qemu_is_slow_then_gone_from_the_screen(qemu: Qemu, tmp_path: Path) -> None:
    term = Terminal()
    try:
        term.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path)})
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
        shown = term.scrollback()
        assert "connecting to" not in shown
        assert shown.strip().splitlines()[:2] == [
            next(line for line in shown.splitlines() if line.startswith(f"qmpsh: {qemu.spare}: ")),
            "EXIT=3",
        ]
    finally:
        term.close()


# -- settings at the prompt


def test_config_mutes_events_and_history_size_0_keeps_no_file(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
) -> None:
    config = tmp_path / "config"
    (config / "qmpsh").mkdir(parents=True)
    (config / "qmpsh" / "config.toml").write_text('history_size = 0\n[events]\nmute = ["STOP"]\n')
    term = start(pty_run, qemu, tmp_path, XDG_CONFIG_HOME=str(config))
    spare = qemu.client()
    spare.cmd("stop")
    spare.cmd("cont")
    term.expect("RESUME")
    assert "STOP" not in term.text()
    run_line(term, "/events unmute STOP", "muted")  # the config's mute is the session's
    spare.cmd("stop")
    term.expect("STOP")
    assert term.finish() == 0
    assert not (tmp_path / "state" / "qmpsh" / "history").exists()


def test_vi_key_bindings_and_a_pygments_style(
    qemu: Qemu, tmp_path: Path, pty_run: list[PtyProcess]
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
