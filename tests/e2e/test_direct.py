"""Scripts to a QMP socket run without an event loop (the blocking transport), against real QEMU.

The rest of the suite runs scripts through the real binary, so it already holds
this path to every rule of scripts; these tests pin what is its own: that asyncio
and qemu.qmp are really not imported by any script to a socket (built-ins and
transcripts included), and that a script means the same over qemu.qmp (the same
runner on asyncio). What each transport does on its own, broken servers included,
is ``test_transport_contract``'s.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import (
    json_lines,
    lines,
    no_traceback,
    probe,
    run_python,
    run_qmpsh,
)

pytestmark = pytest.mark.every_qemu


@pytest.mark.qemu
def test_a_plain_script_imports_neither_asyncio_nor_qemu_qmp(qemu: Qemu) -> None:
    done = probe(str(qemu.qmp), input="query-status\nqom-get path=/machine property=type\n")
    assert done.returncode == 0, done
    assert json_lines(done.stdout) == [qemu.client().cmd("query-status"), "none-machine"]
    assert done.stderr == "imported:\n"


#: Scripts to a socket that need more than commands: none of them needs asyncio.
NEEDS_MORE = {
    "wait": ([], "stop\n/wait STOP timeout=5\ncont\n"),
    "events": (["--events"], "stop\n/events STOP\ncont\n"),
    "hmp": ([], "/hmp info status\n/hmp\ninfo name\n/qmp\nquery-name\n"),
    "help": ([], "/help query-name\n"),
    "fd": ([], "/fd /dev/null getfd fdname=f0\nclosefd fdname=f0\n"),
    "transcript": (["-l", "{tmp}/log.jsonl"], "query-name\nqom-get path=/machine property=type\n"),
}


@pytest.mark.qemu
@pytest.mark.parametrize("name", list(NEEDS_MORE))
def test_built_ins_and_transcripts_need_no_event_loop(
    name: str, qemu: Qemu, tmp_path: Path
) -> None:
    options, script = NEEDS_MORE[name]
    done = probe(str(qemu.qmp), *(o.format(tmp=tmp_path) for o in options), input=script)
    assert done.returncode == 0, done
    assert done.stdout
    assert done.stderr == "imported:\n"


@pytest.mark.qemu
def test_command_ids_are_numbered_as_qemu_qmp_numbers_them(qemu: Qemu) -> None:
    done = run_qmpsh(
        str(qemu.qmp), "--json", *("-c", "stop", "-c", "/wait STOP timeout=5"),
        *("-c", "query-name", "-c", "cont"),
    )  # fmt: skip
    assert done.returncode == 0, done
    replies = [m for m in json_lines(done.stdout) if "event" not in m]
    assert [m["id"] for m in replies] == ["__qmp#00000", "__qmp#00001", "__qmp#00002"]


#: The same script runner on asyncio over qemu.qmp, for a script that would run
#: without an event loop: what the prompt and --launch use, entered directly.
ON_ASYNCIO = """
import asyncio, sys
from qmpsh.cli import main as cli
from qmpsh.cli import run as runner
args, qemu_args = cli.parse_args(sys.argv[1:])
sys.exit(asyncio.run(runner._on_loop(args, qemu_args)))
"""


def run_on_asyncio(*args: str, input: str) -> subprocess.CompletedProcess[str]:
    return run_python(ON_ASYNCIO, *args, input=input)


@pytest.mark.qemu
def test_out_of_band_is_negotiated_as_qemu_qmp_does(qemu: Qemu) -> None:
    """Both transports enable "oob" when QEMU offers it, so exec-oob reaches the command
    (migrate-pause runs out of band; it refuses here for want of a postcopy)."""
    line = '{"exec-oob": "migrate-pause", "id": "p"}\n'
    refusal = qemu.client().call("migrate-pause")["error"]["desc"]  # QEMU's wording varies
    for done in (run_qmpsh(str(qemu.qmp), input=line), run_on_asyncio(str(qemu.qmp), input=line)):
        assert done.returncode == 1
        assert done.stderr == f"line 1: migrate-pause: GenericError: {refusal}\n"


def script_with_wait_and_many_lines(count: int) -> str:
    """A /wait early, then more than one read (64 KiB) of queries: lines already read,
    half a line, and the rest read after the wait."""
    return "stop\n/wait STOP timeout=5\n" + "query-status\n" * count + "cont\nquery-name\n"


def check_many(done: subprocess.CompletedProcess[str], count: int) -> None:
    assert done.returncode == 0, done
    no_traceback(done.stderr)
    shown = json_lines(done.stdout)
    assert shown[0] == {}
    assert shown[1]["event"] == "STOP"
    statuses = shown[2 : 2 + count]
    assert len(statuses) == count
    assert all((s["status"], s["running"]) == ("paused", False) for s in statuses), statuses[0]
    assert shown[2 + count :] == [{}, {"name": "testvm"}]


@pytest.mark.qemu
def test_a_wait_in_a_long_script_file(qemu: Qemu, tmp_path: Path) -> None:
    count = 8000  # 104 kB of lines: the first read ends in the middle of one
    script = tmp_path / "long.qmp"
    script.write_text(script_with_wait_and_many_lines(count))
    check_many(run_qmpsh(str(qemu.qmp), str(script)), count)


@pytest.mark.qemu
def test_a_wait_in_a_long_script_on_a_pipe(qemu: Qemu) -> None:
    count = 8000
    check_many(run_qmpsh(str(qemu.qmp), input=script_with_wait_and_many_lines(count)), count)


@pytest.mark.qemu
def test_a_wait_with_half_a_line_still_to_come(qemu: Qemu) -> None:
    """The writer is slow: the line after the /wait is half written when the wait
    ends, and its end comes later."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qmpsh", str(qemu.qmp)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(b"stop\n/wait STOP timeout=5\nquery-st")
    process.stdin.flush()
    done_before = [process.stdout.readline(), process.stdout.readline()]  # the wait is over
    process.stdin.write(b"atus\ncont\n")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    shown = json_lines(b"".join(done_before).decode() + out.decode())
    assert [shown[0], shown[1]["event"], shown[2]["status"], shown[3]] == [{}, "STOP", "paused", {}]


