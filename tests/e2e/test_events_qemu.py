"""Events end to end against real QEMU (TCG): ``/wait`` driving a block job, ``--events``
in socket order around replies, and the REPL's ``/events`` log with filters and mutes.

The block job works on a real qcow2 chain made with qemu-img and qemu-io; its
effect is read back from the image files with qemu-io, independently of qmpsh.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from qmpsh.errors import ConnectionLost, ExitStatus
from qmpsh.render.output import Relabel
from qmpsh.render.renderer import Renderer
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import PipedQmpsh, out_lines, run_plain
from tests.support.rawqmp import RawQmp
from tests.support.repldriver import CTRL_D, ENTER, Repl, nonblank_lines, running_repl

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]

MiB = 1024 * 1024


# --------------------------------------------------------------------------- a qcow2 chain


@dataclass(frozen=True)
class Chain:
    """base <- mid <- top: 0x11 at 0 in base, 0x22 at 1 MiB in mid, 0x33 at 2 MiB in top."""

    base: Path
    mid: Path
    top: Path


def tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def make_chain(directory: Path) -> Chain:
    chain = Chain(directory / "base.qcow2", directory / "mid.qcow2", directory / "top.qcow2")
    tool("qemu-img", "create", "-q", "-f", "qcow2", str(chain.base), "4M").check_returncode()
    for image, backing in ((chain.mid, chain.base), (chain.top, chain.mid)):
        made = tool(
            "qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", "qcow2",
            str(image),
        )  # fmt: skip
        made.check_returncode()
    for image, pattern, offset in (
        (chain.base, 0x11, 0),
        (chain.mid, 0x22, 1),
        (chain.top, 0x33, 2),
    ):
        wrote = tool("qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} {offset}M 1M", str(image))
        assert wrote.returncode == 0 and "wrote 1048576/1048576" in wrote.stdout, wrote
    return chain


def holds(image: Path, pattern: int, offset: int) -> bool:
    """Whether ``image`` alone (its backing file ignored) has ``pattern`` in 1 MiB at
    ``offset`` MiB. Read-only and shared, so a running QEMU may hold the image."""
    alone = {"driver": "qcow2", "backing": None, "file": {"driver": "file", "filename": str(image)}}
    read = f"read -P {pattern} {offset}M 1M"
    done = tool("qemu-io", "-r", "-U", "-c", read, "json:" + json.dumps(alone))
    assert "read 1048576/1048576" in done.stdout, done
    return done.returncode == 0 and "verification failed" not in done.stdout


def add_chain(raw: RawQmp, chain: Chain) -> None:
    def node(name: str, path: Path, backing: dict[str, Any] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "driver": "qcow2",
            "node-name": name,
            "file": {"driver": "file", "filename": str(path)},
        }
        if backing is not None:
            spec["backing"] = backing
        return spec

    tree = node("top", chain.top, node("mid", chain.mid, node("base", chain.base, None)))
    raw.cmd("blockdev-add", **tree)


def event(line: str, name: str) -> dict[str, Any]:
    message = json.loads(line)
    assert isinstance(message, dict) and message.get("event") == name, line
    assert set(message["timestamp"]) == {"seconds", "microseconds"}
    return message


def jobs(raw: RawQmp) -> dict[str, str]:
    return {job["id"]: job["status"] for job in raw.cmd("query-jobs")}


# --------------------------------------------------------------------------- /wait in scripts


#: job-complete, not block-job-complete: QEMU 11.1 deprecates that, and qmpsh warns of it.
COMMIT = """\
# commit the active layer (and mid) into base, then pivot
block-commit job-id=j0 device=top top-node=top base-node=base
/wait BLOCK_JOB_READY timeout=30 device=j0
job-complete id=j0
/wait BLOCK_JOB_COMPLETED timeout=30 device=j0
query-block-jobs
"""


def test_block_commit_driven_by_a_script_file_with_wait(qemu: Qemu) -> None:
    chain = make_chain(qemu.directory)
    raw = qemu.client()
    add_chain(raw, chain)
    assert not holds(chain.base, 0x22, 1) and not holds(chain.base, 0x33, 2)
    script = qemu.directory / "commit.qmp"
    script.write_text(COMMIT)
    res = run_plain(str(qemu.qmp), str(script))
    assert res.code == 0, res
    assert res.stderr == ""
    started, ready, completing, completed, left = out_lines(res.stdout)
    assert started == completing == "{}"
    ready_data = event(ready, "BLOCK_JOB_READY")["data"]
    assert ready_data["device"] == "j0" and ready_data["type"] == "commit"
    assert ready_data["offset"] == ready_data["len"] > 0  # READY: everything copied once
    done = event(completed, "BLOCK_JOB_COMPLETED")["data"]
    assert done["device"] == "j0" and done["type"] == "commit" and "error" not in done
    assert left == "[]"
    assert jobs(raw) == {}
    raw.cmd("blockdev-del", **{"node-name": "top"})  # closed: the files are complete on disk
    # The job's effect, read from the files: mid's and top's data are now in base itself.
    assert holds(chain.base, 0x11, 0) and holds(chain.base, 0x22, 1) and holds(chain.base, 0x33, 2)


def test_wait_whose_condition_never_matches_times_out_with_one_line(qemu: Qemu) -> None:
    chain = make_chain(qemu.directory)
    raw = qemu.client()
    add_chain(raw, chain)
    script = (
        "block-commit job-id=j0 device=top top-node=top base-node=base\n"
        "/wait BLOCK_JOB_READY device=j9 timeout=1\n"
        "job-complete id=j0\n"
    )
    started = time.monotonic()
    res = run_plain(str(qemu.qmp), input=script)
    elapsed = time.monotonic() - started
    assert res.code == 1, res
    assert res.stdout == "{}\n"
    assert (
        res.stderr
        == "line 2: /wait BLOCK_JOB_READY device=j9 timeout=1: no such event within 1 s\n"
    )
    assert 1 <= elapsed < 10, elapsed
    # A READY for j0 did come (QEMU's own record), only the condition did not hold; and the
    # script stopped: job-complete never ran, so j0 is still there, ready.
    assert jobs(raw) == {"j0": "ready"}


def test_wait_finds_an_event_that_came_before_it_was_asked_for(qemu: Qemu) -> None:
    # QEMU sends STOP before its reply to stop: it is in before /wait is even read.
    res = run_plain(str(qemu.qmp), "-c", "stop", "-c", "/wait STOP timeout=5", "-c", "cont")
    assert res.code == 0, res
    assert res.stderr == ""
    first, stop, second = out_lines(res.stdout)
    assert (first, second) == ("{}", "{}")
    assert "data" not in event(stop, "STOP")
    assert qemu.client().cmd("query-status")["running"] is True


def test_wait_under_json_prints_its_event_once(qemu: Qemu) -> None:
    """--json prints every message as it arrives; /wait's event is not printed again."""
    res = run_plain(str(qemu.qmp), "--json", "-c", "stop", "-c", "/wait STOP timeout=5")
    assert res.code == 0, res
    got = [json.loads(line) for line in out_lines(res.stdout)]
    assert [m.get("event", "reply") for m in got] == ["STOP", "reply"]


