"""``qmpsh SOCK script.qmp`` and ``qmpsh SOCK < script.qmp`` behave the same, to the byte.

Each script runs both ways against real QEMU, from the same starting state,
and stdout, stderr and the exit status must be identical; qmpsh's own errors
name the script's line.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import Result, out_lines, run_plain, run_qmpsh

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def both_ways(qemu: Qemu, name: str, text: str | bytes, *options: str) -> Result:
    """Run ``text`` as a file and on stdin, from the same VM state; the one Result."""
    data = text if isinstance(text, bytes) else text.encode()
    script = qemu.directory / name
    script.write_bytes(data)
    raw = qemu.client()
    running = raw.cmd("query-status")["running"]
    as_file = checked(run_qmpsh(str(qemu.qmp), str(script), *options))
    if raw.cmd("query-status")["running"] != running:
        raw.cmd("cont" if running else "stop")
    on_stdin = checked(run_qmpsh(str(qemu.qmp), *options, input=data))
    assert same(as_file) == same(on_stdin), (as_file, on_stdin)
    return as_file


def checked(done: subprocess.CompletedProcess[str]) -> Result:
    return Result(done.returncode, done.stdout, done.stderr)


def same(res: Result) -> tuple[int, str, str]:
    """What must not differ between two runs: all of it but the events' time stamps."""
    stamp = re.compile(r'"timestamp":\{"seconds":\d+,"microseconds":\d+\}')
    return res.code, stamp.sub("T", res.stdout), res.stderr


def test_a_succeeding_script(qemu: Qemu) -> None:
    text = (
        "# a comment, then a blank line\n"
        "\n"
        "query-name\n"
        "transaction(\n"
        "  block-dirty-bitmap-add node=n0 name=b0\n"
        "  block-dirty-bitmap-add node=n0 name=b1\n"
        ")\n"
        "/hmp info status\n"
        "qom-get path=/machine property=type\n"
        "transaction( block-dirty-bitmap-remove node=n0 name=b0 ;"
        " block-dirty-bitmap-remove node=n0 name=b1 )\n"
    )
    raw = qemu.client()
    raw.cmd("blockdev-add", driver="null-co", **{"node-name": "n0"})
    res = both_ways(qemu, "ok.qmp", text)
    assert res.code == 0, res
    assert out_lines(res.stdout) == [
        '{"name":"testvm"}',
        "{}",
        "VM status: running",
        '"none-machine"',
        "{}",
    ]
    assert res.stderr == ""
    assert raw.cmd("query-named-block-nodes")[0].get("dirty-bitmaps", []) == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(
            'query-name\n\n# c\nqom-get path="/machine\nstop\n',
            "line 4: unterminated \" in value of 'path' (column 14)",
            id="parse-error",
        ),
        pytest.param(
            "query-name\n\nqom-get path=/machine property=type bogus=1\nstop\n",
            "line 3: unknown argument 'bogus' (column 37)",
            id="schema-error",
        ),
        pytest.param(
            "query-name\n/wait NEVER timeout=0.2\nstop\n",
            "line 2: /wait NEVER timeout=0.2: no such event within 0.2 s",
            id="wait-timeout",
        ),
        pytest.param(
            "query-name\n\ntransaction(\n  stop\n",
            "line 3: transaction( is missing its closing ')'",
            id="open-transaction",
        ),
        pytest.param(
            "query-name\r\nnosuch-command\r\nstop\r\n",
            "line 2: nosuch-command: CommandNotFound: "
            "The command nosuch-command has not been found; did you mean 'query-commands'?",
            id="qemu-error-crlf",
        ),
    ],
)
def test_a_failing_script_fails_the_same_way_naming_the_line(
    qemu: Qemu, text: str, error: str
) -> None:
    res = both_ways(qemu, "bad.qmp", text)
    assert res.code == 1, res
    assert out_lines(res.stdout) == ['{"name":"testvm"}']
    [line] = out_lines(res.stderr)
    assert line == error
    assert qemu.client().cmd("query-status")["running"] is True  # stop never ran


def test_undecodable_bytes_fail_on_their_line_both_ways(qemu: Qemu) -> None:
    res = both_ways(qemu, "bytes.qmp", b"query-name\nqom-get path=/\xff property=x\nstop\n")
    assert res.code == 1, res
    assert res.stderr == "line 2: input contains bytes that are not UTF-8 (column 15)\n"


def test_keep_going_and_events_behave_the_same(qemu: Qemu) -> None:
    text = "stop\nnosuch\ncont\n/wait RESUME timeout=5\n"
    res = both_ways(qemu, "events.qmp", text, "--events", "--keep-going")
    assert res.code == 1, res
    shown = [json.loads(line) for line in out_lines(res.stdout)]
    assert [m.get("event", m) for m in shown] == ["STOP", {}, "RESUME", {}]  # RESUME once
    assert res.stderr == "line 2: nosuch: CommandNotFound: The command nosuch has not been found\n"


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_script_that_is_not_a_file_is_a_usage_error(qemu: Qemu, what: str) -> None:
    script = qemu.directory / "no-such.qmp" if what == "missing" else qemu.directory
    res = run_plain(str(qemu.qmp), str(script))
    assert res.code == 2, res
    assert (res.stdout, res.stderr) == ("", f"qmpsh: {script}: no such script file\n")
    res = run_plain(str(qemu.qmp), str(qemu.directory / "x.qmp"), "-c", "stop")
    assert res.code == 2, res
    assert res.stderr == "qmpsh: give either SCRIPT or -c, not both\n"
    assert qemu.client().cmd("query-status")["running"] is True


def test_options_may_sit_between_target_and_script(qemu: Qemu, tmp_path: Path) -> None:
    script = tmp_path / "s.qmp"
    script.write_text("stop\ncont\n")
    done = run_qmpsh(str(qemu.qmp), "--events", str(script))
    assert done.returncode == 0, done.stderr
    events = [line for line in done.stdout.splitlines() if '"event"' in line]
    assert len(events) == 2 and events[0].endswith('"event":"STOP"}')
