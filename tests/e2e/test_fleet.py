"""``--all``: one script on many real QEMUs at once, plus a dead socket.

Three real QEMU processes (``-machine none``) are the fleet; a socket file nobody
listens on is the dead one. Sockets are reached through symlinks in one
directory so a glob can name them all. The pure parts (target expansion,
short names, the table) are tested on plain data in ``test_fleet_parts.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmpsh.errors import ExitStatus
from tests.support.places import short_tempdir
from tests.support.qemu import start_qemu
from tests.support.qmpsh_process import PipedQmpsh, json_lines, no_traceback, run_qmpsh

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


class Fleet:
    def __init__(self) -> None:
        self.vms = [start_qemu() for _ in range(3)]
        self.directory = short_tempdir()
        self.sockets = []
        for number, vm in enumerate(self.vms, 1):
            link = self.directory / f"vm{number}.qmp"
            link.symlink_to(vm.qmp)
            self.sockets.append(link)
        # A socket file left behind by a QEMU that died: nobody listens on it.
        self.dead = self.directory / "dead.qmp"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(self.dead))

    def paths(self) -> list[str]:
        return [str(p) for p in self.sockets]

    def stop(self) -> None:
        for vm in self.vms:
            vm.stop()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    machines = Fleet()
    yield machines
    machines.stop()


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_flat_replies_make_a_table_and_a_dead_socket_is_reported(fleet: Fleet) -> None:
    done = run_qmpsh("--all", *fleet.paths(), str(fleet.dead), "-c", "query-status", timeout=30)
    assert done.returncode == ExitStatus.CONNECT, done  # the worst: one could not connect
    status = fleet.vms[0].client().cmd("query-status")  # its members vary with QEMU
    cells = [json.dumps(value).strip('"') for value in status.values()]
    assert rows(done.stdout) == [
        ["target", *status],
        ["vm1", *cells],
        ["vm2", *cells],
        ["vm3", *cells],
    ]
    assert done.stderr == f"qmpsh: {fleet.dead}: connection refused (is QEMU running?)\n"


def test_a_glob_names_the_targets_and_json_lines_carry_the_target(fleet: Fleet) -> None:
    pattern = str(fleet.directory / "vm*.qmp")
    done = run_qmpsh("--all", pattern, "--json", "-c", "query-name", timeout=30)
    assert done.returncode == 0, done
    got = json_lines(done.stdout)
    assert [line["target"] for line in got] == ["vm1", "vm2", "vm3"]
    assert all(line["return"] == {"name": "testvm"} for line in got)
    assert all(set(line) == {"target", "return", "id"} for line in got)  # as QEMU sent it


def test_a_pattern_that_matches_nothing_is_a_connect_failure(fleet: Fleet) -> None:
    nothing = str(fleet.directory / "none*.qmp")
    done = run_qmpsh("--all", fleet.paths()[0], nothing, "-c", "query-status", timeout=30)
    assert done.returncode == ExitStatus.CONNECT
    assert done.stderr == f"qmpsh: {nothing}: matches no target\n"
    assert json.loads(done.stdout.split(": ", 1)[1])["status"] == "running"


def test_script_on_stdin_nested_replies_and_hmp_are_tagged_lines(fleet: Fleet) -> None:
    script = "query-version\n/hmp info status\n"
    done = run_qmpsh("--all", *fleet.paths(), input=script, timeout=30)
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    versions = [line for line in lines if '"qemu"' in line]
    assert [line.split(": ", 1)[0] for line in versions] == ["vm1", "vm2", "vm3"]
    assert all(json.loads(line.split(": ", 1)[1])["qemu"]["major"] >= 2 for line in versions)
    assert [line for line in lines if "VM status" in line] == [
        f"vm{n}: VM status: running" for n in (1, 2, 3)
    ]


def test_a_target_that_fails_stops_the_others_go_on(fleet: Fleet) -> None:
    spare = fleet.vms[1].client()
    try:
        spare.cmd("blockdev-add", driver="null-co", **{"node-name": "only2"})
        script = "blockdev-del node-name=only2\nquery-name\n"
        done = run_qmpsh("--all", *fleet.paths(), input=script, timeout=30)
    finally:
        spare.close()
    assert done.returncode == ExitStatus.FAILED, done
    # vm2 deleted its node; vm1 and vm3 had none, failed, and ran nothing more.
    assert sorted(done.stderr.splitlines()) == [
        "vm1: GenericError: Failed to find node with node-name='only2'",
        "vm3: GenericError: Failed to find node with node-name='only2'",
    ]
    assert done.stdout.splitlines() == ["vm2: {}", 'vm2: {"name":"testvm"}']


def test_keep_going_runs_every_line_everywhere(fleet: Fleet) -> None:
    script = "blockdev-del node-name=nowhere\nquery-name\n"
    done = run_qmpsh("--all", *fleet.paths(), "-k", input=script, timeout=30)
    assert done.returncode == ExitStatus.FAILED
    assert rows(done.stdout) == [["target", "name"]] + [[f"vm{n}", "testvm"] for n in (1, 2, 3)]


def test_schema_check_per_target_and_parse_errors_once(fleet: Fleet) -> None:
    done = run_qmpsh("--all", *fleet.paths(), "-c", "query-status bogus=1", timeout=30)
    assert done.returncode == ExitStatus.FAILED
    assert len(done.stderr.splitlines()) == 3
    assert all("bogus" in line for line in done.stderr.splitlines())
    done = run_qmpsh("--all", *fleet.paths(), "-c", '{"execute": ', timeout=30)
    assert done.returncode == ExitStatus.FAILED
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("-c 1: ")
    no_traceback(done.stderr)


def test_a_deprecated_command_is_warned_about_once_for_the_fleet(fleet: Fleet) -> None:
    """Every target says the same (nbd-server-add: deprecated in 7.2, 10.0 and 11.1): one
    line, not three."""
    script = "nbd-server-add device=nodev\nnbd-server-add device=nodev\nquery-name\n"
    done = run_qmpsh("--all", *fleet.paths(), "-k", input=script, timeout=30)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == ["warning: 'nbd-server-add' is deprecated"]
    assert rows(done.stdout)[-3:] == [[f"vm{n}", "testvm"] for n in (1, 2, 3)]


def test_events_are_tagged(fleet: Fleet) -> None:
    done = run_qmpsh("--all", *fleet.paths(), "--events", "-c", "stop", "-c", "cont", timeout=30)
    assert done.returncode == 0, done
    events = [line for line in done.stdout.splitlines() if " STOP " in line or " RESUME " in line]
    assert sorted(line.split(" ")[:2] for line in events) == sorted(
        [[f"vm{n}:", name] for n in (1, 2, 3) for name in ("STOP", "RESUME")]
    )


def test_a_target_lost_midway_is_status_4_the_others_finish() -> None:
    vms = [start_qemu() for _ in range(3)]
    try:
        with PipedQmpsh("--all", *(str(vm.qmp) for vm in vms), "-k") as run:
            run.send("query-name", "/wait RESUME timeout=60", "query-status")
            run.close_stdin()
            run.wait_output(lambda out: len(out.splitlines()) == 4, "the table of query-name")
            vms[0].process.kill()  # while it waits, or is about to
            for vm in vms[1:]:  # the others' /wait ends on the RESUME of stop and cont
                vm.client().cmd("stop")
                vm.client().cmd("cont")
            status, out, err = run.exit_status(30), run.stdout(), run.stderr()
        members = list(vms[1].client().cmd("query-status"))  # they vary with QEMU
    finally:
        for vm in vms:
            vm.stop()
    assert status == ExitStatus.LOST, (out, err)
    assert f"{vms[0].qmp}: connection closed by QEMU" in err
    table = out.splitlines()[-3:]  # query-status, on the two left: a table
    assert table[0].split() == ["target", *members]
    assert [row.split()[0] for row in table[1:]] == [str(vm.qmp) for vm in vms[1:]]


def test_targets_may_sit_before_and_after_all(fleet: Fleet) -> None:
    first, second, third = fleet.paths()
    done = run_qmpsh(first, second, "-c", "query-name", "--all", third, timeout=30)
    assert done.returncode == 0, done
    assert [row[0] for row in rows(done.stdout)] == ["target", "vm1", "vm2", "vm3"]


def test_usage_errors() -> None:
    done = run_qmpsh("--all", "-c", "query-status")
    assert (done.returncode, done.stderr) == (
        ExitStatus.USAGE,
        "qmpsh: --all needs at least one TARGET\n",
    )
    done = run_qmpsh("--all", "/x.sock", "--launch", "-c", "query-status")
    assert (done.returncode, done.stderr) == (
        ExitStatus.USAGE,
        "qmpsh: --all does not go with --launch or -l\n",
    )


def test_config_aliases_are_targets(fleet: Fleet, tmp_path: Path) -> None:
    config = tmp_path / "qmpsh" / "config.toml"
    config.parent.mkdir()
    first, second, _ = fleet.paths()
    config.write_text(f'[targets.web]\nsocket = "{first}"\n[targets.db]\nsocket = "{second}"\n')
    done = run_qmpsh(
        "--all", "web", "db", "-c", "query-name", env={"XDG_CONFIG_HOME": str(tmp_path)}
    )
    assert done.returncode == 0, done
    assert rows(done.stdout) == [["target", "name"], ["web", "testvm"], ["db", "testvm"]]


def test_a_script_from_dev_null_is_an_empty_script(fleet: Fleet) -> None:
    """``< /dev/null`` (cron, CI): a file the event loop cannot watch is read at once."""
    with open(os.devnull, "rb") as nothing:
        done = subprocess.run(
            [sys.executable, "-m", "qmpsh", "--all", *fleet.paths()[:2]],
            stdin=nothing,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
