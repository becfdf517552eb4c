"""``/help COMMAND`` against a real QEMU: the tree of its own schema, through the real qmpsh."""

from __future__ import annotations

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh


def test_help_on_real_qemu(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), "-c", "/help blockdev-add driver=null-co")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "blockdev-add (command)"
    assert any(line.split()[:2] == ["size", "int"] for line in lines)
    done = run_qmpsh(str(qemu.qmp), "-c", "/help SHUTDOWN")
    assert done.stdout.splitlines()[:2] == ["SHUTDOWN (event)", "data:"]
    done = run_qmpsh(str(qemu.qmp), "-c", "/help query-sta")  # not a command: a filter
    assert "query-status" in done.stdout.splitlines()
