"""Scripts send consecutive ``query-*`` commands ahead of their replies (pipelining),
and nothing a user sees may change: output order, stop at the first failure, events in
socket order, the exit status. The transcript (``-l``) shows what crossed the socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import out_lines, run_qmpsh
from tests.support.rawqmp import RawQmp

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def running(raw: RawQmp) -> bool:
    return bool(raw.cmd("query-status")["running"])


def test_queries_go_ahead_yet_print_in_order(qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    script = "query-name\nquery-status\n# a comment\n\nquery-version\nquery-target\n"
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), input=script)
    raw = qemu.client()
    assert (res.returncode, res.stderr) == (0, ""), res
    expected = [raw.cmd("query-name"), raw.cmd("query-status"), raw.cmd("query-version")]
    expected.append(raw.cmd("query-target"))
    assert res.stdout.splitlines() == [compact(v) for v in expected]
    dirs = [(r["dir"], r["message"].get("execute")) for r in records(log)]
    # The first three went out before any reply came back; the last one only after
    # every reply before it, as in lock-step (so /wait after it means the same).
    assert dirs[:2] == [("out", "query-name"), ("out", "query-status")]
    assert dirs[-2:] == [("out", "query-target"), ("in", None)]
    assert dirs.count(("in", None)) == 4


def test_the_first_failure_still_stops_the_script(qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    script = "query-name\nquery-nosuch\nquery-status\nquery-version\nstop\n"
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), input=script)
    assert res.returncode == 1, res
    assert res.stdout == '{"name":"testvm"}\n'
    [line] = out_lines(res.stderr)  # and a suggestion: which, depends on QEMU's build
    assert line.startswith(
        "line 2: query-nosuch: CommandNotFound: The command query-nosuch has not been found"
    )
    sent = [r["message"]["execute"] for r in records(log) if r["dir"] == "out"]
    assert "stop" not in sent  # only queries go ahead; what changes a VM never does
    assert running(qemu.client())


def test_keep_going_prints_every_reply_in_order(qemu: Qemu) -> None:
    script = "query-name\nquery-nosuch\nquery-status\nstop\nquery-status\n"
    running_status = qemu.client().cmd("query-status")  # its members vary with QEMU
    res = run_qmpsh(str(qemu.qmp), "-k", input=script)
    assert res.returncode == 1, res
    paused_status = qemu.client().cmd("query-status")
    assert res.stdout.splitlines() == [
        '{"name":"testvm"}',
        compact(running_status),
        "{}",
        compact(paused_status),
    ]
    [line] = out_lines(res.stderr)  # and a suggestion: which, depends on QEMU's build
    assert line.startswith(
        "line 2: query-nosuch: CommandNotFound: The command query-nosuch has not been found"
    )


def test_a_bad_line_among_queries_fails_in_its_turn(qemu: Qemu) -> None:
    res = run_qmpsh(str(qemu.qmp), "-c", "query-name", "-c", "query-status x=", "-c", "stop")
    assert res.returncode == 1, res
    assert res.stdout == '{"name":"testvm"}\n'
    assert res.stderr.startswith("-c 2: "), res
    assert running(qemu.client())


@pytest.mark.parametrize("option", ["--json", "-v"])
def test_output_that_shows_the_traffic_runs_in_lock_step(
    qemu: Qemu, tmp_path: Path, option: str
) -> None:
    log = tmp_path / "t.jsonl"
    res = run_qmpsh(str(qemu.qmp), option, "-l", str(log), input="query-name\nquery-nosuch\n")
    assert res.returncode == 1, res
    dirs = [r["dir"] for r in records(log)]
    assert dirs == ["out", "in", "out", "in", "out", "in"]  # the last: names, for a suggestion


def test_events_print_in_socket_order_among_replies_sent_ahead(qemu: Qemu, tmp_path: Path) -> None:
    """While 2,000 queries are in flight, the spare monitor stops and continues the VM:
    what qmpsh prints is exactly the transcript's order of replies and events."""
    log, count = tmp_path / "t.jsonl", 2000
    process = subprocess.Popen(
        [sys.executable, "-m", "qmpsh", "--events", "-l", str(log), str(qemu.qmp)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    raw = qemu.client()
    done = threading.Event()

    def flood() -> None:
        while not done.is_set():
            raw.cmd("stop")
            raw.cmd("cont")

    flooding = threading.Thread(target=flood)
    flooding.start()
    try:
        out, err = process.communicate(b"query-status\n" * count, timeout=60)
    finally:
        done.set()
        flooding.join()
    assert (process.returncode, err) == (0, b"")
    shown = out.decode().splitlines()
    expected = [
        compact(r["message"] if r["dir"] == "event" else r["message"]["return"])
        for r in records(log)
        if r["dir"] != "out"
    ]
    # Events before the script began and after its last reply may or may not be shown
    # (qmpsh listens for them only meanwhile); in between, the order is the socket's.
    start = expected.index(shown[0])
    assert all('"event"' in line for line in expected[:start])
    assert shown == expected[start : start + len(shown)]
    assert sum(1 for line in shown if '"status"' in line) == count
    last_reply = max(i for i, line in enumerate(shown) if '"status"' in line)
    assert any('"event"' in line for line in shown[:last_reply])  # they did interleave