def test_wait_with_timeout_0_takes_an_event_already_there(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), "-c", "stop", "-c", "/wait STOP timeout=0", "-c", "cont")
    assert res.code == 0, res
    assert len(out_lines(res.stdout)) == 3 and res.stderr == ""
    res = run_plain(str(qemu.qmp), "-c", "query-name", "-c", "/wait STOP timeout=0")
    assert res.code == 1, res
    assert res.stderr == "-c 2: /wait STOP timeout=0: no such event within 0 s\n"


def test_two_waits_for_one_name_need_two_events(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), input="stop\n/wait STOP timeout=5\n/wait STOP timeout=1\ncont\n")
    assert res.code == 1, res
    assert len(out_lines(res.stdout)) == 2  # {} and the one STOP, printed once
    assert res.stderr == "line 3: /wait STOP timeout=1: no such event within 1 s\n"
    # Several events of one name: each /wait takes the next, in socket order.
    chain = make_chain(qemu.directory)
    add_chain(qemu.client(), chain)
    assert not holds(chain.top, 0x22, 1)
    script = (
        "block-stream job-id=s0 device=top base-node=base\n"
        + "/wait JOB_STATUS_CHANGE id=s0 timeout=10\n" * 3
        + "/wait BLOCK_JOB_COMPLETED timeout=10\n"
    )
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    reply, *changes, completed = out_lines(res.stdout)
    assert reply == "{}"
    statuses = [event(line, "JOB_STATUS_CHANGE")["data"]["status"] for line in changes]
    assert statuses == ["created", "running", "waiting"]
    assert event(completed, "BLOCK_JOB_COMPLETED")["data"]["type"] == "stream"
    raw = qemu.client()
    [top] = [n for n in raw.cmd("query-named-block-nodes") if n["node-name"] == "top"]
    assert top["image"]["backing-filename"] == str(chain.base)  # mid is out of the chain
    raw.cmd("blockdev-del", **{"node-name": "top"})  # closed: the file is complete on disk
    assert holds(chain.top, 0x22, 1)  # mid's data streamed into top


