"""Script and one-shot mode end to end: the real ``python -m qmpsh`` against real QEMU (TCG).

Every effect qmpsh claims is checked from outside: through the test's own raw
client on QEMU's second monitor, or through processes and files on this
machine. Each run of qmpsh must leave stdout to results, stderr to problems,
and never print a traceback or a terminal escape.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qmpsh
from tests.support.places import short_tempdir
from tests.support.processes import processes_mentioning
from tests.support.pty_process import PtyProcess
from tests.support.qemu import QEMU, QEMU_IMG, Qemu
from tests.support.qmpsh_process import PipedQmpsh, compact, out_lines, run_plain
from tests.support.rawqmp import RawQmp

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def running(raw: RawQmp) -> bool:
    status = raw.cmd("query-status")
    assert isinstance(status["running"], bool)
    return status["running"]


def node(raw: RawQmp, name: str) -> dict[str, Any] | None:
    for info in raw.cmd("query-named-block-nodes"):
        if info["node-name"] == name:
            assert isinstance(info, dict)
            return info
    return None


def bitmaps(raw: RawQmp, name: str) -> set[str]:
    info = node(raw, name)
    assert info is not None, f"no node {name}"
    return {b["name"] for b in info.get("dirty-bitmaps", [])}


def qemu_version(raw: RawQmp) -> str:
    q = raw.greeting["QMP"]["version"]["qemu"]
    return f"{q['major']}.{q['minor']}.{q['micro']}"


# --------------------------------------------------------------------------- input forms


def test_plain_command_prints_the_return_value_as_compact_json(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(str(qemu.qmp), input="query-name\nquery-status\n")
    assert res.code == 0, res
    assert res.stderr == ""
    assert out_lines(res.stdout) == ['{"name":"testvm"}', compact(raw.cmd("query-status"))]


def test_pretty_indents_the_return_value(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(str(qemu.qmp), "--pretty", input="query-status\n")
    assert res.code == 0, res
    assert res.stdout == json.dumps(raw.cmd("query-status"), indent=2) + "\n"
    assert res.stdout.startswith('{\n  "')
    assert res.stderr == ""


def test_shorthand_arguments_are_typed_and_reach_qemu(qemu: Qemu) -> None:
    raw = qemu.client()
    assert raw.cmd("qom-get", path="/machine", property="dump-guest-core") is True
    script = (
        "object-add qom-type=memory-backend-ram id=mem0 size=1048576\n"
        "qom-set path=/machine property=dump-guest-core value=false\n"
        "qom-get path=/machine property=type\n"
    )
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert out_lines(res.stdout) == ["{}", "{}", '"none-machine"']
    assert res.stderr == ""
    # size=1048576 went as a number (QEMU rejects a string for a 'size'), false as a boolean
    assert raw.cmd("qom-get", path="/objects/mem0", property="size") == 1048576
    assert raw.cmd("qom-get", path="/machine", property="dump-guest-core") is False


def test_dotted_keys_build_nested_objects_for_blockdev_add(qemu: Qemu) -> None:
    assert qemu.image is not None
    raw = qemu.client()
    assert node(raw, "n1") is None
    line = f"blockdev-add driver=qcow2 node-name=n1 file.driver=file file.filename={qemu.image}\n"
    res = run_plain(str(qemu.qmp), input=line)
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ("{}\n", "")
    n1 = node(raw, "n1")
    assert n1 is not None
    assert (n1["drv"], n1["file"]) == ("qcow2", str(qemu.image))
    assert n1["image"]["format"] == "qcow2"


def test_json_object_value_is_sent_as_an_object(qemu: Qemu) -> None:
    raw = qemu.client()
    line = 'blockdev-add driver=null-co node-name=n2 cache={"direct": false, "no-flush": true}\n'
    res = run_plain(str(qemu.qmp), input=line)
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ("{}\n", "")
    n2 = node(raw, "n2")
    assert n2 is not None
    assert n2["cache"] == {"writeback": True, "direct": False, "no-flush": True}


def test_quoted_string_loses_its_quotes_and_keeps_its_spaces(qemu: Qemu) -> None:
    raw = qemu.client()
    version = qemu_version(raw)
    res = run_plain(str(qemu.qmp), input='human-monitor-command command-line="info version"\n')
    assert res.code == 0, res
    assert res.stderr == ""
    [line] = out_lines(res.stdout)
    text = json.loads(line)
    # Had the quotes been kept, HMP would answer "unknown command" instead.
    assert isinstance(text, str) and text.startswith(version), text
    assert text == raw.cmd("human-monitor-command", **{"command-line": "info version"})


def test_raw_json_is_sent_as_written(qemu: Qemu) -> None:
    raw = qemu.client()
    script = (
        '{"execute": "object-add", "arguments": '
        '{"qom-type": "secret", "id": "sec0", "data": "hunter2"}}\n'
        '{"execute": "query-name"}\n'
    )
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert out_lines(res.stdout) == ["{}", '{"name":"testvm"}']
    assert res.stderr == ""
    objects = {o["name"] for o in raw.cmd("qom-list", path="/objects")}
    assert "sec0" in objects


def test_raw_json_keeps_the_users_id_in_json_output(qemu: Qemu) -> None:
    # '!' sends the unknown command anyway, so QEMU's own error reply is what --json shows
    script = '{"execute": "query-name", "id": "mine-1"}\n!{"execute": "nosuch", "id": "mine-2"}\n'
    res = run_plain(str(qemu.qmp), "--json", "--keep-going", input=script)
    assert res.code == 1, res
    assert out_lines(res.stdout) == [
        '{"return":{"name":"testvm"},"id":"mine-1"}',
        '{"id":"mine-2","error":{"class":"CommandNotFound",'
        '"desc":"The command nosuch has not been found"}}',
    ]
    assert res.stderr == ""  # the error is already on stdout, as QEMU sent it


def test_raw_json_with_an_id_that_looks_like_qmpshs_own_is_refused(qemu: Qemu) -> None:
    """``__qmp#`` ids number qmpsh's own commands; the same one line on every transport."""
    script = '{"execute": "query-name", "id": "__qmp#00000"}\n{"execute": "query-name"}\n'
    res = run_plain(str(qemu.qmp), "--keep-going", input=script)
    assert (res.code, out_lines(res.stdout)) == (1, ['{"name":"testvm"}']), res
    assert res.stderr == (
        "line 1: cannot send: the id '__qmp#00000' starts with '__qmp#', which qmpsh "
        "keeps for its own commands; choose another\n"
    )


