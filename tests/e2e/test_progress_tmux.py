"""Progress of long work in a real terminal (tmux) on real QEMU: ``/wait`` shows a live
line per running job or migration, advancing, and erases it when the wait ends.

The work is slowed by QEMU itself (a backup's ``speed=``, the migration's
``max-bandwidth``) and sped up again from the spare monitor once the test has
seen it advance, so no test waits on a clock.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.qemu import Qemu, start_qemu
from tests.support.rawqmp import RawQmp
from tests.support.tmux import PROMPT, Terminal, prompt_line

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]

MiB = 1024 * 1024


@pytest.fixture
def q35() -> Iterator[Qemu]:
    """A q35 machine: RAM to migrate."""
    vm = start_qemu(machine="q35")
    yield vm
    vm.stop()


def progress_values(screen: str, name: str) -> list[str]:
    """The changing part (percent and amount done) of ``name``'s progress lines."""
    found = re.findall(rf"^{re.escape(name)}  .*?(\d+%  [^/]*)/", screen, re.MULTILINE)
    return [str(value) for value in found]


def throttle_migration(spare: RawQmp) -> None:
    """Migration events on, and 64 KiB/s. A guest that never ran has RAM of zero pages,
    which QEMU 9.0 on sends as a few bytes each past any bandwidth limit: where the
    QEMU can, it is told to send them whole, so that the migration takes its time."""
    spare.cmd("migrate-set-capabilities", capabilities=[{"capability": "events", "state": True}])
    parameters: dict[str, object] = {"max-bandwidth": 64 * 1024}
    if "zero-page-detection" in spare.cmd("query-migrate-parameters"):
        parameters["zero-page-detection"] = "none"
    spare.cmd("migrate-set-parameters", **parameters)


def start(terminal: Terminal, qemu: Qemu, tmp_path: Path) -> None:
    terminal.start_qmpsh(str(qemu.qmp), env={"XDG_STATE_HOME": str(tmp_path / "state")})
    terminal.wait_for(lambda s: prompt_line(s) == PROMPT.rstrip(), "the prompt")


def test_wait_shows_a_throttled_backup_advancing_then_erases_it(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(8 * MiB))  # data: nothing for the backup to skip
    spare = qemu.client()
    spare.cmd("blockdev-add", driver="file", **{"node-name": "src"}, filename=str(source))
    spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=8 * MiB)
    start(terminal, qemu, tmp_path)
    terminal.type("blockdev-backup job-id=b0 device=src target=tgt sync=full speed=1048576")
    terminal.press("Enter")
    terminal.wait_for(lambda s: "{}" in s and prompt_line(s) == PROMPT.rstrip(), "the job")
    terminal.type("/wait BLOCK_JOB_COMPLETED device=b0")
    terminal.press("Enter")
    first = terminal.wait_for(lambda s: progress_values(s, "b0") != [], "a progress line")
    line = next(row for row in first.splitlines() if row.startswith("b0  "))
    assert re.match(r"b0  backup  running  \d+%  [\d.]+ [KM]iB/8\.0 MiB", line), line
    seen = progress_values(first, "b0")[0]
    later = terminal.wait_for(
        lambda s: progress_values(s, "b0") not in ([], [seen]), "the progress to advance"
    )
    assert re.search(r"^b0  backup  running  .* [\d.]+ [KM]iB/s  ETA \d+:\d\d$", later, re.M)
    spare.cmd("block-job-set-speed", device="b0", speed=0)  # now let it finish
    done = terminal.wait_for(
        lambda s: "BLOCK_JOB_COMPLETED" in s and prompt_line(s) == PROMPT.rstrip(), "the end"
    )
    assert not re.search(r"^b0  backup", done, re.MULTILINE), done  # erased