def test_wait_takes_an_event_no_wait_took_whatever_commands_ran_since(qemu: Qemu) -> None:
    script = "stop\nquery-status\nquery-name\n/wait STOP timeout=5\n/wait STOP timeout=0\n"
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 1, res
    stopped, status, name, stop = out_lines(res.stdout)
    assert (stopped, name) == ("{}", '{"name":"testvm"}')
    assert json.loads(status)["status"] == "paused"
    assert "data" not in event(stop, "STOP")
    # The one STOP was taken by the first /wait: the second finds none.
    assert res.stderr == "line 5: /wait STOP timeout=0: no such event within 0 s\n"


def test_wait_finds_a_job_that_ended_before_a_logging_query(qemu: Qemu) -> None:
    """A job that ends at once, a query-jobs to log, then its /wait: the event counts."""
    assert qemu.image is not None
    script = (
        f"blockdev-add driver=qcow2 node-name=d0 file.driver=file file.filename={qemu.image}\n"
        "block-stream job-id=s0 device=d0\n"  # no backing file: nothing to do, ends at once
        "query-jobs\n"
        "query-name\n"
        "/wait BLOCK_JOB_COMPLETED timeout=5 device=s0\n"
    )
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert res.stderr == ""
    *_, completed = out_lines(res.stdout)
    assert event(completed, "BLOCK_JOB_COMPLETED")["data"]["device"] == "s0"


def test_wait_between_commands_takes_an_event_of_another_client(qemu: Qemu) -> None:
    spare = qemu.client()
    with PipedQmpsh(str(qemu.qmp), "--events") as piped:
        piped.send("query-name")
        assert piped.read_line() == '{"name":"testvm"}\n'
        spare.cmd("stop")  # another client: qmpsh prints it at once, between commands
        assert json.loads(piped.read_line())["event"] == "STOP"
        piped.send("query-name")  # a command in between does not hide the STOP from /wait
        assert piped.read_line() == '{"name":"testvm"}\n'
        piped.send("/wait STOP timeout=5")
        piped.send("/wait STOP timeout=0.5")  # taken: not found again
        piped.close_stdin()
        res = piped.finish()
    assert res.code == 1, res
    assert res.stderr == "line 4: /wait STOP timeout=0.5: no such event within 0.5 s\n"


def failing_backup(raw: RawQmp, base: Path) -> str:
    """A source whose data reads fail (blkdebug under qcow2) and a target: the first
    line of a script whose backup job b0 ends with an error at once."""
    blkdebug = {
        "driver": "blkdebug",
        "inject-error": [{"event": "read_aio", "errno": 5}],
        "image": {"driver": "file", "filename": str(base)},
    }
    raw.cmd("blockdev-add", driver="qcow2", **{"node-name": "src"}, file=blkdebug)
    raw.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=4 * MiB)
    return "blockdev-backup job-id=b0 device=src target=tgt sync=full\n"


