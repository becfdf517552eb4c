"""Server text on the user's terminal is shown, never obeyed.

A guest can put strings into QMP replies. Here one hostile string, ``PAYLOAD``,
carries a CSI (clear the screen), an OSC (set the window title), an OSC 8
hyperlink, a carriage return, a backspace, a C1 CSI and rich markup. It comes
from a real QEMU wherever QEMU carries such text: the VM name (``-name``, read
by ``query-name`` and HMP ``info name``), a ``ringbuf`` chardev's bytes
(``ringbuf-read``), a QOM string property set with ``qom-set``, a chardev id
(QEMU 7.2 takes any ``chardev-add id=``; other ids must be identifiers), and an
error description that echoes a request. The fake server stands in for what
QEMU will not carry: event names and data, a greeting's package, command names,
and JSON strings holding lone surrogates.

Every case judges both halves on the bytes as written: no control sequence of
``PAYLOAD`` reaches the terminal, and the text it was part of is there, escaped,
with the markup literal. ``--json`` is judged the other way: the values are
exactly QEMU's. ``test_render.py`` checks the same rules on the renderers alone.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qmpsh.interactive.prompt import prompt_message
from qmpsh.session.session import Session
from qmpsh.transport.qemu_qmp import QmpTransport
from tests.support.fakeserver import Connection, FakeServer, QmpError
from tests.support.pty_process import PtyProcess, colour_codes, plain
from tests.support.qemu import Qemu, start_qemu
from tests.support.qmpsh_process import run_qmpsh
from tests.support.rawqmp import RawQmp
from tests.support.repldriver import ENTER, TAB, repl_over
from tests.support.tmux import PROMPT, Terminal, prompt_line

pytestmark = pytest.mark.qemu

MARKUP = "[bold red]x[/][link=http://evil]y[/link]"
#: Each control character sits between letters of its own, so a leak is found in context.
PAYLOAD = (
    "A\x1b[2JB\x1b]0;pwned\x07C\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\D\rE\x08F\x9b31mG" + MARKUP
)
#: Bytes that must never reach a terminal: PAYLOAD's sequences, its C1 CSI (UTF-8),
#: its carriage return and backspace where it put them.
FORBIDDEN = (b"\x1b[2J", b"\x1b]0;", b"\x1b]8;", b"\x07", b"\xc2\x9b", b"D\rE", b"E\x08F")
#: PAYLOAD as shown on a terminal: as text (an error description) ...
SHOWN_TEXT = r"A\x1b[2JB\x1b]0;pwned\x07C\x1b]8;;http://x\x1b\link\x1b]8;;\x1b\D\x0dE\x08F\x9b31mG"
SHOWN_TEXT += MARKUP
#: ... as HMP output (without carriage returns) ...
SHOWN_HMP = SHOWN_TEXT.replace(r"\x0d", "")
#: ... and as a JSON string (still JSON: the escapes are JSON's).
SHOWN_JSON = (
    r'"A\u001b[2JB\u001b]0;pwned\u0007C\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\D\rE\bF'
)
SHOWN_JSON += r"\u009b31mG" + MARKUP + '"'

#: A request whose error description echoes PAYLOAD, typed as plain ASCII: JSON escapes,
#: in capitals so that the line as typed (echoed at the prompt) never reads as SHOWN_JSON.
ECHOING_ERROR = re.sub(
    r"\\u([0-9a-f]{4})",
    lambda m: "\\u" + m.group(1).upper(),
    json.dumps({"execute": "qom-get", "arguments": {"path": "/machine", "property": PAYLOAD}}),
)
#: Each place a real QEMU hands back PAYLOAD, as typed at the prompt or given to -c.
COMMANDS = (
    "query-name",
    "/hmp info name",
    "ringbuf-read device=rb0 size=4096",
    "qom-get path=/machine property=append",
    "query-chardev",
    ECHOING_ERROR,
)
DEADLINE = 20.0


def assert_inert(data: bytes, *, json_strings: int, hmp: int = 1, errors: int | None = 1) -> str:
    """No forbidden byte in ``data``; PAYLOAD shown escaped as often as expected (as text:
    ``errors`` times, or any number for None). The text."""
    for forbidden in FORBIDDEN:
        assert forbidden not in data, (forbidden, data[-3000:])
    text = plain(data.decode("utf-8", "replace"))
    assert text.count(SHOWN_JSON) == json_strings, text[-3000:]
    assert text.count(SHOWN_HMP) == hmp, text[-3000:]
    assert errors is None or text.count(SHOWN_TEXT) == errors, text[-3000:]
    assert text.count(MARKUP) >= json_strings + hmp + (errors or 0)  # literal, never applied
    return text


@pytest.fixture(scope="module")
def vm() -> Iterator[Qemu]:
    """A QEMU named PAYLOAD, with a ringbuf chardev; see ``refill`` for the rest."""
    qemu = start_qemu("-name", f"guest={PAYLOAD}", "-chardev", "ringbuf,id=rb0,size=4096")
    qemu.client().cmd("chardev-add", id=PAYLOAD, backend={"type": "null", "data": {}})
    yield qemu
    qemu.stop()


def refill(qemu: Qemu) -> RawQmp:
    """PAYLOAD into the ringbuf (each read takes it out) and into a QOM string property."""
    raw = qemu.client()
    raw.cmd("ringbuf-write", device="rb0", data=PAYLOAD)
    raw.cmd("qom-set", path="/machine", property="append", value=PAYLOAD)
    return raw


def test_qemu_really_hands_back_the_payload(vm: Qemu) -> None:
    """The premise of this file: each command returns PAYLOAD byte for byte."""
    raw = refill(vm)
    assert raw.cmd("query-name") == {"name": PAYLOAD}
    assert raw.cmd("human-monitor-command", **{"command-line": "info name"}) == PAYLOAD + "\r\n"
    assert raw.cmd("ringbuf-read", device="rb0", size=4096) == PAYLOAD
    assert raw.cmd("qom-get", path="/machine", property="append") == PAYLOAD
    assert PAYLOAD in [chardev["label"] for chardev in raw.cmd("query-chardev")]
    error = raw.call("qom-get", path="/machine", property=PAYLOAD)["error"]
    assert error == {
        "class": "GenericError",
        "desc": f"Property 'none-machine.{PAYLOAD}' not found",
    }


def on_terminal(*args: str, state: Path) -> tuple[int, bytes]:
    """A non-interactive run (``-c``) with stdout and stderr on a pseudo-terminal."""
    term = PtyProcess.qmpsh(*args, env={"XDG_STATE_HOME": str(state)}, cols=200, stdin=False)
    try:
        return term.exit_status(DEADLINE), term.data
    finally:
        term.close()


# -- real QEMU


def test_repl_shows_qemu_text_inertly(vm: Qemu, tmp_path: Path) -> None:
    refill(vm)
    term = PtyProcess.qmpsh("--no-pager", str(vm.qmp), env={"XDG_STATE_HOME": str(tmp_path)})
    try:
        term.expect("pwned")  # the prompt, once it has the VM name (prompt_toolkit's ^[ ...)
        # What only the output holds (the prompt holds PAYLOAD too, as prompt_toolkit shows it).
        markers = (SHOWN_JSON, SHOWN_HMP, SHOWN_JSON, SHOWN_JSON, SHOWN_JSON, "' not found")
        for command, marker in zip(COMMANDS, markers, strict=True):
            start = len(term.text())
            term.type(command + "\r")
            term.expect(">", term.expect(marker, start))  # the output, then the next prompt
        # Live completion offers the chardev ids, the hostile one among them, in its menu.
        start = len(term.text())
        term.type("chardev-remove id=\t")
        term.expect("compat_monitor0", start)
        shown = "A^[[2JB^[]0;pwned^GC^[]8;;http://x^[\\link"  # as prompt_toolkit shows PAYLOAD
        # Tab takes the menu's first row into the line (readline's step into the menu):
        # shown inertly there (as prompt_toolkit shows a line) and in the menu's row below
        # it, escaped as qmpsh escapes every server text.
        assert f"id={shown}" in term.text()[start:]
        assert f"\n {SHOWN_TEXT[:40]}" in term.text()[start:]
        term.type("\x03")  # Ctrl-C: drop the line
        text = assert_inert(term.data, json_strings=4, errors=None)  # the prompt: any number
        assert f"QMP {SHOWN_TEXT[:40]}" in text  # the VM name in the prompt (which wraps)
        assert f"GenericError: Property 'none-machine.{SHOWN_TEXT}' not found" in text
        assert colour_codes(term.raw)  # a real terminal session: coloured, yet inert
        assert term.finish() == 0
    finally:
        term.close()


def test_coloured_script_shows_qemu_text_inertly(vm: Qemu) -> None:
    """``--color=always``: rich writes for a terminal though stdout is a pipe."""
    refill(vm)
    args = [a for command in COMMANDS for a in ("-c", command)]
    done = run_qmpsh("--color=always", "-k", str(vm.qmp), *args, timeout=DEADLINE)
    assert done.returncode == 1, done  # the error reply
    assert colour_codes(done.stdout) and colour_codes(done.stderr)
    assert_inert(done.stdout.encode(), json_strings=4, errors=0)
    assert_inert(done.stderr.encode(), json_strings=0, hmp=0)


@pytest.mark.parametrize("json_lines", [False, True], ids=["results", "json"])
def test_script_output_on_a_terminal_shows_qemu_text_inertly(
    vm: Qemu, tmp_path: Path, json_lines: bool
) -> None:
    """Plain script output (``-c``) read on a terminal; ``--json`` lines stay JSON there."""
    refill(vm)
    args = [a for command in COMMANDS for a in ("-c", command)]
    options = ["--json"] if json_lines else []
    code, data = on_terminal(*options, "-k", str(vm.qmp), *args, state=tmp_path)
    assert code == 1, data
    if not json_lines:
        assert_inert(data, json_strings=4)
        return
    for forbidden in FORBIDDEN:
        assert forbidden not in data, forbidden
    lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    assert [hostile(m.get("return", m.get("error"))) for m in lines] == [
        {"name": PAYLOAD},
        PAYLOAD + "\r\n",
        PAYLOAD,
        PAYLOAD,
        [{"frontend-open": False, "filename": "null", "label": PAYLOAD}],
        {"class": "GenericError", "desc": f"Property 'none-machine.{PAYLOAD}' not found"},
    ]


def hostile(value: object) -> object:
    """``query-chardev``'s entry for PAYLOAD alone (the monitors' entries change as
    clients come and go); any other value as it is."""
    if isinstance(value, list):
        return [c for c in value if isinstance(c, dict) and c.get("label") == PAYLOAD]
    return value


def test_json_passes_qemu_text_through_exactly(vm: Qemu) -> None:
    """``--json`` into a pipe: each message's values are QEMU's, C1 and all, compactly."""
    raw = refill(vm)
    args = [a for command in COMMANDS for a in ("-c", command)]
    done = subprocess.run(
        [sys.executable, "-m", "qmpsh", "--json", "-k", str(vm.qmp), *args],
        capture_output=True,
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done
    assert done.stderr == b""  # --json: the error is a line of stdout like any reply
    refill(vm)
    expected = [
        raw.call("query-name"),
        raw.call("human-monitor-command", **{"command-line": "info name"}),
        raw.call("ringbuf-read", device="rb0", size=4096),
        raw.call("qom-get", path="/machine", property="append"),
        raw.call("query-chardev"),
        raw.call("qom-get", path="/machine", property=PAYLOAD),
    ]
    lines = done.stdout.decode().splitlines()
    assert len(lines) == len(expected)
    for line, want in zip(lines, expected, strict=True):
        message: dict[str, Any] = json.loads(line)
        assert line == json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        message.pop("id")
        if "return" in message:  # query-chardev: the monitors' entries change, PAYLOAD's not
            message["return"], want["return"] = hostile(message["return"]), hostile(want["return"])
        assert message == want
    assert done.stdout.count("\x9b".encode()) == 6  # unchanged: a pipe gets the C1 as sent
    assert done.stdout.count(b"\\u001b[2JB") == 6  # JSON's own escape for ESC


# -- what QEMU will not carry: a fake server


async def _poke(conn: Connection, request: dict[str, Any]) -> None:
    """An event with a hostile name and data, then a reply holding a hostile id."""
    await conn.event(f"EV_{PAYLOAD}", {"device": PAYLOAD, "path": f"/machine/{PAYLOAD}"})
    await conn.reply(request, [{"id": PAYLOAD, "type": "x"}])


#: A command name (short: /help sets names in columns, and rich shortens a long one).
HOSTILE_NAME = "x-\x1b[2JH\x9bI[b]z[/b]"
SHOWN_NAME = r"x-\x1b[2JH\x9bI[b]z[/b]"


def fake() -> FakeServer:
    return FakeServer(
        commands={
            "query-commands": [{"name": "x-poke"}, {"name": HOSTILE_NAME}],
            "query-name": {"name": "fake"},
            "x-poke": _poke,
            "x-fail": QmpError("GenericError", PAYLOAD),
        },
        version={"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": PAYLOAD},
    )


def test_fake_server_text_in_the_repl_is_inert(tmp_path: Path) -> None:
    """The greeting's package in the banner, an event above the prompt, an id in a
    reply, an error description, and command names in ``/help``."""
    with fake() as server:
        term = PtyProcess.qmpsh(
            "--no-pager", str(server.path), env={"XDG_STATE_HOME": str(tmp_path)}, cols=250
        )
        try:
            term.expect("fake>")
            steps = (("!x-poke", "type"), ("!x-fail", "GenericError"), ("/help", "/help CMD"))
            for command, marker in steps:
                start = len(term.text())
                term.type(command + "\r")
                term.expect(">", term.expect(marker, start))
            # As text: the banner, the event's name, the reply's id in a table cell, the
            # error; as JSON: the event's device.
            text = assert_inert(term.data, json_strings=1, hmp=0, errors=4)
            assert f"Connected to QEMU 7.2.0 ({SHOWN_TEXT}) at " in text
            assert re.search(rf"^{re.escape(SHOWN_TEXT)}  x$", text, re.MULTILINE), text
            assert f"EV_{SHOWN_TEXT}" in text and SHOWN_NAME in text
            assert f"GenericError: {SHOWN_TEXT}" in text
            assert term.finish() == 0
        finally:
            term.close()


@pytest.mark.parametrize("where", ["colour-script", "terminal-script"])
def test_fake_server_text_in_scripts_is_inert(tmp_path: Path, where: str) -> None:
    """Events (``--events``), an id in a reply, an error and ``/help`` names, in a
    coloured script and in a plain script whose output is a terminal."""
    args = ("--events", "-k", "-c", "!x-poke", "-c", "!x-fail", "-c", "/help")
    with fake() as server:
        if where == "colour-script":
            done = run_qmpsh("--color=always", str(server.path), *args, timeout=DEADLINE)
            code, data = done.returncode, (done.stdout + done.stderr).encode()
        else:
            code, data = on_terminal(str(server.path), *args, state=tmp_path)
    assert code == 1, data
    # As JSON: the event (its name, device and path) and the reply's id; as text: the
    # error and the /help name.
    text = assert_inert(data, json_strings=2, hmp=0, errors=1)
    assert f'"EV_{SHOWN_JSON[1:]}' in text and f'"/machine/{SHOWN_JSON[1:]}' in text
    assert f"GenericError: {SHOWN_TEXT}" in text and SHOWN_NAME in text


@pytest.mark.parametrize(
    "args",
    [(), ("--json",), ("--color=always",), ("--pretty",)],
    ids=["pipe", "json", "colour", "pretty"],
)
def test_lone_surrogates_from_a_server_do_not_end_the_run(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    r"""A JSON string may spell "\udc80", which no UTF-8 stream can write; qmpsh used to
    end with an internal error (and under ``--json`` drop the connection)."""

    async def hmp(conn: Connection, request: dict[str, Any]) -> None:
        ident = json.dumps(request["id"]).encode()
        await conn.send_raw(b'{"return": "a\\udc80b\\r\\n", "id": %s}\r\n' % ident)

    log = tmp_path / "t.jsonl"
    server = FakeServer(commands={"human-monitor-command": hmp, "x-get": {"s": "\ud800"}})
    with server:
        commands = ("-c", "/hmp info x", "-c", "x-get", "-c", "x-get")
        done = run_qmpsh(*args, "-l", str(log), str(server.path), *commands, timeout=DEADLINE)
    assert (done.returncode, done.stderr) == (0, ""), done
    out = plain(done.stdout)
    if args == ("--json",):
        returns = [json.loads(line)["return"] for line in out.splitlines()]
        assert returns == ["a\udc80b\r\n", {"s": "\ud800"}, {"s": "\ud800"}]  # exact
    else:
        assert "a\\udc80b" in out and out.count('"\\ud800"') == 2
    # The transcript too: the same values back, from valid JSON lines.
    messages = [json.loads(line)["message"] for line in log.read_text().splitlines()]
    returns = [m["return"] for m in messages if "return" in m]
    assert returns[-3:] == ["a\udc80b\r\n", {"s": "\ud800"}, {"s": "\ud800"}]


def test_lone_surrogates_in_events_under_all_json_stay_json_escapes() -> None:
    r"""``--all --json`` prints an event's "\udc80" as one target's ``--json`` does, as
    that JSON escape; it used to go out as the raw byte 0x80: not UTF-8, not JSON."""

    async def poke(conn: Connection, request: dict[str, Any]) -> None:
        await conn.event("X_EVENT", {"s": "a\udc80b"})
        await conn.reply(request, {})

    with FakeServer(commands={"x-poke": poke}) as one, FakeServer(commands={"x-poke": poke}) as two:
        single = run_qmpsh("--json", str(one.path), "-c", "x-poke", timeout=DEADLINE)
        both = ("--all", str(one.path), str(two.path))
        fleet = run_qmpsh(*both, "--json", "-c", "x-poke", timeout=DEADLINE)
    for done, count in ((single, 1), (fleet, 2)):
        assert (done.returncode, done.stderr) == (0, ""), done
        assert "\ufffd" not in done.stdout  # run_qmpsh's stand-in for bytes that are not UTF-8
        events = [line for line in done.stdout.splitlines() if "X_EVENT" in line]
        assert [json.loads(line)["data"] for line in events] == [{"s": "a\udc80b"}] * count
        assert all(r'"a\udc80b"' in line for line in events), events
    targets = {json.loads(line)["target"] for line in fleet.stdout.splitlines()}
    assert targets == {str(one.path), str(two.path)}


def test_lone_surrogates_on_a_terminal_are_shown_escaped(tmp_path: Path) -> None:
    """Under the C locale Python writes "\udc9b" to a terminal as the byte 0x9b: a C1 CSI."""
    with FakeServer(commands={"x-get": {"s": "\udc9b"}}) as server:
        code, data = on_terminal(str(server.path), "-c", "x-get", state=tmp_path)
    assert (code, data) == (0, b'{"s":"\\udc9b"}\r\n')


#: Bidi, zero-width and separator characters a server may put in names and values.
INVISIBLE = "\u202e\u2066\u200b\u200e\u2060\ufeff\u2028\xad"
#: Two schema commands and two QOM children, each pair sharing only its prefix (so Tab
#: opens the menu), and a VM name: all hiding INVISIBLE.
HIDING_COMMANDS = ("x-a" + INVISIBLE, "x-b\u202dz")
HIDING_CHILDREN = ("a" + INVISIBLE, "b\u2067c")


def hidden(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cf", "Cc", "Zl", "Zp")]


def hiding_schema() -> list[dict[str, Any]]:
    """A small query-qmp-schema: the two commands, and qom-list (path: str)."""
    schema: list[dict[str, Any]] = [
        {"name": name, "meta-type": "command", "arg-type": "0", "ret-type": "1"}
        for name in HIDING_COMMANDS
    ]
    schema.append({"name": "qom-list", "meta-type": "command", "arg-type": "2", "ret-type": "1"})
    schema += [
        {"name": "0", "meta-type": "object", "members": []},
        {"name": "1", "meta-type": "builtin", "json-type": "value"},
        {"name": "2", "meta-type": "object", "members": [{"name": "path", "type": "str"}]},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
    ]
    return schema


def test_completion_menu_shows_server_names_and_live_values_escaped() -> None:
    """Schema names and QOM paths in the menu, their notes and the VM name in the prompt
    are escaped as replies are; what Tab inserts is still the server's exact text."""
    children = [{"name": n, "type": f"child<t{INVISIBLE}>"} for n in HIDING_CHILDREN]
    commands = {
        "query-qmp-schema": hiding_schema(),
        "query-commands": [{"name": n} for n in (*HIDING_COMMANDS, "qom-list")],
        "query-name": {"name": "vm" + INVISIBLE},
        "qom-list": children,
    }

    async def body(server: FakeServer) -> None:
        transport = QmpTransport(str(server.path))
        await transport.connect(5)
        session = Session(transport)
        await session.learn()
        async with repl_over(session) as repl:
            shown_prompt = "".join(text for _, text, *_ in prompt_message(session))
            assert shown_prompt.endswith(
                "vm\\u202e\\u2066\\u200b\\u200e\\u2060\\ufeff\\u2028\\xad> "
            )
            for typed, offered, notes in (
                ("x-", HIDING_COMMANDS, False),
                ("qom-list path=/", tuple("/" + c for c in HIDING_CHILDREN), True),
            ):
                await repl.until(repl.at_prompt, "the prompt")
                repl.type(typed + TAB)
                await repl.until(lambda: len(repl.menu()) == 2, f"the menu for {typed!r}")
                state = repl.prompt.default_buffer.complete_state
                assert state is not None
                assert tuple(c.text for c in state.completions) == offered  # exact
                for completion in state.completions:
                    assert hidden(completion.display_text) == [], completion.display_text
                    assert hidden(completion.display_meta_text) == []
                    assert "\\u" in completion.display_text
                    assert notes == ("\\u202e" in completion.display_meta_text)
                repl.type("\x1b\x15")  # Escape closes the menu, Ctrl-U clears the line
                await repl.until(lambda: repl.line == "", "the line to clear")

    with FakeServer(commands=commands) as server:
        asyncio.run(asyncio.wait_for(body(server), DEADLINE))


