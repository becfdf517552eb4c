"""Rendering: server text is data, never markup or terminal control, on a TTY."""

from __future__ import annotations

import io
import json
import re

import pytest

from qmpsh.language.helptext import describe
from qmpsh.render.escape import dump_json, visible
from qmpsh.render.plain import plain_renderer
from qmpsh.render.renderer import Renderer, hmp_text
from qmpsh.render.rich_terminal import rich_renderer
from qmpsh.session.outcomes import HelpList, Reply, Waited
from qmpsh.transport.interface import ServerInfo
from tests.support.corpus import index

HOSTILE = "\x1b[31mred\x1b]8;;http://x\x07link\x9b2J\r\x08[bold red]boom[/bold red]\u202e"


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_visible_escapes_every_control_but_newline_and_tab() -> None:
    assert visible("a\x1bb\tc\nd\x7f\x9b\u202e") == "a\\x1bb\tc\nd\\x7f\\x9b\\u202e"


def test_hmp_text_drops_carriage_returns() -> None:
    assert hmp_text("VM status: running\r\n") == "VM status: running\n"


def test_dump_json_for_terminal_escapes_c1_and_bidi_but_stays_valid_json() -> None:
    text = dump_json({"s": "a\x9bb\u202ec\x1b"}, terminal=True)
    assert "\x9b" not in text and "\u202e" not in text and "\x1b" not in text
    assert json.loads(text) == {"s": "a\x9bb\u202ec\x1b"}


def test_dump_json_for_pipe_is_compact_and_unchanged() -> None:
    assert dump_json({"a": [1, "é\x9b"]}) == '{"a":[1,"é\x9b"]}'


def rich(pretty: bool = True) -> tuple[Renderer, io.StringIO]:
    out = io.StringIO()
    return rich_renderer(file=out, width=200, pretty=pretty), out


def test_rich_error_reply_shows_class_and_desc_inertly() -> None:
    renderer, out = rich()
    error = {"error": {"class": "GenericError", "desc": HOSTILE}}
    renderer.outcome(Reply("x", error))
    text = out.getvalue()
    assert text.startswith("GenericError: ")
    assert "[bold red]boom[/bold red]" in text  # markup shown literally, not applied
    assert "\x1b[31m" not in text and "\x9b" not in text and "\x08" not in text
    assert "\\x1b[31mred" in text


def test_rich_hmp_text_is_verbatim_without_cr_and_controls() -> None:
    renderer, out = rich()
    renderer.outcome(Reply("human-monitor-command", {"return": "a [b]\r\nc\x1b]0;t\x07\r\n"}, True))
    assert out.getvalue() == "a [b]\nc\\x1b]0;t\\x07\n"


def test_rich_json_reply_pretty_and_compact() -> None:
    renderer, out = rich()
    renderer.outcome(Reply("query-status", {"return": {"status": "running", "id": HOSTILE}}))
    pretty = out.getvalue()
    assert pretty.startswith('{\n  "status": "running",')
    assert json.loads(pretty)["id"] == HOSTILE  # escapes keep it valid JSON
    assert "\x1b" not in pretty and "\x9b" not in pretty and "\u202e" not in pretty
    renderer, out = rich(pretty=False)
    renderer.outcome(Reply("query-status", {"return": {"status": "running"}}))
    assert out.getvalue() == '{"status":"running"}\n'


def test_rich_event_line_has_name_time_and_data() -> None:
    renderer, out = rich()
    stamp = {"seconds": 0, "microseconds": 5}
    renderer.event({"event": "STOP", "timestamp": stamp, "data": {"reason": "[x]"}})
    line = out.getvalue()
    assert line.startswith("STOP  ")
    assert ".000005" in line and line.rstrip().endswith('{"reason":"[x]"}')


def test_rich_help_lists_builtins_and_commands() -> None:
    renderer, out = rich()
    groups = (("query", ("query-block", "query-status")),)
    renderer.outcome(HelpList(("/help   list",), groups, "query"))
    text = out.getvalue()
    assert "/help   list" in text and "query-block" in text
    assert "Commands matching 'query' (2):" in text


def test_rich_banner_names_version_package_and_target() -> None:
    renderer, out = rich()
    renderer.banner("/tmp/s", ServerInfo("7.2.22", "Debian 1:7.2"), "QMP")
    assert out.getvalue().startswith("Connected to QEMU 7.2.22 (Debian 1:7.2) at /tmp/s\n")