# --------------------------------------------------------------------------- transactions


def add_node(raw: RawQmp, qemu: Qemu) -> None:
    assert qemu.image is not None
    file = {"driver": "file", "filename": str(qemu.image)}
    raw.cmd("blockdev-add", driver="qcow2", **{"node-name": "n1"}, file=file)


def test_multi_line_transaction_in_a_piped_script(qemu: Qemu) -> None:
    raw = qemu.client()
    add_node(raw, qemu)
    script = (
        "transaction(\n"
        "  block-dirty-bitmap-add node=n1 name=b1\n"
        "  block-dirty-bitmap-add node=n1 name=b2 granularity=131072\n"
        ")\n"
        "query-name\n"
    )
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert out_lines(res.stdout) == ["{}", '{"name":"testvm"}']
    assert res.stderr == ""
    info = node(raw, "n1")
    assert info is not None
    granularity = {b["name"]: b["granularity"] for b in info["dirty-bitmaps"]}
    assert granularity == {"b1": 65536, "b2": 131072}


def test_one_line_transaction_with_dash_c_is_atomic(qemu: Qemu) -> None:
    raw = qemu.client()
    add_node(raw, qemu)
    ok = "transaction( block-dirty-bitmap-add node=n1 name=b3 ; "
    ok += "block-dirty-bitmap-add node=n1 name=b4 )"
    res = run_plain(str(qemu.qmp), "-c", ok)
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ("{}\n", "")
    assert bitmaps(raw, "n1") == {"b3", "b4"}
    # One QMP transaction: the second action fails, so the first is rolled back too.
    bad = "transaction( block-dirty-bitmap-add node=n1 name=b5 ; "
    bad += "block-dirty-bitmap-add node=n1 name=b3 )"
    res = run_plain(str(qemu.qmp), "-c", bad)
    assert res.code == 1, res
    assert res.stdout == ""
    assert res.stderr == "-c 1: transaction: GenericError: Bitmap already exists: b3\n"
    assert bitmaps(raw, "n1") == {"b3", "b4"}