def test_wait_shows_an_exec_migration_advancing(
    q35: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    spare = q35.client()
    throttle_migration(spare)
    start(terminal, q35, tmp_path)
    terminal.type('migrate uri="exec:cat>/dev/null"')
    terminal.press("Enter")
    terminal.wait_for(lambda s: "{}" in s and prompt_line(s) == PROMPT.rstrip(), "migrating")
    terminal.type("/wait MIGRATION status=completed")
    terminal.press("Enter")
    first = terminal.wait_for(lambda s: progress_values(s, "migration") != [], "a progress line")
    seen = progress_values(first, "migration")[0]
    later = terminal.wait_for(
        lambda s: progress_values(s, "migration") not in ([], [seen]), "the migration to advance"
    )
    line = next(row for row in later.splitlines() if row.startswith("migration  "))
    assert re.match(
        r"migration  active  \d+%  RAM [\d.]+ [KM]iB/\d+\.\d MiB  [\d.]+ [KM]?i?B/s  "
        r"dirty [\d.]+ [KM]?i?B/s  downtime \d+ ms",
        line,
    ), line
    spare.cmd("migrate-set-parameters", **{"max-bandwidth": 1024 * MiB})
    done = terminal.wait_for(
        lambda s: '"completed"' in s and prompt_line(s) == PROMPT.rstrip(), "the end"
    )
    assert not re.search(r"^migration  ", done, re.MULTILINE), done  # erased


def test_a_script_shows_progress_on_stderr_only_with_progress(qemu: Qemu, tmp_path: Path) -> None:
    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(2 * MiB))
    spare = qemu.client()
    spare.cmd("blockdev-add", driver="file", **{"node-name": "src"}, filename=str(source))
    spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=2 * MiB)
    script = (
        "blockdev-backup job-id=b0 device=src target=tgt sync=full speed=1048576\n"
        "/wait BLOCK_JOB_COMPLETED device=b0 timeout=60\n"
    )
    results = []
    for options in ([], ["--progress"]):
        done = subprocess.run(
            [sys.executable, "-m", "qmpsh", *options, str(qemu.qmp)],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done
        results.append(done)
        spare.cmd("blockdev-del", **{"node-name": "tgt"})
        spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=2 * MiB)
    for done in results:  # nothing extra on stdout either way
        reply, completed = done.stdout.splitlines()
        assert reply == "{}" and json.loads(completed)["event"] == "BLOCK_JOB_COMPLETED"
    quiet, shown = results
    assert quiet.stderr == ""
    rows = shown.stderr.splitlines()
    assert rows and all(re.match(r"b0  backup  \w+  \d+%  ", row) for row in rows), rows


def test_a_script_at_a_terminal_draws_progress_in_place_on_stderr_and_erases_it(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(8 * MiB))
    spare = qemu.client()
    spare.cmd("blockdev-add", driver="file", **{"node-name": "src"}, filename=str(source))
    spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=8 * MiB)
    script = tmp_path / "backup.qmp"
    script.write_text(
        "blockdev-backup job-id=b0 device=src target=tgt sync=full speed=1M\n"
        "/wait BLOCK_JOB_COMPLETED device=b0\n"
    )
    out = tmp_path / "out"
    command = shlex.join([sys.executable, "-m", "qmpsh", str(qemu.qmp)])
    redirect = f"< {shlex.quote(str(script))} > {shlex.quote(str(out))}"
    terminal.start(f"echo BEFORE; {command} {redirect}; echo EXIT=$?", env={})
    first = terminal.wait_for(lambda s: progress_values(s, "b0") != [], "a progress line")
    seen = progress_values(first, "b0")[0]
    later = terminal.wait_for(
        lambda s: progress_values(s, "b0") not in ([], [seen]), "the progress to advance"
    )
    assert later.startswith("BEFORE\nb0  backup  running  ")  # redrawn in place, one line
    spare.cmd("block-job-set-speed", device="b0", speed=0)
    terminal.wait_for(lambda s: "EXIT=0" in s, "the script to end")
    # The scrollback: tmux's "Pane is dead" line may have scrolled BEFORE off the screen.
    assert terminal.scrollback().startswith("BEFORE\nEXIT=0\n")  # erased, nothing above
    reply, completed = out.read_text().splitlines()  # stdout as without a terminal
    assert reply == "{}" and json.loads(completed)["event"] == "BLOCK_JOB_COMPLETED"


