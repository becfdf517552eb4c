"""The REPL as a person uses it: a real PromptSession, keystrokes through a pipe, real QEMU.

Each test builds what ``cli`` builds for a terminal (``QmpTransport``, ``Session``,
``rich_renderer``) and runs ``repl.run_repl`` with prompt_toolkit's pipe input and
``DummyOutput``. A driver coroutine on the same event loop types keys and waits
for conditions in between, the way a person waits to see the screen before the
next key. ``make_prompt`` is wrapped so the driver can look at the line being
edited; everything else is the code path a user runs.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import stat
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from qmpsh.errors import ConnectionLost, ExitStatus, InputError
from qmpsh.interactive import prompt as prompt_module
from qmpsh.language.syntax import parse
from qmpsh.render.rich_terminal import rich_renderer
from qmpsh.session.session import Session
from qmpsh.transport.qemu_qmp import QmpTransport
from tests.support.qemu import Qemu
from tests.support.rawqmp import RawQmp
from tests.support.repldriver import (
    CTRL_C,
    CTRL_D,
    ENTER,
    TAB,
    nonblank_lines,
    running_repl,
)

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def status(spare: RawQmp) -> str:
    """QEMU's run state, asked on the spare monitor (independent of qmpsh)."""
    value = spare.cmd("query-status")
    assert isinstance(value, dict)
    return str(value["status"])


# -- replies and errors