def test_plain_renderer_script_output() -> None:
    out, err = io.StringIO(), io.StringIO()
    plain = plain_renderer(out=out, err=err)
    plain.outcome(Reply("a", {"return": {"x": [1, 2]}}))
    plain.outcome(Reply("b", {"error": {"class": "GenericError", "desc": "no"}}))
    plain.outcome(Reply("c", {"return": "text\r\n"}, hmp=True))
    plain.outcome(Reply("d", {"return": ""}, hmp=True))
    assert out.getvalue() == '{"x":[1,2]}\ntext\n'
    assert err.getvalue() == "GenericError: no\n"
    plain.outcome(Reply("e", {"error": {"class": "GenericError", "desc": "no"}}), "line 4")
    plain.outcome(Reply("f", {"return": "Error: no\r\n"}, hmp=True), "-c 2")
    plain.outcome(Waited(None, "STOP", 0), "line 6")
    assert err.getvalue().splitlines()[1:] == [
        "line 4: e: GenericError: no",
        "-c 2: Error: no",
        "line 6: /wait STOP: no such event within 0 s",
    ]


def test_plain_renderer_pretty_and_verbose_and_json_lines() -> None:
    out, err = io.StringIO(), io.StringIO()
    plain = plain_renderer(out=out, err=err, pretty=True, verbose=True, json_lines=True)
    plain.traffic("send", {"execute": "stop"})
    plain.traffic("recv", {"return": {}, "id": "1"})
    plain.outcome(Reply("stop", {"return": {}, "id": "1"}))  # already printed as traffic
    plain.outcome(Reply("x", {"error": {"class": "C", "desc": "d"}}))  # the reply line says it
    assert out.getvalue() == '{"return":{},"id":"1"}\n'
    assert err.getvalue() == '{"execute":"stop"}\n'
    out = io.StringIO()
    plain_renderer(out=out, pretty=True).outcome(Reply("a", {"return": {"x": 1}}))
    assert out.getvalue() == '{\n  "x": 1\n}\n'


def test_plain_renderer_on_a_terminal_makes_controls_visible() -> None:
    out, err = FakeTty(), FakeTty()
    plain = plain_renderer(out=out, err=err)
    plain.outcome(Reply("c", {"return": "a\x1b[2Jb\r\n"}, hmp=True))
    plain.outcome(Reply("b", {"error": {"class": "E", "desc": "\x1b]0;x\x07"}}))
    assert out.getvalue() == "a\\x1b[2Jb\n"
    assert err.getvalue() == "E: \\x1b]0;x\\x07\n"


def _help_lines(text: str) -> list[str]:
    """``/help blockdev-add``'s rows, each checked to keep its long notes in their column."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    driver = next(line for line in lines if line.startswith("  driver "))
    column = driver.index("required")
    after = lines[lines.index(driver) + 1 :]
    more = after[: next(i for i, line in enumerate(after) if line.startswith("  node-name"))]
    assert more, "the driver's values take more than one line"
    for line in more:
        assert line[:column].isspace() and not line[column].isspace()
    notes = " ".join(line.strip() for line in [driver[column:], *more])
    assert "| vvfat" in notes and "qcow2 | qed" in notes
    return lines


def test_plain_help_wraps_long_notes_within_their_column() -> None:
    tree = describe(index("qemu-7.2.22-x86_64.json.gz"), "blockdev-add", {})
    assert tree is not None
    out = io.StringIO()
    plain_renderer(out=out, width=60).outcome(tree)
    assert all(len(line) <= 60 for line in _help_lines(out.getvalue()))
    out = io.StringIO()
    plain_renderer(out=out).outcome(tree)  # into a pipe: one line per row, to grep
    assert any(len(line) > 200 and "| vvfat" in line for line in out.getvalue().splitlines())


def test_rich_help_on_a_terminal_wraps_long_notes_within_their_column() -> None:
    tree = describe(index("qemu-7.2.22-x86_64.json.gz"), "blockdev-add", {})
    assert tree is not None
    out = FakeTty()
    rich_renderer(file=out, width=70, color=False).outcome(tree)
    assert all(len(line) <= 70 for line in _help_lines(out.getvalue()))


def _ansi(renderable: object) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor")
    console.print(renderable, soft_wrap=True)
    return buffer.getvalue()


@pytest.mark.parametrize("indent", [2, None], ids=["pretty", "compact"])
def test_fast_json_colours_the_schema_exactly_as_rich_does(indent: int | None) -> None:
    """The fast path for big replies (P4) looks the same as rich's JSONHighlighter."""
    import gzip

    from qmpsh.render.style import FastJson, highlight_json
    from tests.support.corpus import CORPUS

    with gzip.open(CORPUS / "qemu-7.2.22-x86_64.json.gz") as recording:
        recorded = json.loads(recording.read())
    text = dump_json(recorded["replies"]["query-qmp-schema"], indent=indent, terminal=True)
    fast = _ansi(FastJson(text))
    assert fast == _ansi(highlight_json(text))
    assert "\x1b[1;34m" in fast and "\x1b[32m" in fast  # keys and strings are coloured


def test_fast_json_knows_an_escaped_backslash_ends_a_key() -> None:
    from qmpsh.render.style import FastJson

    out = _ansi(FastJson('{"k\\\\": "v:"}'))
    assert '\x1b[1;34m"k\\\\"\x1b[0m: \x1b[32m"v:"\x1b[0m' in out