def test_wait_for_a_job_that_ends_with_an_error_fails_the_script(qemu: Qemu) -> None:
    start = failing_backup(qemu.client(), make_chain(qemu.directory).base)
    script = start + "/wait BLOCK_JOB_COMPLETED timeout=10 device=b0\nquery-name\n"
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 1, res
    reply, completed = out_lines(res.stdout)  # the script stopped: no query-name
    assert reply == "{}"
    error = event(completed, "BLOCK_JOB_COMPLETED")["data"]["error"]
    assert error
    assert (
        res.stderr
        == f"line 2: /wait BLOCK_JOB_COMPLETED timeout=10 device=b0: job b0 failed: {error}\n"
    )


def test_wait_that_asks_for_the_failure_succeeds(qemu: Qemu) -> None:
    start = failing_backup(qemu.client(), make_chain(qemu.directory).base)
    script = start + "/wait JOB_STATUS_CHANGE id=b0 status=aborting timeout=10\nquery-name\n"
    res = run_plain(str(qemu.qmp), input=script)
    assert res.code == 0, res
    assert res.stderr == ""
    reply, aborting, name = out_lines(res.stdout)
    assert event(aborting, "JOB_STATUS_CHANGE")["data"] == {"id": "b0", "status": "aborting"}
    assert (reply, name) == ("{}", '{"name":"testvm"}')
    # Without a condition on the status, the same status change is the job failing.
    res = run_plain(str(qemu.qmp), input=start + "/wait JOB_STATUS_CHANGE id=b0 timeout=10\n" * 9)
    assert res.code == 1, res
    assert res.stderr.endswith(": /wait JOB_STATUS_CHANGE id=b0 timeout=10: job b0 is aborting\n")
    assert res.stderr.startswith("line ") and res.stderr.count("\n") == 1
    statuses = [
        event(line, "JOB_STATUS_CHANGE")["data"]["status"] for line in out_lines(res.stdout)[1:]
    ]
    assert statuses[:2] == ["created", "running"] and statuses[-1] == "aborting", statuses


def test_wait_for_a_migration_that_fails_fails_the_script(qemu: Qemu) -> None:
    nowhere = qemu.directory / "nobody-listens"
    start = (
        'migrate-set-capabilities capabilities=[{"capability":"events","state":true}]\n'
        f"migrate uri=unix:{nowhere}\n"
    )
    res = run_plain(str(qemu.qmp), input=start + "/wait MIGRATION timeout=10\n" * 9)
    assert res.code == 1, res
    assert res.stderr.endswith(": /wait MIGRATION timeout=10: migration failed\n")
    assert res.stderr.startswith("line ") and res.stderr.count("\n") == 1
    assert event(out_lines(res.stdout)[-1], "MIGRATION")["data"] == {"status": "failed"}
    res = run_plain(str(qemu.qmp), input=start + "/wait MIGRATION status=failed timeout=10\n")
    assert res.code == 0, res
    assert res.stderr == ""


def test_wait_ends_with_exit_4_when_qemu_goes_away(qemu: Qemu) -> None:
    with PipedQmpsh(str(qemu.qmp)) as piped:
        piped.send("query-name")
        assert piped.read_line() == '{"name":"testvm"}\n'
        piped.send("/wait NEVER_SENT")  # no timeout at all
        piped.wait_taken()
        assert piped.process.poll() is None
        qemu.process.kill()
        qemu.process.wait(10)
        res = piped.finish(10)
    assert res.code == 4, res
    assert res.stdout == ""
    [line] = out_lines(res.stderr)
    assert line.startswith("qmpsh: ") and "connection closed" in line, line


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/wait", "line 1: /wait takes EVENT [k=v ...]"),
        ("/wait STOP timeout=soon", "line 1: /wait timeout= takes seconds"),
        ("/wait STOP timeout=-1", "line 1: /wait timeout= takes seconds"),
        ("/events device=x", "line 1: a line starts with a command name, not key=value (column 1)"),
    ],
)
def test_bad_wait_and_events_lines_are_one_line_errors(qemu: Qemu, line: str, error: str) -> None:
    res = run_plain(str(qemu.qmp), input=f"{line}\nstop\n")
    assert res.code == 1, res
    assert (res.stdout, res.stderr) == ("", error + "\n")
    assert qemu.client().cmd("query-status")["running"] is True  # the script stopped there