def test_each_failure_names_its_line_and_command_on_stderr_only(qemu: Qemu) -> None:
    """With --keep-going, failures alike are told apart by the line that made them."""
    add_node(raw := qemu.client(), qemu)
    add = "block-dirty-bitmap-add node=n1 name=s1"
    script = f"{add}\n{add}\nquery-name\n{add}\n/wait STOP timeout=0\n"
    res = run_plain(str(qemu.qmp), "--keep-going", input=script)
    assert (res.code, res.stdout) == (1, '{}\n{"name":"testvm"}\n'), res
    assert out_lines(res.stderr) == [
        "line 2: block-dirty-bitmap-add: GenericError: Bitmap already exists: s1",
        "line 4: block-dirty-bitmap-add: GenericError: Bitmap already exists: s1",
        "line 5: /wait STOP timeout=0: no such event within 0 s",
    ]
    res = run_plain(str(qemu.qmp), "-k", "-c", add, "-c", "query-name", "-c", add)
    assert [line.partition(":")[0] for line in out_lines(res.stderr)] == ["-c 1", "-c 3"]
    assert res.stderr.startswith("-c 1: block-dirty-bitmap-add: GenericError: "), res
    res = run_plain(str(qemu.qmp), "--json", "-c", "query-name", "-c", add)
    assert res.stderr == ""  # --json shows QEMU's reply as it came, on stdout
    assert json.loads(out_lines(res.stdout)[1])["error"]["class"] == "GenericError"
    assert bitmaps(raw, "n1") == {"s1"}


