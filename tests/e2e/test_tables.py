"""Arrays of flat objects as a table at the prompt; JSON in scripts, with ``-p`` and ``--json``.

qmpsh runs on a real pseudo-terminal against a real QEMU; ``qom-list path=/``
answers with an array of ``{"name", "type"}`` objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pty_process import PtyProcess
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh
from tests.support.tmux import PROMPT

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]

DRAWN_PROMPT = PROMPT.rstrip()
LINE = "qom-list path=/"


@pytest.fixture
def started() -> Iterator[list[PtyProcess]]:
    terms: list[PtyProcess] = []
    yield terms
    for term in terms:
        term.close()


def at_prompt(started: list[PtyProcess], qemu: Qemu, tmp_path: Path, *args: str) -> str:
    """What ``LINE`` shows at the prompt of ``qmpsh ARGS SOCK`` on a pty, after its echo."""
    # Tall enough for the reply whatever QEMU lists under / (11.1 lists more than 7.2),
    # so it is printed, not paged.
    term = PtyProcess.qmpsh(*args, str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path)}, rows=100)
    started.append(term)
    term.expect("testvm>")
    shown = term.enter(LINE, "machine", DRAWN_PROMPT)
    assert term.finish() == 0
    return shown.split(LINE, 1)[1]


def test_qom_list_at_the_prompt_is_a_table(
    started: list[PtyProcess], qemu: Qemu, tmp_path: Path
) -> None:
    shown = at_prompt(started, qemu, tmp_path)
    assert re.search(r"^name +type$", shown, re.MULTILINE), shown
    assert re.search(r"^machine +child<[\w-]+>$", shown, re.MULTILINE), shown
    assert re.search(r"^type +string$", shown, re.MULTILINE), shown
    assert '"name"' not in shown


@pytest.mark.parametrize("option", ["-p", "--json"])
def test_json_was_asked_for_at_the_prompt(
    started: list[PtyProcess], qemu: Qemu, tmp_path: Path, option: str
) -> None:
    shown = at_prompt(started, qemu, tmp_path, option)
    assert '"name": "machine"' in shown or '"name":"machine"' in shown
    assert not re.search(r"^name +type$", shown, re.MULTILINE)


def test_piped_it_is_json(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), input=LINE + "\n")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert {"name": "type", "type": "string"} in reply