# --------------------------------------------------------------------------- --events


def test_events_print_stop_and_resume_in_socket_order_around_replies(qemu: Qemu) -> None:
    # QEMU sends STOP before the reply to stop, and RESUME before the reply to cont.
    res = run_plain(str(qemu.qmp), "--events", "-c", "stop", "-c", "cont", "-c", "query-name")
    assert res.code == 0, res
    assert res.stderr == ""
    stop, stopped, resume, resumed, name = out_lines(res.stdout)
    assert "data" not in event(stop, "STOP") and "data" not in event(resume, "RESUME")
    assert (stopped, resumed, name) == ("{}", "{}", '{"name":"testvm"}')
    assert json.loads(stop)["timestamp"] != json.loads(resume)["timestamp"]


def test_json_prints_events_and_whole_replies_in_socket_order(qemu: Qemu) -> None:
    for options in (["--json"], ["--json", "--events"]):
        res = run_plain(str(qemu.qmp), *options, "-c", "stop", "-c", "cont")
        assert res.code == 0, res
        assert res.stderr == ""
        stop, stopped, resume, resumed = (json.loads(line) for line in out_lines(res.stdout))
        assert (stop["event"], resume["event"]) == ("STOP", "RESUME")
        assert stopped["return"] == resumed["return"] == {}
        assert stopped["id"] != resumed["id"]


def test_without_events_option_no_event_reaches_stdout(qemu: Qemu) -> None:
    spare = qemu.client()
    res = run_plain(str(qemu.qmp), "-c", "stop", "-c", "cont")
    assert res.code == 0, res
    assert (res.stdout, res.stderr) == ("{}\n{}\n", "")
    spare.cmd("query-name")
    assert [e["event"] for e in spare.events] == ["STOP", "RESUME"]  # they did happen


def test_events_and_wait_of_a_block_job_keep_socket_order_printed_once(qemu: Qemu) -> None:
    add_chain(qemu.client(), make_chain(qemu.directory))
    res = run_plain(str(qemu.qmp), "--events", input=COMMIT)
    assert res.code == 0, res
    assert res.stderr == ""
    shown = out_lines(res.stdout)
    replies = [i for i, line in enumerate(shown) if not line.startswith('{"timestamp"')]
    assert [shown[i] for i in replies] == ["{}", "{}", "[]"]
    # Every event once: the one a /wait found is not printed again as its outcome ...
    lines = [shown[i] for i in range(len(shown)) if i not in replies]
    assert len(set(lines)) == len(lines), lines
    # ... and the events are every event in the order QEMU sent them.
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events].count("BLOCK_JOB_COMPLETED") == 1
    stamps = [(e["timestamp"]["seconds"], e["timestamp"]["microseconds"]) for e in events]
    assert stamps == sorted(stamps)
    statuses = [e["data"]["status"] for e in events if e["event"] == "JOB_STATUS_CHANGE"]
    assert statuses == ["created", "running", "ready", "waiting", "pending", "concluded", "null"]
    ready = next(i for i, e in enumerate(events) if e["event"] == "BLOCK_JOB_READY")
    assert events[ready - 1]["data"]["status"] == "ready"