def sent(log: Path) -> list[str]:
    """The commands qmpsh sent, in order, from its transcript (``-l``)."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [r["message"]["execute"] for r in records if r["dir"] == "out"]


def test_a_misspelled_command_in_a_script_gets_the_prompts_suggestion(
    qemu: Qemu, tmp_path: Path
) -> None:
    """No schema is fetched for commands without arguments; the names are asked for
    once, when QEMU says one is not found, whether it was sent ahead or not."""
    log = tmp_path / "ok.jsonl"
    res = run_plain(str(qemu.qmp), "-l", str(log), "-c", "query-name")
    assert (res.code, res.stderr, sent(log)) == (0, "", ["query-name"])
    log = tmp_path / "typo.jsonl"
    script = "query-stauts\nquery-stauts\nquery-name\nquery-nme\n"
    res = run_plain(str(qemu.qmp), "-l", str(log), "--keep-going", input=script)
    assert (res.code, res.stdout) == (1, '{"name":"testvm"}\n'), res
    not_found = "CommandNotFound: The command {0} has not been found; did you mean {1!r}?"
    assert out_lines(res.stderr) == [
        "line 1: query-stauts: " + not_found.format("query-stauts", "query-status"),
        "line 2: query-stauts: " + not_found.format("query-stauts", "query-status"),
        "line 4: query-nme: " + not_found.format("query-nme", "query-name"),
    ]
    # Lines 1-3 went ahead together; the names were asked once, after their replies.
    ahead = ["query-stauts", "query-stauts", "query-name"]
    assert sent(log) == [*ahead, "query-commands", "query-nme"]


# --------------------------------------------------------------------------- HMP


def test_hmp_one_liner_prints_text_without_carriage_returns(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(str(qemu.qmp), input="/hmp info status\n")
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ("VM status: running\n", "")
    raw.cmd("stop")
    res = run_plain(str(qemu.qmp), input="/hmp info version\n/hmp info status\n")
    assert res.code == 0, res
    assert "\r" not in res.stdout
    assert out_lines(res.stdout)[1:] == ["VM status: paused"]
    assert out_lines(res.stdout)[0].startswith(qemu_version(raw))


def test_hmp_and_qmp_switch_the_mode_of_later_lines(qemu: Qemu) -> None:
    # HMP "stop" and "cont" print nothing where QMP prints {}; HMP answers "query-name"
    # with "unknown command" text: the output shows which mode ran each line.
    script = "/hmp\ninfo status\nstop\ninfo status\n/qmp\nquery-name\ncont\n"
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert res.stderr == ""  # mode-switch notices are not results
    assert out_lines(res.stdout) == [
        "VM status: running",
        "VM status: paused",
        '{"name":"testvm"}',
        "{}",
    ]
    assert running(qemu.client())


def test_dash_h_starts_in_hmp_mode(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), "-H", input="info status\n/qmp\nquery-name\n")
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ('VM status: running\n{"name":"testvm"}\n', "")
    res = run_plain(str(qemu.qmp), input="info status\n")  # without -H: not a QMP line
    assert res.code == 1, res
    assert res.stderr.startswith("line 1: expected key=value"), res


# --------------------------------------------------------------------------- failures


def test_first_failing_command_stops_the_script(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(str(qemu.qmp), input="query-name\nnosuch-command\nstop\n")
    assert res.code == 1, res
    assert res.stdout == '{"name":"testvm"}\n'
    assert res.stderr == (
        "line 2: nosuch-command: CommandNotFound: The command nosuch-command has not been found;"
        " did you mean 'query-commands'?\n"
    )
    assert running(raw), "the line after the failure ran"


def test_parse_error_stops_the_script_and_names_the_line(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(str(qemu.qmp), input='query-name\n\nquery-status x="oops\nstop\n')
    assert res.code == 1, res
    assert res.stdout == '{"name":"testvm"}\n'
    [error] = out_lines(res.stderr)
    assert error.startswith("line 3: unterminated"), error
    assert running(raw), "the line after the parse error ran"


def test_keep_going_runs_the_rest_and_still_fails(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(
        str(qemu.qmp), "--keep-going", input='nosuch-command\nquery-status x="oops\nstop\n'
    )
    assert res.code == 1, res
    assert res.stdout == "{}\n"
    [missing, unparsed] = out_lines(res.stderr)
    assert missing == (
        "line 1: nosuch-command: CommandNotFound: The command nosuch-command has not been found;"
        " did you mean 'query-commands'?"
    )
    assert unparsed.startswith("line 2: unterminated"), unparsed
    assert not running(raw), "--keep-going did not run the last line"


def test_comments_and_blank_lines_are_skipped_and_success_exits_0(qemu: Qemu) -> None:
    raw = qemu.client()
    script = "# pause and resume\n\n   \nstop\n   # still a comment\n\t\ncont\n"
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ("{}\n{}\n", "")
    assert running(raw)
    assert [e["event"] for e in raw.events] == ["STOP", "RESUME"]


def test_dash_c_runs_in_order(qemu: Qemu) -> None:
    res = run_plain(
        str(qemu.qmp), "-c", "stop", "-c", "query-status", "-c", "cont", "-c", "query-status"
    )
    assert res.code == 0, res
    assert res.stderr == ""
    replies = [json.loads(line) for line in out_lines(res.stdout)]
    assert len(replies) == 4
    assert replies[0] == replies[2] == {}
    assert (replies[1]["status"], replies[1]["running"]) == ("paused", False)
    assert (replies[3]["status"], replies[3]["running"]) == ("running", True)


def test_dash_c_failure_exits_1_and_stops(qemu: Qemu) -> None:
    raw = qemu.client()
    res = run_plain(str(qemu.qmp), "-c", "query-name", "-c", "nosuch", "-c", "stop")
    assert res.code == 1, res
    assert res.stdout == '{"name":"testvm"}\n'
    assert res.stderr == "-c 2: nosuch: CommandNotFound: The command nosuch has not been found\n"
    res = run_plain(str(qemu.qmp), "-c", 'query-status x="oops', "-c", "stop")
    assert res.code == 1, res
    assert res.stdout == ""
    [error] = out_lines(res.stderr)
    assert error.startswith("-c 1: unterminated"), error
    assert running(raw)


def test_stdout_holds_only_results(qemu: Qemu) -> None:
    script = "query-name\nnosuch\n/hmp\ninfo status\n/qmp\nquery-status\n"
    res = run_plain(str(qemu.qmp), "--keep-going", input=script)
    assert res.code == 1, res
    stdout = out_lines(res.stdout)
    assert stdout[1] == "VM status: running"
    assert [json.loads(stdout[0]), json.loads(stdout[2])["status"]] == [
        {"name": "testvm"},
        "running",
    ]
    assert len(stdout) == 3
    assert res.stderr == "line 2: nosuch: CommandNotFound: The command nosuch has not been found\n"


# --------------------------------------------------------------------------- --json and -v


def test_json_prints_every_message_in_socket_order(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), "--json", input="stop\ncont\nquery-status\n")
    assert res.code == 0, res
    assert res.stderr == ""
    messages = [json.loads(line) for line in out_lines(res.stdout)]
    for message in messages:
        assert compact(message) in res.stdout.splitlines()  # compact, as QEMU sent it
    replies = [i for i, m in enumerate(messages) if "return" in m]
    events = {m["event"]: i for i, m in enumerate(messages) if "event" in m}
    assert len(replies) == 3 and len(messages) == 5, messages
    assert sorted(events) == ["RESUME", "STOP"]
    assert all("timestamp" in messages[i] for i in events.values())
    assert len({messages[i]["id"] for i in replies}) == 3
    stop_reply, cont_reply, status_reply = replies
    assert events["STOP"] < cont_reply
    assert stop_reply < events["RESUME"] < status_reply
    assert messages[status_reply]["return"]["running"] is True


def test_verbose_shows_what_is_sent_on_stderr(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), "-v", "--json", "-c", "qom-get path=/machine property=type")
    assert res.code == 0, res
    [sent] = [json.loads(line) for line in out_lines(res.stderr)]
    [received] = [json.loads(line) for line in out_lines(res.stdout)]
    assert sent["execute"] == "qom-get"
    assert sent["arguments"] == {"path": "/machine", "property": "type"}
    assert received == {"return": "none-machine", "id": sent["id"]}
    res = run_plain(str(qemu.qmp), "-v", input='{"execute": "query-name", "id": "x"}\n')
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == (
        '{"name":"testvm"}\n',
        '{"execute":"query-name","id":"x"}\n',
    )


# --------------------------------------------------------------------------- QEMU going away


def test_quit_then_another_command_exits_4(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), input="quit\nquery-status\n")
    assert res.code == 4, res
    assert res.stdout == "{}\n"
    [line] = out_lines(res.stderr)
    assert line.startswith("qmpsh: ") and "connection closed" in line, line
    assert qemu.process.wait(10) == 0


def test_quit_as_the_last_command_exits_0(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), input="query-name\nquit\n# bye\n")
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ('{"name":"testvm"}\n{}\n', "")
    assert qemu.process.wait(10) == 0


@pytest.mark.parametrize("then", ["waits", "sends-more"])
def test_qemu_killed_while_the_script_waits_exits_4(qemu: Qemu, then: str) -> None:
    with PipedQmpsh(str(qemu.qmp)) as piped:
        piped.send("query-name")
        assert piped.read_line() == '{"name":"testvm"}\n'
        qemu.process.kill()
        qemu.process.wait(10)
        if then == "sends-more":
            # qmpsh may have noticed and left already: then the pipe is closed, as it should be.
            with contextlib.suppress(BrokenPipeError):
                piped.send("query-status")
        # stdin stays open: qmpsh must notice by itself, not wait for more lines
        res = piped.finish(10)
    assert res.code == 4, res
    assert res.stdout == ""
    [line] = out_lines(res.stderr)
    assert line.startswith("qmpsh: ") and "connection closed" in line, line


# --------------------------------------------------------------------------- --launch


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    """A private TMPDIR for qmpsh, so what --launch leaves behind is its alone."""
    root = short_tempdir()
    yield root
    for pid in processes_mentioning(root):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)


def launch_env(root: Path, **extra: str) -> dict[str, str]:
    return {"TMPDIR": str(root), **extra}


def assert_nothing_left(root: Path) -> None:
    assert processes_mentioning(root) == []
    assert list(root.iterdir()) == []


def test_launch_runs_commands_on_a_vm_with_the_scratch_disk(tmp_root: Path) -> None:
    res = run_plain("--launch", "-c", "query-status", "-c", "query-block", env=launch_env(tmp_root))
    assert res.code == 0, res
    assert res.stderr == ""
    status, block = (json.loads(line) for line in out_lines(res.stdout))
    assert (status["status"], status["running"]) == ("running", True)
    [disk] = block
    assert disk["qdev"].startswith("/machine/peripheral/disk0/")
    assert disk["inserted"]["node-name"] == "scratch"
    assert disk["inserted"]["drv"] == "qcow2"
    scratch = Path(disk["inserted"]["file"])
    assert scratch.name == "scratch.qcow2"
    assert scratch.parent.parent == tmp_root and scratch.parent.name.startswith("qmpsh-")
    assert_nothing_left(tmp_root)


@pytest.mark.parametrize("end", ["eof", "sigint", "sigterm"])
def test_launch_cleans_up_the_qemu_and_files_it_made(tmp_root: Path, end: str) -> None:
    with PipedQmpsh("--launch", env=launch_env(tmp_root)) as piped:
        piped.send("qom-get path=/machine property=type")
        assert re.fullmatch(r'"pc-q35-[0-9.]+-machine"\n', piped.read_line())
        # While qmpsh runs, its QEMU and private directory exist (the checks can see them).
        [pid] = processes_mentioning(tmp_root)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"q35" in argv and b"tcg" in argv
        [directory] = tmp_root.iterdir()
        assert directory.name.startswith("qmpsh-")
        assert {"qmp.sock", "scratch.qcow2"} <= {p.name for p in directory.iterdir()}
        if end == "eof":
            piped.close_stdin()
        else:
            piped.process.send_signal(signal.SIGINT if end == "sigint" else signal.SIGTERM)
        res = piped.finish()
    assert res.code == (0 if end == "eof" else 130), res
    said = {
        "eof": "",
        "sigint": "qmpsh: interrupted\n",
        "sigterm": "qmpsh: interrupted (SIGTERM)\n",
    }
    assert (res.stdout, res.stderr) == ("", said[end])
    assert_nothing_left(tmp_root)


def test_launch_banner_says_the_vm_is_throwaway_and_names_its_scratch_disk(
    tmp_root: Path,
) -> None:
    """At the prompt (on a real pty), the banner says what --launch gave the person."""
    env = launch_env(tmp_root, XDG_STATE_HOME=str(tmp_root / "state"))
    term = PtyProcess.qmpsh("--launch", env=env)
    try:
        term.expect("QMP>")
        [said] = [line for line in term.text().splitlines() if "throwaway" in line]
        assert said == (
            "throwaway QEMU (stopped on exit); scratch disk disk0, node 'scratch': try  query-block"
        )
        assert term.finish() == 0
    finally:
        term.close()
    shutil.rmtree(tmp_root / "state")
    assert_nothing_left(tmp_root)


def test_launch_cleans_up_after_a_failing_command(tmp_root: Path) -> None:
    res = run_plain("--launch", "-c", "query-name", "-c", "nosuch", env=launch_env(tmp_root))
    assert res.code == 1, res
    assert res.stdout == "{}\n"
    assert res.stderr == "-c 2: nosuch: CommandNotFound: The command nosuch has not been found\n"
    assert_nothing_left(tmp_root)


def test_launch_with_custom_qemu_args(tmp_root: Path) -> None:
    res = run_plain(
        "--launch",
        "-c",
        "qom-get path=/machine property=type",
        "-c",
        "query-block",
        "--",
        "-machine",
        "none",
        env=launch_env(tmp_root),
    )
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ('"none-machine"\n[]\n', "")
    assert_nothing_left(tmp_root)


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("chosen", ["beside", "named", "variable"])
def test_launch_makes_the_scratch_disk_with_the_qemu_img_of_its_qemu(
    tmp_root: Path, tmp_path: Path, chosen: str
) -> None:
    """QMPSH_QEMU is a wrapper (as for a QEMU in a chroot): the scratch disk is made by
    the qemu-img beside it (qemu-img-SUFFIX beside qemu-SUFFIX, or plain qemu-img) or
    by QMPSH_QEMU_IMG, never by PATH's, which here fails."""
    real_qemu, real_img = shutil.which(QEMU), shutil.which(QEMU_IMG)
    assert real_qemu and real_img
    wrappers, on_path = tmp_path / "wrappers", tmp_path / "path"
    wrappers.mkdir()
    on_path.mkdir()
    executable(on_path / "qemu-img", "#!/bin/sh\nexit 1\n")
    used = tmp_path / "used"
    qemu = executable(wrappers / "qemu-probe", f'#!/bin/sh\nexec {real_qemu} "$@"\n')
    img_name = {"beside": "qemu-img", "named": "qemu-img-probe", "variable": "my-img"}[chosen]
    img = executable(wrappers / img_name, f'#!/bin/sh\ntouch {used}\nexec {real_img} "$@"\n')
    path = f"{on_path}:{os.environ['PATH']}"
    named = str(img) if chosen == "variable" else ""  # empty: unset
    env = launch_env(tmp_root, QMPSH_QEMU=str(qemu), QMPSH_QEMU_IMG=named, PATH=path)
    res = run_plain("--launch", "-c", "query-block", env=env)
    assert res.code == 0, res
    [disk] = json.loads(res.stdout)
    assert disk["inserted"]["node-name"] == "scratch"
    assert used.exists()
    assert_nothing_left(tmp_root)


