"""Pasting at the prompt: several lines run one by one, as typed; one input stays one.

A terminal wraps a paste in bracketed-paste marks (prompt_toolkit turns the mode
on), and the prompt gets it as one key. Each newline in it is an Enter, so what
runs is the same as for a non-bracketed paste or the lines typed: a complete line
runs and the next is echoed at the next prompt; an open JSON or ``transaction(``
goes on. Tested through the real PromptSession over a pipe and in tmux, whose
``paste-buffer -p`` sends the marks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from typing import Any

import pytest

from qmpsh.errors import ExitStatus
from tests.support.qemu import Qemu
from tests.support.repldriver import CTRL_D, Repl, running_repl
from tests.support.tmux import PROMPT, Terminal, prompt_line

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
THREE = "query-name\nquery-status\nqom-get path=/machine property=type\n"
JSON = '{\n  "execute": "query-name"\n}\n'
TRANSACTION = (
    "transaction(\n"
    "  block-dirty-bitmap-add node=n0 name=b0\n"
    "  block-dirty-bitmap-add node=n0 name=b1\n"
    ")\n"
)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def paste(r: Repl, text: str) -> None:
    r.type(PASTE_START + text + PASTE_END)


async def settled(r: Repl, sent: int, expect: str, line: str = "") -> str:
    """Wait until ``sent`` commands have gone, ``expect`` is shown and the prompt is
    back holding ``line``; return everything shown."""
    await r.until(
        lambda: len(r.sent) >= sent and expect in r.output() and r.at_prompt() and r.line == line,
        f"{sent} commands sent and {expect!r} shown",
    )
    return r.output()


def test_pasted_lines_run_one_by_one_and_their_replies_come_in_order(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            mark = len(r.sent)
            paste(r, THREE)
            shown = await settled(r, mark + 3, '"none-machine"')
            assert r.sent_commands()[mark:] == ["query-name", "query-status", "qom-get"]
            name, status, machine = (shown.index(s) for s in ('"testvm"', '"running"', "none-"))
            assert name < status < machine
            assert "expected key=value" not in shown
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_text_after_the_last_newline_waits_on_the_line_for_enter(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            mark = len(r.sent)
            paste(r, "query-name\nquery-sta")
            await settled(r, mark + 1, '"testvm"', line="query-sta")
            assert r.sent_commands()[mark:] == ["query-name"]
            await r.enter("tus", '"running"')
            assert r.sent_commands()[mark:] == ["query-name", "query-status"]

    run(body())


@pytest.mark.parametrize(
    ("text", "command", "reply"),
    [(JSON, "query-name", '"testvm"'), (TRANSACTION, "transaction", "{}")],
    ids=["json", "transaction"],
)
def test_a_pasted_multiline_input_is_one_command_with_no_enter_needed(
    qemu: Qemu, text: str, command: str, reply: str
) -> None:
    qemu.client().cmd("blockdev-add", driver="null-co", **{"node-name": "n0"})

    async def body() -> None:
        async with running_repl(qemu) as r:
            mark, shown_before = len(r.sent), len(r.output())
            paste(r, text + "query-status\n")  # and a line after it, run after it
            shown = (await settled(r, mark + 2, '"running"'))[shown_before:]
            assert r.sent_commands()[mark:] == [command, "query-status"]
            assert reply in shown[: shown.index('"running"')]
            assert "error" not in shown.lower()

    run(body())


def test_pastes_in_a_real_terminal_run_each_input_once_echoed(
    qemu: Qemu, terminal: Terminal, tmp_path: Any
) -> None:
    qemu.client().cmd("blockdev-add", driver="null-co", **{"node-name": "n0"})
    terminal.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path / "state")})
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")

    terminal.paste(THREE)
    screen = terminal.wait_for(
        lambda s: '"none-machine"' in s and prompt_line(s) == PROMPT.rstrip(), "three replies"
    )
    lines = [line.rstrip() for line in screen.splitlines()]
    echoed = [i for i, line in enumerate(lines) if line.startswith(PROMPT)]
    assert [lines[i] for i in echoed] == [PROMPT + line for line in THREE.splitlines()]
    replies = [
        next(i for i, line in enumerate(lines) if s in line) for s in ('"testvm"', '"running"')
    ]
    assert echoed[0] < replies[0] < echoed[1] < replies[1] < echoed[2]  # each under its line
    assert "expected key=value" not in screen

    terminal.press("C-l")
    terminal.wait_for(lambda s: '"none-machine"' not in s, "a cleared screen")
    terminal.paste(JSON)
    screen = terminal.wait_for(
        lambda s: '"testvm"' in s and prompt_line(s) == PROMPT.rstrip(), "the JSON's reply"
    )
    assert screen.count('"testvm"') == 1 and "error" not in screen.lower()

    terminal.press("C-l")
    terminal.wait_for(lambda s: '"testvm"' not in s, "a cleared screen")
    terminal.paste(TRANSACTION)
    screen = terminal.wait_for(
        lambda s: re.search(r"^\{\}$", s, re.M) is not None and prompt_line(s) == PROMPT.rstrip(),
        "the transaction's one reply",
    )
    assert "error" not in screen.lower()
    bitmaps = qemu.client().cmd("query-named-block-nodes")
    assert isinstance(bitmaps, list)
    names = {b["name"] for node in bitmaps for b in node.get("dirty-bitmaps", [])}
    assert names == {"b0", "b1"}
    terminal.press("C-d")
    assert terminal.exit_status() == 0