def test_events_print_the_event_a_wait_found_once(qemu: Qemu) -> None:
    wait = "/wait STOP timeout=5"
    res = run_plain(str(qemu.qmp), "--events", "-c", "stop", "-c", wait, "-c", "cont")
    assert res.code == 0, res
    assert res.stderr == ""
    stop, stopped, resume, resumed = out_lines(res.stdout)
    assert "data" not in event(stop, "STOP") and "data" not in event(resume, "RESUME")
    assert stopped == resumed == "{}"


# --------------------------------------------------------------------------- the REPL


def stream_jobs(raw: RawQmp, qemu: Qemu, *job_ids: str) -> None:
    """Jobs with nothing to do (no backing file): each runs through every status at once."""
    assert qemu.image is not None
    file = {"driver": "file", "filename": str(qemu.image)}
    raw.cmd("blockdev-add", driver="qcow2", **{"node-name": "d0"}, file=file)
    for job in job_ids:
        raw.cmd("block-stream", **{"job-id": job, "device": "d0"})


async def nothing_shown(r: Repl, line: str) -> None:
    """``line`` prints nothing: what follows it is the next command's output alone."""
    mark = len(r.output())
    await r.until(r.at_prompt, "the prompt")
    r.type(line + ENTER)
    await r.enter("query-name", '"testvm"')
    assert re.sub(r"\s", "", r.output()[mark:]) == '{"name":"testvm"}', r.output()[mark:]


def test_events_lists_the_log_and_filters_by_glob_and_data(qemu: Qemu) -> None:
    async def body() -> None:
        spare = qemu.client()
        async with running_repl(qemu) as r:
            await nothing_shown(r, "/events")  # nothing happened yet
            await asyncio.to_thread(stream_jobs, spare, qemu, "s1", "s2")
            await r.until(  # logged, and shown above the prompt as they came
                lambda: len(r.session.events) == 14 and r.output().count('"id":"s2"') == 6,
                "both jobs' events",
            )
            shown = nonblank_lines(await r.enter("/events", "JOB_STATUS_CHANGE"))
            assert len(shown) == 14
            assert [line.split()[0] for line in shown].count("BLOCK_JOB_COMPLETED") == 2
            glob = nonblank_lines(await r.enter("/events BLOCK_JOB_*", "BLOCK_JOB_COMPLETED"))
            assert len(glob) == 2 and all(line.startswith("BLOCK_JOB_COMPLETED") for line in glob)
            one = nonblank_lines(await r.enter("/events BLOCK_* device=s2", "BLOCK_JOB_COMPLETED"))
            assert len(one) == 1 and '"device":"s2"' in one[0]
            done = await r.enter("/events JOB_STATUS_CHANGE status=concluded", "concluded")
            assert [('"id":"s1"' in x, '"id":"s2"' in x) for x in nonblank_lines(done)] == [
                (True, False),
                (False, True),
            ]
            both = nonblank_lines(await r.enter("/events *_CHANGE id=s1 status=null", "null"))
            assert len(both) == 1 and '"id":"s1"' in both[0]
            await nothing_shown(r, "/events NO_SUCH_EVENT")
            await nothing_shown(r, "/events BLOCK_JOB_COMPLETED device=s3")
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    asyncio.run(body())