#: A "QEMU" that binds its QMP socket half a second before it listens (QEMU's own gap
#: between the two, stretched so that a client connecting on the file's existence is
#: refused every time), then answers every command with an empty return.
BIND_THEN_LISTEN = """#!{python}
import json, socket, sys, time
path = next(a for a in sys.argv if a.startswith("unix:"))[5:].split(",")[0]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
time.sleep(0.5)
server.listen()
conn, _ = server.accept()
conn.sendall(b'{{"QMP": {{"version": {{"qemu": {{"major": 9, "minor": 2, "micro": 0}}, '
             b'"package": ""}}, "capabilities": []}}}}\\n')
text, decoder = "", json.JSONDecoder()
while data := conn.recv(4096):  # a stream of JSON values, as QEMU reads it: no newlines
    text = (text + data.decode()).lstrip()
    while text:
        try:
            request, end = decoder.raw_decode(text)
        except ValueError:
            break
        text = text[end:].lstrip()
        reply = {{"return": {{}}, "id": request.get("id")}}
        conn.sendall(json.dumps(reply).encode() + b"\\n")
"""


def test_launch_connects_once_qemu_listens_not_once_its_socket_exists(
    tmp_root: Path, tmp_path: Path
) -> None:
    qemu = executable(tmp_path / "qemu-slow-listen", BIND_THEN_LISTEN.format(python=sys.executable))
    env = launch_env(tmp_root, QMPSH_QEMU=str(qemu))
    res = run_plain("--launch", "-c", "query-name", "--", "-machine", "none", env=env)
    assert (res.code, res.stdout, res.stderr) == (0, "{}\n", ""), res
    assert_nothing_left(tmp_root)