def test_a_completed_server_name_is_drawn_escaped_and_sent_exactly() -> None:
    """Tab puts a QOM path holding bidi and zero-width characters into the line: the
    line draws them as the menu does, the cursor after them, and Enter sends the
    server's exact name."""
    path = "/" + HIDING_CHILDREN[0]
    commands = {
        "query-qmp-schema": hiding_schema(),
        "query-commands": [{"name": n} for n in (*HIDING_COMMANDS, "qom-list")],
        "qom-list": [{"name": n, "type": "child<t>"} for n in HIDING_CHILDREN],
    }

    async def body(server: FakeServer) -> None:
        transport = QmpTransport(str(server.path))
        await transport.connect(5)
        session = Session(transport)
        await session.learn()
        async with repl_over(session) as repl:
            await repl.until(repl.at_prompt, "the prompt")
            repl.type("qom-list path=/" + TAB)
            await repl.until(lambda: repl.line == f"qom-list path={path}", "Tab's completion")
            content = repl.prompt.app.layout.current_control.create_content(200, 5)
            # (prompt_toolkit ends each drawn line with a space, for the cursor)
            drawn = "".join(text for _, text, *_ in content.get_line(0)).removesuffix(" ")
            assert drawn == "qom-list path=/a\\u202e\\u2066\\u200b\\u200e\\u2060\\ufeff\\u2028\\xad"
            assert content.cursor_position.x == len(drawn)
            repl.type("\x02")  # Ctrl-B: one character back, over the soft hyphen's escape
            buffer = repl.prompt.default_buffer
            await repl.until(lambda: buffer.cursor_position == len(buffer.text) - 1, "Ctrl-B")
            content = repl.prompt.app.layout.current_control.create_content(200, 5)
            assert content.cursor_position.x == len(drawn) - len("\\xad")
            repl.type("\x1b" + ENTER)  # Escape closes the menu; Enter sends the line
            await repl.until(lambda: "qom-list" in repl.sent_commands(), "qom-list sent")
            [sent] = [msg for msg in repl.sent if msg.get("execute") == "qom-list"]
            assert sent["arguments"] == {"path": path}

    with FakeServer(commands=commands) as server:
        asyncio.run(asyncio.wait_for(body(server), DEADLINE))


def test_a_completed_chardev_id_is_drawn_escaped_in_a_real_terminal(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    """Real QEMU takes a chardev id holding bidi and zero-width characters: Tab puts it
    in the line, which the terminal shows escaped, and Enter removes that very chardev."""
    name = "zz\u202e\u200bq\u2060r"
    raw = qemu.client()
    raw.cmd("chardev-add", id=name, backend={"type": "null", "data": {}})
    terminal.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path)})
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")
    terminal.type("chardev-remove id=zz")
    terminal.press("Tab")
    shown = PROMPT + "chardev-remove id=zz\\u202e\\u200bq\\u2060r"
    terminal.wait_for(lambda s: prompt_line(s) == shown, "the completed id, escaped")
    terminal.press("Enter")
    terminal.wait_for(
        lambda s: "{}" in s and prompt_line(s) == PROMPT.rstrip(), "the reply, the next prompt"
    )
    assert name not in [chardev["label"] for chardev in raw.cmd("query-chardev")]
    terminal.press("C-d")
    assert terminal.exit_status() == 0