def test_muted_events_are_not_shown_but_still_logged(qemu: Qemu) -> None:
    async def body() -> None:
        spare = qemu.client()
        async with running_repl(qemu) as r:
            shown = await r.enter("/events mute JOB_* BLOCK_JOB_COMPLETED", "muted")
            assert "BLOCK_JOB_COMPLETED, JOB_*" in shown
            mark = len(r.output())
            await asyncio.to_thread(stream_jobs, spare, qemu, "s1")
            await asyncio.to_thread(spare.cmd, "stop")
            # STOP comes after the job's events on the socket: once it shows, they were seen.
            await r.until(lambda: "STOP" in r.output()[mark:], "the STOP event")
            assert [line.split()[0] for line in nonblank_lines(r.output()[mark:])] == ["STOP"]
            logged = nonblank_lines(await r.enter("/events", "STOP"))
            assert len(logged) == 8 and logged[-1].startswith("STOP")
            assert sum(line.startswith("JOB_STATUS_CHANGE") for line in logged) == 6
            await r.enter("/events unmute JOB_*", "muted at the prompt (still logged): BLOCK_")
            mark = len(r.output())
            await asyncio.to_thread(spare.cmd, "block-stream", **{"job-id": "s2", "device": "d0"})
            await r.until(lambda: len(r.session.events) == 15, "the second job's events")
            await asyncio.to_thread(spare.cmd, "cont")
            await r.until(lambda: "RESUME" in r.output()[mark:], "the RESUME event")
            names = [line.split()[0] for line in nonblank_lines(r.output()[mark:])]
            assert names == ["JOB_STATUS_CHANGE"] * 6 + ["RESUME"]  # COMPLETED stays muted
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    asyncio.run(body())


def test_wait_at_the_prompt_and_ctrl_c_cancels_it(qemu: Qemu) -> None:
    labels: list[str] = []
    waiting = Renderer.waiting

    def spy(renderer: Renderer, label: str) -> AbstractContextManager[Relabel]:
        labels.append(label)
        return waiting(renderer, label)

    async def body() -> None:
        spare = qemu.client()
        async with running_repl(qemu) as r:
            await r.enter("stop", "STOP")
            shown = await r.enter("/wait STOP timeout=5", "STOP")
            assert nonblank_lines(shown)[0].startswith("STOP  ")
            r.type("/wait RESUME" + ENTER)
            await r.until(lambda: not r.at_prompt(), "/wait to start")
            label = "waiting for RESUME (Ctrl-C stops waiting)"  # what is awaited, named
            await r.until(lambda: labels[-1:] == [label], "the spinner's label")
            # What is tested: /wait keeps waiting. Nothing says it goes on; a slow machine
            # only makes this check weaker, never wrong.
            await asyncio.sleep(0.3)
            assert not r.at_prompt()  # still waiting
            mark = len(r.output())
            os.kill(os.getpid(), signal.SIGINT)  # what the terminal does on Ctrl-C
            await r.until(r.at_prompt, "the prompt after cancelling")
            # /wait sent nothing: no word of QEMU completing a command.
            assert nonblank_lines(r.output()[mark:]) == ["stopped waiting for RESUME"]
            await asyncio.to_thread(spare.cmd, "cont")  # the session goes on and sees it
            await r.until(lambda: "RESUME" in r.output()[mark:], "the RESUME event")
            r.type(CTRL_D)
            assert await r.finish() == ExitStatus.OK

    try:
        with mock.patch.object(Renderer, "waiting", spy):
            asyncio.run(body())
    except KeyboardInterrupt:
        pytest.fail("SIGINT during /wait reached Python's default handler, not the REPL's")


def test_wait_at_the_prompt_ends_the_repl_when_qemu_goes_away(qemu: Qemu) -> None:
    async def body() -> None:
        async with running_repl(qemu) as r:
            r.type("/wait NEVER_SENT" + ENTER)
            await r.until(lambda: not r.at_prompt(), "/wait to start")
            mark = len(r.output())
            await asyncio.to_thread(qemu.client().cmd, "stop")  # an event, not the awaited one
            await r.until(lambda: "STOP" in r.output()[mark:], "the STOP event shown")
            assert not r.at_prompt()  # still waiting
            qemu.process.kill()
            with pytest.raises(ConnectionLost):
                await r.finish(timeout=5)

    asyncio.run(body())


def test_wait_for_shutdown_after_quit_finds_it_before_the_socket_closes(qemu: Qemu) -> None:
    res = run_plain(str(qemu.qmp), input="quit\n/wait SHUTDOWN timeout=5\n")
    assert res.code == 0, res
    assert res.stderr == ""
    reply, shutdown = out_lines(res.stdout)
    assert reply == "{}"
    assert event(shutdown, "SHUTDOWN")["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert qemu.process.wait(10) == 0