def test_launch_without_a_qemu_binary_exits_3(tmp_root: Path) -> None:
    res = run_plain(
        "--launch", "-c", "query-status", env=launch_env(tmp_root, QMPSH_QEMU="/nonexistent")
    )
    assert res.code == 3, res
    assert res.stdout == ""
    [line] = out_lines(res.stderr)
    assert line.startswith("qmpsh: /nonexistent: "), line
    assert_nothing_left(tmp_root)


def test_launch_with_bad_qemu_args_shows_qemus_complaint(tmp_root: Path) -> None:
    res = run_plain(
        "--launch", "-c", "query-status", "--", "-bogus-option", env=launch_env(tmp_root)
    )
    assert res.code == 3, res
    assert res.stdout == ""
    [line] = out_lines(res.stderr)
    assert line.startswith("qmpsh: ") and line.endswith("-bogus-option: invalid option"), line
    assert_nothing_left(tmp_root)


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="no-target"),
        pytest.param(("--launch", "{sock}"), id="target-and-launch"),
        pytest.param(("{sock}", "--", "-machine", "none"), id="qemu-args-without-launch"),
        pytest.param(("{sock}", "--no-such-option"), id="unknown-option"),
        pytest.param(("{sock}", "--timeout", "soon"), id="bad-timeout"),
    ],
)
def test_usage_errors_exit_2(qemu: Qemu, tmp_root: Path, args: tuple[str, ...]) -> None:
    argv = [a.format(sock=qemu.qmp) for a in args]
    res = run_plain(*argv, "-c", "stop", env=launch_env(tmp_root))
    assert res.code == 2, res
    assert res.stdout == ""
    assert res.stderr.startswith(("qmpsh: ", "usage: qmpsh")), res.stderr
    assert running(qemu.client()), "a usage error still ran the command"
    assert_nothing_left(tmp_root)