# --------------------------------------------------------------------------- /jobs


def blkdebug_source(qemu: Qemu, tmp_path: Path) -> None:
    """Node src whose every read fails (blkdebug), and a target tgt: a backup of src
    fails at once."""
    base = tmp_path / "base.raw"
    base.write_bytes(bytes(MiB))
    blkdebug = {
        "driver": "blkdebug",
        "inject-error": [{"event": "read_aio", "errno": 5}],
        "image": {"driver": "file", "filename": str(base)},
    }
    spare = qemu.client()
    spare.cmd("blockdev-add", driver="raw", **{"node-name": "src"}, file=blkdebug)
    spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=MiB)


def test_jobs_follows_a_backup_to_its_end_then_says_how_it_ended(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(8 * MiB))
    spare = qemu.client()
    spare.cmd("blockdev-add", driver="file", **{"node-name": "src"}, filename=str(source))
    spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=8 * MiB)
    start(terminal, qemu, tmp_path)
    terminal.type("blockdev-backup job-id=b0 device=src target=tgt sync=full speed=1M")
    terminal.press("Enter")
    terminal.wait_for(lambda s: "{}" in s and prompt_line(s) == PROMPT.rstrip(), "the job")
    terminal.type("/jobs")
    terminal.press("Enter")
    first = terminal.wait_for(lambda s: progress_values(s, "b0") != [], "the job's line")
    seen = progress_values(first, "b0")[0]
    terminal.wait_for(lambda s: progress_values(s, "b0") not in ([], [seen]), "it to advance")
    spare.cmd("block-job-set-speed", device="b0", speed=0)
    done = terminal.wait_for(
        lambda s: "b0  backup  completed" in s and prompt_line(s) == PROMPT.rstrip(), "the end"
    )
    assert not re.search(r"^b0  backup  running", done, re.MULTILINE), done  # erased