def test_reply_is_rendered_as_pretty_json(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            shown = await r.enter("query-status", '"running"')
            assert '"status": "running"' in shown  # indented, not compact
            assert '"running": true' in shown
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_error_reply_is_rendered_as_class_and_description(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            # '!' skips qmpsh's own schema check, so this is QEMU's error reply
            shown = await r.enter("!no-such-command", "CommandNotFound")
            assert nonblank_lines(shown) == [
                "CommandNotFound: The command no-such-command has not been found"
            ]
            await r.enter("query-name", '"testvm"')  # the session goes on
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_schema_check_points_at_the_bad_token_and_sends_nothing(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            await r.session.learn()
            sent_before = len(r.sent)
            shown = await r.enter("blockdev-add driver=qcow3 node-name=x", "not a valid value")
            caret = nonblank_lines(shown)[0]
            width = len("QMP testvm> ")
            assert caret.index("^") == width + len("blockdev-add ")
            assert caret.endswith("^ driver: 'qcow3' is not a valid value; did you mean 'qcow2'?")
            assert len(r.sent) == sent_before
            await r.enter("query-name", '"testvm"')  # the session goes on
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


# -- completion


def test_tab_completes_a_command_name_learned_from_qemu(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            assert "query-status" in r.session.commands
            r.type("query-sta")
            # Completion while typing: the menu offers what QEMU has, nothing else.
            await r.until(lambda: "query-status" in r.menu(), "the completion menu")
            assert all(name.startswith("query-sta") for name in r.menu()), r.menu()
            r.type("tu")  # a person sees the menu change before pressing Tab
            await r.until(lambda: r.menu() == ["query-status"], "the menu to narrow")
            r.type(TAB)
            await r.until(lambda: r.line == "query-status", "Tab to complete the name")
            # Enter on the highlighted completion takes it without running the line ...
            r.type(ENTER)
            await r.until(lambda: r.selected() is None, "the menu to close")
            assert "query-status" not in r.sent_commands()
            # ... and the next Enter runs it.
            shown = await r.enter("", '"running"')
            assert r.sent_commands().count("query-status") == 1, shown
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_tab_completes_a_builtin(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("/he")
            await r.until(lambda: r.menu() == ["/help"], "the menu with /help")
            r.type(TAB)
            await r.until(lambda: r.line == "/help", "Tab to complete /help")
            r.type(ENTER)
            await r.until(lambda: r.selected() is None, "the menu to close")
            shown = await r.enter("", "Built-ins:")
            assert "query-status" in shown  # /help lists the commands QEMU has
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def _offered(prompt: PromptSession[str], text: str) -> list[Completion]:
    """What Tab offers with the cursor at the end of ``text``."""
    assert prompt.completer is not None
    event = CompleteEvent(completion_requested=True)
    return list(prompt.completer.get_completions(Document(text), event))


def _completions(prompt: PromptSession[str], text: str) -> list[str]:
    return [c.text for c in _offered(prompt, text)]


def test_completer_offers_commands_and_builtins_by_context(qemu: Qemu) -> None:
    async def body() -> None:
        transport = QmpTransport(str(qemu.qmp))
        await transport.connect(5)
        try:
            session = Session(transport)
            renderer = rich_renderer(file=io.StringIO(), width=200)
            with create_pipe_input() as keys:
                prompt = prompt_module.make_prompt(
                    session, renderer, history=None, input=keys, output=DummyOutput()
                )
                assert _completions(prompt, "query-sta") == []  # nothing learned yet
                await session.learn()
                names = _completions(prompt, "query-sta")
                assert "query-status" in names and "query-stats" in names
                assert all(n.startswith("query-sta") for n in names)
                assert _completions(prompt, "query-statu") == ["query-status"]
                assert _completions(prompt, "/he") == ["/help"]
                builtins = {
                    "/help",
                    "/example",
                    "/hmp",
                    "/qmp",
                    "/events",
                    "/wait",
                    "/jobs",
                    "/watch",
                    "/fd",
                    "/exit",
                }
                assert set(_completions(prompt, "/")) == builtins
                assert _completions(prompt, "query-status ") == []  # it takes no arguments
                assert _completions(prompt, "blockdev-add driver=qcow2 file.dr") == ["driver="]
                assert _completions(prompt, "blockdev-add driver=qc") == ["qcow", "qcow2"]
                assert "query-status" in _completions(prompt, '{"execute": "query-sta')
                raw_json = '{"execute": "blockdev-add", "arguments": {"node'
                assert _completions(prompt, raw_json) == ["node-name"]
                # union members join once the discriminator is typed
                ram = _completions(prompt, "object-add qom-type=memory-backend-ram ")
                assert ram[:2] == ["id=", "size="]  # required first
                assert "size=" not in _completions(prompt, "object-add qom-type=secret ")
                given = _completions(prompt, "object-add qom-type=memory-backend-ram id=m ")
                assert "id=" not in given and "size=" in given
                assert _completions(prompt, "blockdev-add driver=raw read-only=") == [
                    "true",
                    "false",
                ]
                meta = {c.text: c.display_meta_text for c in _offered(prompt, "blockdev-add ")}
                assert meta["driver="].startswith("enum, required")  # then the manual's words
                # What a word is replaced with: the whole partial word, leading blanks kept.
                found = _offered(prompt, "  query-statu")
                assert [(c.text, c.start_position) for c in found] == [("query-status", -11)]
                session.hmp_mode = True  # HMP command names are not QMP command names
                assert _completions(prompt, "query-sta") == []
                assert _completions(prompt, "/q") == ["/qmp"]
        finally:
            await transport.close()

    run(body())


# -- events


def test_event_is_printed_while_idle_at_the_prompt_and_the_line_survives(qemu: Qemu) -> None:
    async def body() -> None:
        spare = qemu.client()
        async with running_repl(qemu) as r:
            r.type("query-na")
            await r.until(lambda: r.line == "query-na", "the half-typed line")
            mark = len(r.output())
            await asyncio.to_thread(spare.cmd, "stop")  # another client stops the VM
            # No key is pressed: the event shows up on its own, above the prompt.
            await r.until(lambda: "STOP" in r.output()[mark:], "the STOP event")
            event_lines = nonblank_lines(r.output()[mark:])
            assert len(event_lines) == 1 and event_lines[0].startswith("STOP  "), event_lines
            assert re.search(r"STOP  \d\d:\d\d:\d\d\.\d{6}  \{\}$", event_lines[0]), event_lines
            assert r.at_prompt() and r.line == "query-na"  # what was being typed is intact
            assert "stop" not in r.sent_commands()  # qmpsh did not cause it
            shown = await r.enter("me", '"testvm"')  # and can be finished and run
            assert r.sent_commands()[-1] == "query-name", shown
            mark = len(r.output())
            await asyncio.to_thread(spare.cmd, "cont")
            await r.until(lambda: "RESUME" in r.output()[mark:], "the RESUME event")
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


# -- Ctrl-C, Ctrl-D, /exit, quit


def test_ctrl_c_at_the_prompt_clears_the_line_and_the_session_goes_on(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("stop")
            await r.until(lambda: r.line == "stop", "the half-typed line")
            r.type(CTRL_C)
            await r.until(lambda: r.at_prompt() and r.line == "", "a fresh, empty prompt")
            shown = await r.enter("query-status", '"status"')
            assert '"status": "running"' in shown  # 'stop' was never run
            assert r.sent_commands() == ["query-status"]
            assert status(qemu.client()) == "running"
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_ctrl_d_leaves_with_status_ok_and_qemu_keeps_running(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK
            assert r.sent_commands() == []

    run(body())
    assert qemu.process.poll() is None
    assert status(qemu.client()) == "running"


def test_slash_exit_leaves_and_qemu_keeps_running(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("/exit" + ENTER)
            assert await r.finish() == ExitStatus.OK
            assert r.sent_commands() == []

    run(body())
    assert qemu.process.poll() is None
    assert status(qemu.client()) == "running"


def test_quit_is_the_qmp_command_and_then_the_repl_leaves_with_0(qemu: Qemu) -> None:
    """QEMU going away after a quit it accepted is what the user asked for, not a loss."""

    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("quit" + ENTER)
            assert await r.finish() == ExitStatus.OK
            assert r.sent_commands() == ["quit"]
            assert "{}" in r.output()  # QEMU's reply to quit was shown
            assert "closed" not in r.output()

    run(body())
    assert qemu.process.wait(10) == 0  # QEMU itself went away, cleanly


def test_qemu_killed_while_idle_ends_the_repl_promptly(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("query-sta")  # mid-typing, too
            await r.until(lambda: r.line == "query-sta", "the half-typed line")
            qemu.process.kill()
            started = time.monotonic()
            with pytest.raises(ConnectionLost):
                await r.finish(timeout=5)
            assert time.monotonic() - started < 3
            assert r.sent_commands() == []

    run(body())


# -- input forms


def test_raw_json_spans_lines_until_its_braces_balance(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            mark = len(r.output())
            r.type('{"execute":' + ENTER)
            await r.until(lambda: r.line == '{"execute":\n', "a continuation line")
            assert r.sent_commands() == [] and r.output()[mark:] == ""
            shown = await r.enter('"query-name"}', '"testvm"')
            assert r.sent_commands() == ["query-name"]  # once, as one message
            assert re.sub(r"\s+", " ", shown).strip() == '{ "name": "testvm" }'
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_parse_error_points_at_the_column_and_the_next_command_works(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            bad = 'qom-get path="/machine'
            with pytest.raises(InputError) as expected:
                parse(bad)
            column, message = expected.value.column, expected.value.message
            assert column is not None
            prompt_width = len("QMP testvm> ")
            shown = await r.enter(bad, message)
            assert r.sent_commands() == []
            assert nonblank_lines(shown) == [" " * (prompt_width + column) + "^ " + message]
            # The caret stands under the culprit as the line appeared after the prompt.
            assert ("QMP testvm> " + bad)[shown.index("^")] == '"'
            await r.enter("query-name", '"testvm"')
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def test_hmp_mode_runs_lines_as_hmp_and_qmp_goes_back(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            shown = await r.enter("/hmp", "HMP mode")
            assert r.session.hmp_mode and r.session.mode == "HMP"
            assert _text(prompt_module.prompt_message(r.session)).startswith("HMP")
            shown = await r.enter("info status", "VM status")
            assert nonblank_lines(shown) == ["VM status: running"]  # text, not JSON, no \r
            assert r.sent[-1] == {
                "execute": "human-monitor-command",
                "arguments": {"command-line": "info status"},
                "id": r.sent[-1]["id"],
            }
            await r.enter("/qmp", "QMP mode")
            assert not r.session.hmp_mode
            shown = await r.enter("query-status", '"status"')
            assert r.sent_commands()[-1] == "query-status"
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


def _text(fragments: StyleAndTextTuples) -> str:
    return "".join(fragment[1] for fragment in fragments)


def test_prompt_shows_the_mode_and_the_vm_name(qemu: Qemu) -> None:
    async def body() -> None:
        transport = QmpTransport(str(qemu.qmp))
        await transport.connect(5)
        try:
            session = Session(transport)
            assert (
                _text(prompt_module.prompt_message(session)) == "QMP> "
            )  # before anything is learned
            await session.learn()
            assert _text(prompt_module.prompt_message(session)) == "QMP testvm> "
            session.hmp_mode = True
            assert _text(prompt_module.prompt_message(session)) == "HMP testvm> "
        finally:
            await transport.close()

    run(body())


def test_prompt_comes_first_and_learns_the_vm_name_and_commands_meanwhile(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu, learn=False) as r:  # what cli does
            await r.until(
                lambda: "query-status" in r.session.commands and r.session.vm_name != "",
                "run_repl to learn the commands and the name",
            )
            assert _text(prompt_module.prompt_message(r.session)) == "QMP testvm> "
            r.type("query-statu")
            await r.until(lambda: r.menu() == ["query-status"], "completion from what it learned")
            r.type(CTRL_C + CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())


# -- history


def test_history_is_saved_privately_with_the_commands_typed(qemu: Qemu, tmp_path: Path) -> None:
    path = tmp_path / "state" / "qmpsh" / "history"

    version = "{major}.{minor}.{micro}".format(**qemu.client().cmd("query-version")["qemu"])

    async def body() -> None:
        async with running_repl(qemu, history=path) as r:
            await r.enter("query-name", '"testvm"')
            await r.enter('human-monitor-command command-line="info version"', version)
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(body())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entries = [line[1:] for line in path.read_text().splitlines() if line.startswith("+")]
    assert entries == ["query-name", 'human-monitor-command command-line="info version"']

    async def again() -> None:  # the next session starts with it: Up recalls the last line
        async with running_repl(qemu, history=path) as r:
            r.type("\x1b[A")
            await r.until(lambda: r.line.startswith("human-monitor-command"), "history recall")
            r.type(CTRL_C + CTRL_D)
            assert await r.finish() == ExitStatus.OK

    run(again())


# -- Ctrl-C while a command is in flight


def test_ctrl_c_cancels_a_command_in_flight_and_the_repl_goes_on(qemu: Qemu) -> None:
    """QEMU frozen with SIGSTOP never answers: the command hangs as a busy QEMU's would."""

    async def body() -> None:
        before = signal.getsignal(signal.SIGINT)  # asyncio.run's own, which cancels the run
        async with running_repl(qemu) as r:
            os.kill(qemu.process.pid, signal.SIGSTOP)
            try:
                r.type("query-status" + ENTER)
                await r.until(lambda: "query-status" in r.sent_commands(), "the command sent")
                # What is tested: the REPL waits for the reply. Nothing says it goes on
                # waiting; a slow machine only makes this check weaker, never wrong.
                await asyncio.sleep(0.2)
                assert not r.at_prompt() and "status" not in r.output()  # still waiting
                # What the terminal does on Ctrl-C while no prompt is reading keys.
                os.kill(os.getpid(), signal.SIGINT)
                await r.until(lambda: "cancelled" in r.output(), "the cancellation notice")
                await r.until(r.at_prompt, "the prompt after cancelling")
            finally:
                os.kill(qemu.process.pid, signal.SIGCONT)
            # QEMU's late reply to the cancelled command is dropped, not mistaken for the next.
            shown = await r.enter("query-name", '"testvm"')
            assert '"status"' not in shown
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK
        assert signal.getsignal(signal.SIGINT) is before  # left as the REPL found it

    try:
        run(body())
    except KeyboardInterrupt:
        pytest.fail("SIGINT during a command reached Python's default handler, not the REPL's")