def test_version_exits_0() -> None:
    res = run_plain("--version")
    assert res.code == 0, res
    assert res.stderr == ""
    assert re.fullmatch(  # what a bug report needs: qmpsh, qemu.qmp and Python
        rf"qmpsh {re.escape(qmpsh.__version__)} \(qemu\.qmp \S+, Python 3\.\d+\.\d+.*\)\n",
        res.stdout,
    ), res.stdout


# --------------------------------------------------------------------------- HMP errors


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("nosuch", "-c 1: unknown command: 'nosuch'"),
        ("device_del nope", "-c 1: Error: Device 'nope' not found"),
        ("stop now", '-c 1: stop|s: extraneous characters at the end of line\nTry "help stop"'),
    ],
    ids=["unknown", "runtime-error", "bad-argument"],
)
def test_a_failing_hmp_line_fails_the_script(qemu: Qemu, line: str, said: str) -> None:
    """HMP answers errors as text; QEMU's own error forms make the line fail (exit 1)."""
    res = run_plain(str(qemu.qmp), "-H", "-c", line, "-c", "info status")
    assert res.code == 1, res
    assert res.stdout == ""  # stopped there: "info status" did not run
    assert res.stderr.startswith(said), res.stderr


def test_keep_going_past_a_failing_hmp_line_and_plain_text_is_not_an_error(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), "-k", "-c", "/hmp nosuch", "-c", "/hmp info status")
    assert (res.code, res.stdout, res.stderr) == (
        1,
        "VM status: running\n",
        "-c 1: unknown command: 'nosuch'\n",
    )
    res = run_plain(str(qemu.qmp), "-H", "-c", "info version", "-c", "help stop")
    assert res.code == 0, res
    assert "stop" in res.stdout and res.stderr == ""