@pytest.mark.qemu
def test_events_before_a_wait_are_found_by_it(qemu: Qemu) -> None:
    """An event read with a reply is shown as it came, and is in the log /wait looks at."""
    done = run_qmpsh(str(qemu.qmp), "--events", input="stop\n/wait STOP timeout=1\ncont\n")
    assert done.returncode == 0, done
    shown = json_lines(done.stdout)
    names = [m.get("event", "reply") for m in shown]
    assert names == ["STOP", "reply", "RESUME", "reply"]  # /wait does not print STOP again


def waiting_after_one_command(qemu: Qemu) -> subprocess.Popen[bytes]:
    """qmpsh with a script on a pipe: one command run, the pipe still open."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qmpsh", str(qemu.qmp)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"query-name\n")
    process.stdin.flush()
    return process


@pytest.mark.qemu
def test_sigterm_while_a_plain_script_waits_for_its_next_line(qemu: Qemu) -> None:
    process = waiting_after_one_command(qemu)
    assert process.stdout is not None
    assert json.loads(process.stdout.readline()) == {"name": "testvm"}
    process.send_signal(signal.SIGTERM)
    process.wait(30)  # before its stdin closes: the end of the script is no news
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.decode() == "qmpsh: interrupted (SIGTERM)\n"


@pytest.mark.qemu
def test_qemu_gone_while_a_plain_script_waits_is_exit_4(qemu: Qemu) -> None:
    process = waiting_after_one_command(qemu)
    assert process.stdout is not None
    assert lines(process.stdout.readline().decode()) == ['{"name":"testvm"}']
    qemu.process.kill()
    qemu.process.wait(30)
    process.wait(30)  # before its stdin closes, which would end the script first (exit 0)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 4
    assert err.decode() == f"qmpsh: {qemu.qmp}: connection closed by QEMU\n"


# -- the same script, the same output, whichever transport carries it -----------------------

#: Scripts, each run over the blocking transport and over qemu.qmp on asyncio; the
#: options before the script.
SAME_EITHER_WAY = {
    "queries": ([], "query-status\nquery-name\n\n# a comment\nquery-kvm\n"),
    "an error stops": ([], "query-status\nno-such-command\nquery-name\n"),
    "keep going": (["--keep-going"], "no-such-command\nquery-name\nquery-kvm x=1\nquery-name\n"),
    "bad input": ([], "query-status\nqom-get path=/machine property=\n"),
    "schema checks": ([], "qom-get path=/machine\nquery-name\n"),
    "typed by the schema": ([], "qom-get path=/machine property=type\n"),
    "raw json": ([], '{"execute": "query-name", "id": "mine"}\n{"execute": "query-status"}\n'),
    "hmp": ([], "/hmp info status\n"),
    "wait": (["--events"], "stop\n/wait STOP timeout=5\nquery-status\ncont\n/wait RESUME\n"),
    "hmp mode": (["--hmp"], "info status\ninfo name\nnot-a-command\n"),
    "transaction": (
        [],
        "transaction(\n  block-dirty-bitmap-add node=nowhere name=b0\n)\nquery-name\n",
    ),
    "unclosed transaction": ([], "query-name\ntransaction(\n"),
    "stop and events": (["--events"], "stop\nquery-status\ncont\nquery-status\n"),
    "json": (["--json"], "query-name\nstop\ncont\nno-such-command\n"),
    "verbose": (["-v"], "query-name\nquery-status x=1\n"),
    "pretty": (["--pretty"], "query-status\nquery-version\n"),
    "queries ahead then a failure": ([], "query-name\n" * 40 + "query-nothing\n" + "query-name\n"),
    "size suffix": ([], "qom-list-properties typename=memory-backend-ram\n"),
}

STAMP = re.compile(r'"timestamp": ?\{"seconds": ?\d+, ?"microseconds": ?\d+\}')


@pytest.mark.qemu
@pytest.mark.parametrize("name", list(SAME_EITHER_WAY))
def test_same_output_and_status_either_way(name: str, qemu: Qemu) -> None:
    options, script = SAME_EITHER_WAY[name]
    direct_run = run_qmpsh(str(qemu.qmp), *options, input=script)
    asyncio_run = run_on_asyncio(str(qemu.qmp), *options, input=script)
    no_traceback(direct_run.stderr, asyncio_run.stderr)
    assert direct_run.returncode in (0, 1), direct_run  # it ran: connected, not lost
    assert direct_run.stdout or direct_run.stderr
    assert (direct_run.returncode, STAMP.sub("T", direct_run.stdout), direct_run.stderr) == (
        asyncio_run.returncode,
        STAMP.sub("T", asyncio_run.stdout),
        asyncio_run.stderr,
    )
