"""``/help COMMAND`` against a real QEMU: the tree of its own schema, through the real qmpsh."""

from __future__ import annotations

import pytest

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh

pytestmark = pytest.mark.every_qemu


def test_help_on_real_qemu(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), "-c", "/help blockdev-add driver=null-co")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "blockdev-add (command)"
    assert any(line.split()[:2] == ["size", "int"] for line in lines)
    done = run_qmpsh(str(qemu.qmp), "-c", "/help SHUTDOWN")
    lines = done.stdout.splitlines()  # the manual's description may come between
    assert lines[0] == "SHUTDOWN (event)" and "data:" in lines
    done = run_qmpsh(str(qemu.qmp), "-c", "/help query-sta")  # not a command: a filter
    assert "query-status" in done.stdout.splitlines()


def test_help_on_no_such_command_fails_the_script(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), input="/help query-stauts\nquery-status\n")
    assert done.returncode == 1
    assert done.stdout == ""  # the script stopped there
    assert done.stderr.startswith("line 1: unknown command or event 'query-stauts'; ")
    assert "did you mean 'query-status'?" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    done = run_qmpsh(str(qemu.qmp), "-c", "/help /wait")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "/wait EVENT [timeout=S] [k=v] (built-in)"
    assert any(line.split()[:2] == ["timeout=S", "optional"] for line in done.stdout.splitlines())