def test_jobs_says_a_failed_job_failed_with_its_error_in_the_error_style(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    blkdebug_source(qemu, tmp_path)
    start(terminal, qemu, tmp_path)
    terminal.type("blockdev-backup job-id=b0 device=src target=tgt sync=full")
    terminal.press("Enter")
    terminal.wait_for(lambda s: "BLOCK_JOB_COMPLETED" in s, "the job to fail")
    terminal.type("/jobs")
    terminal.press("Enter")
    terminal.wait_for(
        lambda s: "b0  backup  failed: " in s and prompt_line(s) == PROMPT.rstrip(), "its end"
    )
    coloured = terminal.tmux("capture-pane", "-p", "-e", "-t", terminal.target)
    line = next(row for row in coloured.splitlines() if "b0  backup  failed: " in row)
    assert re.match(r"\x1b\[[0-9;]*31[;m].*b0  backup  failed: .*error", line), repr(line)
    terminal.type("/jobs")  # its end was told: the next /jobs has nothing to say of it
    terminal.press("Enter")
    terminal.wait_for(lambda s: "no jobs, no migration" in s, "nothing to tell")


def test_jobs_follows_a_migration_ctrl_c_leaves_it_running_and_it_ends_completed(
    q35: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    spare = q35.client()
    throttle_migration(spare)
    start(terminal, q35, tmp_path)
    terminal.type('migrate uri="exec:cat>/dev/null"')
    terminal.press("Enter")
    terminal.wait_for(lambda s: "{}" in s and prompt_line(s) == PROMPT.rstrip(), "migrating")
    terminal.type("/jobs")
    terminal.press("Enter")
    terminal.wait_for(lambda s: progress_values(s, "migration") != [], "the migration's line")
    terminal.press("C-c")
    terminal.wait_for(
        lambda s: "stopped following jobs (they go on)" in s and prompt_line(s) == PROMPT.rstrip(),
        "Ctrl-C",
    )
    assert spare.cmd("query-migrate")["status"] == "active"
    terminal.type("/jobs")
    terminal.press("Enter")
    first = terminal.wait_for(lambda s: progress_values(s, "migration") != [], "its line again")
    seen = progress_values(first, "migration")[0]
    terminal.wait_for(lambda s: progress_values(s, "migration") not in ([], [seen]), "advancing")
    spare.cmd("migrate-set-parameters", **{"max-bandwidth": 1024 * MiB})
    done = terminal.wait_for(
        lambda s: "\nmigration  completed\n" in s and prompt_line(s) == PROMPT.rstrip(), "the end"
    )
    assert not re.search(r"^migration  active", done, re.MULTILINE), done  # erased


def test_jobs_in_a_script_fails_on_a_failed_job(qemu: Qemu, tmp_path: Path) -> None:
    blkdebug_source(qemu, tmp_path)
    script = "blockdev-backup job-id=b0 device=src target=tgt sync=full\n/jobs\nquery-name\n"
    done = subprocess.run(
        [sys.executable, "-m", "qmpsh", str(qemu.qmp)],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert done.stdout == "{}\n"  # stopped there
    assert re.fullmatch(r"line 2: /jobs: b0  backup  failed: .+\n", done.stderr), done.stderr


# --------------------------------------------------------------------------- /watch


def test_watch_redraws_a_query_in_place_marking_what_changed_until_ctrl_c(
    qemu: Qemu, terminal: Terminal, tmp_path: Path
) -> None:
    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(8 * MiB))
    spare = qemu.client()
    spare.cmd("blockdev-add", driver="file", **{"node-name": "src"}, filename=str(source))
    spare.cmd("blockdev-add", driver="null-co", **{"node-name": "tgt"}, size=8 * MiB)
    spare.cmd(
        "blockdev-backup", **{"job-id": "b0"}, device="src", target="tgt", sync="full", speed=MiB
    )
    start(terminal, qemu, tmp_path)
    terminal.type("/watch query-block-j")  # Tab completes the command, as at the prompt
    terminal.wait_for(lambda s: "query-block-jobs" in s, "the completion menu")
    terminal.press("Tab")
    terminal.wait_for(
        lambda s: prompt_line(s) == PROMPT + "/watch query-block-jobs", "the completed name"
    )
    terminal.type(" interval=0.5")
    terminal.wait_for(lambda s: prompt_line(s).endswith("interval=0.5"), "the line typed")
    terminal.press("Enter")

    def offset(screen: str) -> str:
        found = re.findall(r'^ *"offset": (\d+),$', screen, re.MULTILINE)
        return found[-1] if found else ""

    first = terminal.wait_for(lambda s: offset(s) != "", "the query's reply")
    assert "every 0.5 s: query-block-jobs interval=0.5" in first
    terminal.wait_for(lambda s: offset(s) not in ("", offset(first)), "a newer reply")
    coloured = terminal.tmux("capture-pane", "-p", "-e", "-t", terminal.target)
    row = next(r for r in coloured.splitlines() if '"offset": ' in r)
    assert re.search(r"\x1b\[(?:[0-9;]*;)?7[;m]", row), repr(row)  # the changed value, reversed
    unchanged = next(r for r in coloured.splitlines() if '"device": "b0"' in r)
    assert not re.search(r"\x1b\[(?:[0-9;]*;)?7[;m]", unchanged), repr(unchanged)
    terminal.press("C-c")
    done = terminal.wait_for(
        lambda s: "stopped watching" in s and prompt_line(s) == PROMPT.rstrip(), "Ctrl-C"
    )
    assert '"offset"' not in done  # erased


def test_watch_in_a_script_is_refused_with_one_line(qemu: Qemu) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qmpsh", "-c", "/watch query-status", str(qemu.qmp)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert done.stderr == "-c 1: /watch works at the prompt only: it redraws until Ctrl-C\n"
