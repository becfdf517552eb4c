"""Schema checks before sending, end to end against real QEMU: typing, rejection, bypass."""

from __future__ import annotations

import json

import pytest

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import json_lines, no_traceback, run_qmpsh

pytestmark = [pytest.mark.qemu, pytest.mark.every_qemu]


def test_bare_number_for_a_string_member_is_sent_as_a_string(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), "-v", "-c", "human-monitor-command command-line=123")
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stderr.splitlines()[0])
    assert sent["arguments"] == {"command-line": "123"}
    assert "unknown command: '123'" in done.stdout  # HMP's own answer to the string


def test_bang_sends_as_typed_and_qemu_rejects_it(qemu: Qemu) -> None:
    done = run_qmpsh(str(qemu.qmp), "-c", "!human-monitor-command command-line=123")
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "-c 1: human-monitor-command: GenericError: Invalid parameter type for 'command-line'"
    )


def test_schema_error_stops_the_script_before_anything_is_sent(qemu: Qemu) -> None:
    script = "blockdev-add driver=qcow3 node-name=x\nstop\n"
    done = run_qmpsh(str(qemu.qmp), input=script)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "line 1: driver: 'qcow3' is not a valid value; did you mean 'qcow2'? (column 14)\n"
    )
    raw = qemu.client()
    assert raw.cmd("query-status")["running"] is True
    assert all(n["node-name"] != "x" for n in raw.cmd("query-named-block-nodes"))


def test_unknown_argument_names_the_closest_one(qemu: Qemu) -> None:
    line = f"blockdev-add driver=qcow2 node-name=n file.driver=file file.filenme={qemu.image}"
    done = run_qmpsh(str(qemu.qmp), "-c", line)
    assert done.returncode == 1
    assert done.stderr == (
        "-c 1: unknown argument 'file.filenme'; did you mean 'file.filename'? (column 56)\n"
    )


def test_qmpsh_own_questions_stay_out_of_json_output(qemu: Qemu) -> None:
    """The schema fetch behind the check is not the user's traffic."""
    done = run_qmpsh(
        str(qemu.qmp), "--json", "-v", "-c", "blockdev-add driver=null-co node-name=n0 size=4096"
    )
    assert done.returncode == 0, done.stderr
    assert [set(m) for m in json_lines(done.stdout)] == [{"return", "id"}]
    sent = json_lines(done.stderr)
    assert [m["execute"] for m in sent] == ["blockdev-add"]
    assert sent[0]["arguments"] == {"driver": "null-co", "node-name": "n0", "size": 4096}


def test_keyval_array_keys_set_migration_capabilities(qemu: Qemu) -> None:
    script = (
        "migrate-set-capabilities capabilities.0.capability=events capabilities.0.state=true\n"
        "query-migrate-capabilities\n"
    )
    done = run_qmpsh(str(qemu.qmp), "--json", input=script)
    no_traceback(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    _, caps = json_lines(done.stdout)
    states = {c["capability"]: c["state"] for c in caps["return"]}
    assert states["events"] is True
