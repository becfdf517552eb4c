"""``-l FILE``: a transcript of the socket, read back from the file after real runs.

Every message both ways and every event, one JSON object per line with a time and
a direction; appended; created 0600; never through a symlink planted at its path;
never the QMP socket itself (qmp-shell's ``-l`` replaced the VM's socket).
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from qmpsh.transport.messages import is_quiet
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import out_lines, run_plain

pytestmark = pytest.mark.qemu


def records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")
    found = []
    for line in text.splitlines():
        record = json.loads(line)
        assert set(record) == {"time", "dir", "message"}, record
        assert record["dir"] in ("out", "in", "event"), record
        assert isinstance(record["time"], float) and isinstance(record["message"], dict)
        assert line == json.dumps(record, ensure_ascii=False, separators=(",", ":"))  # compact
        found.append(record)
    return found


def users(found: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(direction, what) of the user's own traffic: commands, replies and events."""
    shown: list[tuple[str, Any]] = []
    for r in found:
        message = r["message"]
        if r["dir"] == "event":
            shown.append(("event", message["event"]))
        elif str(message.get("id")).startswith("__qmp#") and not is_quiet(message.get("id")):
            shown.append((r["dir"], message.get("execute", message.get("return"))))
    return shown


def test_every_message_both_ways_and_every_event_with_time_and_direction(
    qemu: Qemu, tmp_path: Path
) -> None:
    log = tmp_path / "session.jsonl"
    before = time.time()
    res = run_plain(str(qemu.qmp), "-l", str(log), "-c", "stop", "-c", "cont", "-c", "query-name")
    after = time.time()
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ('{}\n{}\n{"name":"testvm"}\n', "")  # the file only
    found = records(log)
    # In the order they crossed the socket: QEMU sends STOP before its reply to stop.
    assert users(found) == [
        ("out", "stop"),
        ("event", "STOP"),
        ("in", {}),
        ("out", "cont"),
        ("event", "RESUME"),
        ("in", {}),
        ("out", "query-name"),
        ("in", {"name": "testvm"}),
    ]
    stamps = [r["time"] for r in found]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    [stop] = [
        r["message"] for r in found if r["dir"] == "event" and r["message"]["event"] == "STOP"
    ]
    assert set(stop) == {"event", "timestamp"}  # the event as QEMU sent it
    sent = [r["message"] for r in found if r["dir"] == "out"]
    replies = {r["message"]["id"] for r in found if r["dir"] == "in"}
    assert {m["id"] for m in sent} == replies  # each command's reply is there


def test_qmpshs_own_questions_are_in_the_transcript_too(qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    # A command with arguments is checked against the schema, which qmpsh asks for.
    res = run_plain(str(qemu.qmp), "-l", str(log), "-c", "qom-get path=/machine property=type")
    assert res.code == 0, res
    found = records(log)
    asked = [r["message"]["execute"] for r in found if r["dir"] == "out"]
    assert asked == ["query-qmp-schema", "qom-get"]
    [schema] = [r for r in found if r["dir"] == "in" and r["message"]["id"] == "__qmp#qmpsh-1"]
    assert isinstance(schema["message"]["return"], list)


def test_appended_across_runs_created_0600(qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "new" / "t.jsonl"  # a missing directory is made (0700)
    old_umask = os.umask(0)  # whatever the umask, the file is private
    try:
        first = run_plain(str(qemu.qmp), "-l", str(log), "-c", "query-name")
    finally:
        os.umask(old_umask)
    assert first.code == 0, first
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    once = log.read_text()
    second = run_plain(str(qemu.qmp), "-l", str(log), "-c", "query-status")
    assert second.code == 0, second
    both = log.read_text()
    assert both.startswith(once) and len(both) > len(once)
    assert [c for d, c in users(records(log)) if d == "out"] == ["query-name", "query-status"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_an_existing_file_keeps_its_content_and_becomes_private(qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "t.jsonl"
    log.write_text('{"time":1.0,"dir":"out","message":{"execute":"from-before"}}\n')
    log.chmod(0o644)
    res = run_plain(str(qemu.qmp), "-l", str(log), "-c", "query-name")
    assert res.code == 0, res
    found = records(log)
    assert found[0]["message"] == {"execute": "from-before"}
    assert users(found[1:]) == [("out", "query-name"), ("in", {"name": "testvm"})]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-a-file", "dangling"])
def test_a_symlink_at_the_path_is_not_followed(
    qemu: Qemu, tmp_path: Path, target_exists: bool
) -> None:
    target = tmp_path / "precious"
    if target_exists:
        target.write_text("do not touch\n")
        target.chmod(0o644)
    log = tmp_path / "t.jsonl"
    log.symlink_to(target)
    res = run_plain(str(qemu.qmp), "-l", str(log), "-c", "stop")
    assert res.code == 2, res
    assert res.stdout == ""
    assert res.stderr == (
        f"qmpsh: {log}: cannot write the transcript: "
        "it is a symbolic link, which a transcript never follows\n"
    )
    assert log.is_symlink()
    if target_exists:
        assert target.read_text() == "do not touch\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    else:
        assert not target.exists()
    assert qemu.client().cmd("query-status")["running"] is True  # nothing was run


def test_the_qmp_socket_itself_is_refused_and_keeps_working(qemu: Qemu) -> None:
    spellings = [
        str(qemu.qmp),
        str(qemu.qmp.parent / "." / qemu.qmp.name),
        os.path.relpath(qemu.qmp),
    ]
    for spelling in spellings:
        res = run_plain(str(qemu.qmp), "-l", spelling, "-c", "stop")
        assert res.code == 2, res
        assert (res.stdout, res.stderr) == (
            "",
            f"qmpsh: {spelling}: that is the QMP socket itself, not a transcript file\n",
        )
    alias = qemu.directory / "alias.sock"
    alias.symlink_to(qemu.qmp)  # a symlink to the socket: refused as well
    res = run_plain(str(qemu.qmp), "-l", str(alias), "-c", "stop")
    assert res.code == 2, res
    assert stat.S_ISSOCK(os.lstat(qemu.qmp).st_mode)  # still QEMU's socket, untouched
    assert qemu.client().cmd("query-status")["running"] is True
    res = run_plain(str(qemu.qmp), "-c", "query-name")
    assert res.code == 0, res
    assert out_lines(res.stdout) == ['{"name":"testvm"}']


def test_a_directory_is_a_usage_error(qemu: Qemu, tmp_path: Path) -> None:
    res = run_plain(str(qemu.qmp), "-l", str(tmp_path), "-c", "stop")
    assert res.code == 2, res
    assert res.stdout == ""
    [line] = out_lines(res.stderr)
    assert line.startswith(f"qmpsh: {tmp_path}: cannot write the transcript: "), line
    assert qemu.client().cmd("query-status")["running"] is True
