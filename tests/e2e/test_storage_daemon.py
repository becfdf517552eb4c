"""qemu-storage-daemon: QEMU's block layer without a machine, on the same QMP.

Its monitor greets as QEMU does but has no machine, no run state and no HMP; qmpsh
runs on it as on QEMU, and says so where a QEMU habit does not apply.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmpsh.transport.launch import listening
from tests.support.places import short_tempdir
from tests.support.processes import end
from tests.support.qmpsh_process import out_lines, run_plain
from tests.support.waiting import wait_until

pytestmark = pytest.mark.qemu


@pytest.fixture
def storage_daemon() -> Iterator[Path]:
    """A qemu-storage-daemon with a null-co node ``n0``; its QMP socket."""
    binary = shutil.which("qemu-storage-daemon")
    assert binary, "qemu-storage-daemon is missing; the README's test command installs it"
    directory = short_tempdir()
    sock = directory / "qsd.sock"
    process = subprocess.Popen(
        [
            binary, "--blockdev", "null-co,node-name=n0,size=1048576",
            "--chardev", f"socket,path={sock},server=on,wait=off,id=m0", "--monitor", "chardev=m0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: listening(sock) or process.poll() is not None, "the daemon's socket")
        assert process.poll() is None, "qemu-storage-daemon exited"
        yield sock
    finally:
        end(process)
        shutil.rmtree(directory, ignore_errors=True)


def test_a_script_runs_on_the_daemons_block_layer(storage_daemon: Path) -> None:
    res = run_plain(str(storage_daemon), "-c", "query-named-block-nodes flat=true")
    assert res.code == 0, res
    assert '"node-name":"n0"' in res.stdout.replace(" ", "")


def test_hmp_on_the_daemon_says_it_has_none(storage_daemon: Path) -> None:
    res = run_plain(str(storage_daemon), "-c", "/hmp info block")
    assert res.code == 1, res
    assert res.stdout == ""
    [line] = out_lines(res.stderr)
    assert line.startswith("-c 1: CommandNotFound: "), line
    assert line.endswith("; this server has no HMP; it speaks only QMP"), line
