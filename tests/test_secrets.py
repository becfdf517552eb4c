"""Secrets never reach the history file or a transcript; the commands around them do.

Pure tests of ``qmpsh.secrets`` (examples and a hypothesis property: whatever the
value, it does not survive ``redact_input``), then real QEMU (TCG, with a VNC
server that takes passwords): every secret-bearing command typed at a real
prompt and run from a script with ``-l``, the files read back afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from qmpsh.errors import ExitStatus
from qmpsh.language.redact import REDACTED, is_secret, redact_hmp, redact_input, redact_message
from qmpsh.render.transcript import Transcript
from tests.support.fuzzcount import scaled
from tests.support.places import short_tempdir
from tests.support.qemu import Qemu, start_qemu
from tests.support.qmpsh_process import run_plain
from tests.support.repldriver import CTRL_D, Repl, running_repl

# --------------------------------------------------------------------------- pure: examples


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            "set_password protocol=vnc password=hunter2 connected=keep",
            "set_password protocol=vnc password=<redacted> connected=keep",
        ),
        ("change-vnc-password password='hun ter2'", "change-vnc-password password=<redacted>"),
        (
            'change-vnc-password password="hun\\"ter2"',
            "change-vnc-password password=<redacted>",
        ),
        (
            "object-add qom-type=secret id=sec0 data=hunter2 format=raw",
            "object-add qom-type=secret id=sec0 data=<redacted> format=raw",
        ),
        (
            "migrate-set-parameters tls-creds=hunter2 max-bandwidth=100",
            "migrate-set-parameters tls-creds=<redacted> max-bandwidth=100",
        ),
        (
            'human-monitor-command command-line="change vnc password hunter2"',
            'human-monitor-command command-line="change vnc password <redacted>"',
        ),
        ("/hmp change vnc password hunter2", "/hmp change vnc password <redacted>"),
        ('/hmp change vnc password "hun ter2"', "/hmp change vnc password <redacted>"),
        ("/hmp set_password vnc hunter2 keep", "/hmp set_password vnc <redacted> keep"),
        (
            "/hmp object_add secret,id=s1,data=hun,,ter2,format=raw",
            "/hmp object_add secret,id=s1,data=<redacted>,format=raw",
        ),
        (
            "!set_password protocol=vnc password=hunter2",
            "!set_password protocol=vnc password=<redacted>",
        ),
        (
            "  /fd /tmp/f object-add qom-type=secret id=s data=hunter2",
            "  /fd /tmp/f object-add qom-type=secret id=s data=<redacted>",
        ),
        (
            "transaction( change-vnc-password password=hunter2 ; stop )",
            "transaction( change-vnc-password password=<redacted> ; stop )",
        ),
        (
            '{"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", '
            '"data": "hunter2"}}',
            '{"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", '
            '"data": "<redacted>"}}',
        ),
        (
            '!{"execute":"change-vnc-password","arguments":{"password":"hunter2"}}',
            '!{"execute": "change-vnc-password", "arguments": {"password": "<redacted>"}}',
        ),
        # unparsable, but about a secret: kept nowhere
        ('set_password protocol=vnc password="hunter2', None),
        ('migrate-set-parameters tls-creds="hunter2', None),
        ('object-add qom-type=secret id=s data="hunter2', None),
        # nothing secret: kept as typed (a key-secret is the id of a secret object)
        (
            "blockdev-add driver=luks node-name=l0 key-secret=sec0 file=f0",
            "blockdev-add driver=luks node-name=l0 key-secret=sec0 file=f0",
        ),
        (
            "object-add qom-type=memory-backend-ram id=data size=1M",
            "object-add qom-type=memory-backend-ram id=data size=1M",
        ),
        ('query-status x="oops', 'query-status x="oops'),
        ("/wait BLOCK_JOB_READY device=j0", "/wait BLOCK_JOB_READY device=j0"),
        ("/fd /tmp/f getfd fdname=f0", "/fd /tmp/f getfd fdname=f0"),
    ],
)
def test_redact_input_keeps_the_command_and_drops_the_secret(line: str, kept: str | None) -> None:
    assert redact_input(line) == kept
    if kept is not None and kept != line:
        assert "hun" in line and "ter2" in line
        assert "hun" not in kept and "ter2" not in kept


def test_redact_input_in_hmp_mode() -> None:
    assert redact_input("change vnc password hunter2", hmp_mode=True) == (
        "change vnc password <redacted>"
    )
    assert redact_input("info status", hmp_mode=True) == "info status"
    assert redact_input("/qmp", hmp_mode=True) == "/qmp"


def test_redact_message_in_every_place_a_secret_goes() -> None:
    message: dict[str, Any] = {
        "execute": "object-add",
        "arguments": {"qom-type": "secret", "id": "s0", "data": "hunter2", "format": "raw"},
        "id": "__qmp#00001",
    }
    assert redact_message(message) == {
        "execute": "object-add",
        "arguments": {"qom-type": "secret", "id": "s0", "data": REDACTED, "format": "raw"},
        "id": "__qmp#00001",
    }
    assert message["arguments"]["data"] == "hunter2"  # a copy: what is sent is untouched
    old_style = {  # before QEMU 6.0, object-add's properties sat under props
        "execute": "object-add",
        "arguments": {"qom-type": "secret", "id": "s0", "props": {"data": "hunter2"}},
    }
    assert redact_message(old_style)["arguments"] == {
        "qom-type": "secret",
        "id": "s0",
        "props": {"data": REDACTED},
    }
    hmp = {
        "execute": "human-monitor-command",
        "arguments": {"command-line": "object_add secret,id=s1,data=hunter2"},
    }
    assert redact_message(hmp)["arguments"] == {
        "command-line": "object_add secret,id=s1,data=<redacted>"
    }
    actions = {
        "execute": "transaction",
        "arguments": {
            "actions": [
                {"type": "x-secretive", "data": {"password": "hunter2", "node": "n0"}},
                {"type": "block-dirty-bitmap-add", "data": {"node": "n0", "name": "b0"}},
            ]
        },
    }
    assert redact_message(actions)["arguments"] == {
        "actions": [
            {"type": "x-secretive", "data": {"password": REDACTED, "node": "n0"}},
            {"type": "block-dirty-bitmap-add", "data": {"node": "n0", "name": "b0"}},
        ]
    }
    nested = {"execute": "x", "arguments": {"a": {"new-passphrase": "x", "b": [{"passwd": "y"}]}}}
    assert redact_message(nested)["arguments"] == {
        "a": {"new-passphrase": REDACTED, "b": [{"passwd": REDACTED}]}
    }
    untouched = {"execute": "query-name", "id": 3}
    assert redact_message(untouched) == untouched
    event = {"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}
    assert redact_message(event) == event


@pytest.mark.parametrize(
    ("command", "path", "given", "secret"),
    [
        ("set_password", ("password",), {}, True),
        ("change-vnc-password", ("password",), {}, True),
        ("x", ("luks", "key-passphrase"), {}, True),  # suffix
        ("x", ("new-secret",), {}, True),
        ("object-add", ("data",), {"qom-type": "secret"}, True),
        ("object-add", ("data",), {"qom-type": "secret_keyring"}, True),
        ("object-add", ("data",), {"qom-type": "memory-backend-ram"}, False),
        ("migrate-set-parameters", ("tls-creds",), {}, True),
        ("migrate-set-parameters", ("max-bandwidth",), {}, False),
        ("blockdev-add", ("key-secret",), {}, False),  # an id, not the secret
        ("query-status", ("tls-creds",), {}, False),
    ],
)
def test_is_secret(
    command: str, path: tuple[str, ...], given: dict[str, object], secret: bool
) -> None:
    assert is_secret(command, path, given) is secret


def test_redact_hmp() -> None:
    assert redact_hmp("change vnc password hunter2") == "change vnc password <redacted>"
    assert redact_hmp("  set_password spice hunter2 fail") == "  set_password spice <redacted> fail"
    assert redact_hmp('change vnc password "hun\\"ter2"') == "change vnc password <redacted>"
    assert (
        redact_hmp("object_add secret,id=s,data=hunter2")
        == "object_add secret,id=s,data=<redacted>"
    )
    assert (
        redact_hmp("object_add secret,data=a,,b,,,id=s") == "object_add secret,data=<redacted>,id=s"
    )
    assert redact_hmp("drive_add 0 if=none,file=x,password=hunter2") == (
        "drive_add 0 if=none,file=x,password=<redacted>"
    )
    assert redact_hmp("change ide1-cd0 /tmp/data.iso") == "change ide1-cd0 /tmp/data.iso"
    assert redact_hmp("info vnc") == "info vnc"


# --------------------------------------------------------------------------- pure: property

# (line template, where {} is the value as written): every form a secret can take.
SHORTHAND = [
    "set_password protocol=vnc password={} connected=keep",
    "change-vnc-password password={}",
    "object-add qom-type=secret id=sec0 data={}",
    "object-add id=sec0 data={} qom-type=secret_keyring serial=1",
    "migrate-set-parameters tls-creds={} max-bandwidth=100",
    "transaction( change-vnc-password password={} ; stop )",
    "!set_password protocol=vnc password={}",
    "/fd /tmp/f set_password protocol=vnc password={}",
]
RAW = [
    ("set_password", {"protocol": "vnc", "password": "{}"}),
    ("object-add", {"qom-type": "secret", "id": "s", "data": "{}"}),
    ("migrate-set-parameters", {"tls-authz": "{}"}),
]
HMP = [
    "/hmp change vnc password {}",
    "/hmp set_password vnc {} keep",
    "/hmp object_add secret,id=s0,data={},format=raw",
]


def quoted(value: str) -> str:
    """The shorthand's double-quoted form: only backslash and quote are escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lines_holding(value: str) -> list[tuple[str, str]]:
    """(line with ``value`` written in, the same line with ``<redacted>`` instead)."""
    written: list[tuple[str, str]] = []

    def fill(template: str, as_written: str) -> None:
        written.append((template.replace("{}", as_written), template.replace("{}", REDACTED)))

    for template in SHORTHAND:
        fill(template, quoted(value))
        if re.fullmatch(r"[\w.:/@+-]+", value):  # also bare, where the parser reads it whole
            fill(template, value)
    for command, arguments in RAW:
        line, skeleton = (
            {"execute": command, "arguments": {k: v.replace("{}", x) for k, v in arguments.items()}}
            for x in (value, REDACTED)
        )
        written.append((json.dumps(line), json.dumps(skeleton)))
    hmp = value.replace(",", ",,")  # QemuOpts' escape for a comma inside a value
    if value.strip() and not re.search(r"[\s\"]", value):
        for template in HMP:
            fill(template, hmp)
        hmp_line = HMP[0].replace("{}", hmp).removeprefix("/hmp ")
        hmp_skeleton = HMP[0].replace("{}", REDACTED).removeprefix("/hmp ")
        written.append(
            (
                f"human-monitor-command command-line={quoted(hmp_line)}",
                f"human-monitor-command command-line={quoted(hmp_skeleton)}",
            )
        )
    return written


@settings(max_examples=scaled(400), deadline=None)
@given(st.text(min_size=4, max_size=40))
@example("hunter2,,x")
@example('a"b c')
@example("S3 x,data=y")
@example("\\\\")
@example("name")
def test_no_secret_value_survives_redact_input(value: str) -> None:
    for line, skeleton in lines_holding(value):
        assume(value not in skeleton)  # else it is there whatever happens to the secret
        kept = redact_input(line)
        assert kept is None or value not in kept, (line, kept)
        if kept is not None:  # what is kept is the command without the secret
            assert kept == skeleton.strip() or kept == skeleton


# --------------------------------------------------------------------------- real QEMU


@pytest.fixture
def vnc_qemu() -> Iterator[Qemu]:
    """QEMU with a VNC server on a unix socket that takes passwords (set_password needs it)."""
    directory = short_tempdir()
    vm = start_qemu("-vnc", f"unix:{directory / 'vnc.sock'},password=on")
    yield vm
    vm.stop()
    shutil.rmtree(directory, ignore_errors=True)


class Secrets:
    """One fresh value per secret, so nothing else in a file can contain it by chance."""

    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.values = {n: f"S{n}x{token}" for n in range(1, 10)}

    def __getitem__(self, n: int) -> str:
        return self.values[n]

    def absent_from(self, path: Path) -> None:
        for line in path.read_text().splitlines():
            leaked = [value for value in self.values.values() if value in line]
            assert not leaked, f"{leaked} in {path}: {line[:300]}"


def commands(s: Secrets) -> list[tuple[str, str]]:
    """(line as typed, line as it may be kept): each of them succeeds on QEMU 7.2."""
    return [
        (f"set_password protocol=vnc password={s[1]}", "set_password protocol=vnc password="),
        (f"change-vnc-password password={s[2]}", "change-vnc-password password="),
        (f"object-add qom-type=secret id=sec0 data={s[3]}", "object-add qom-type=secret id=sec0"),
        (
            f'human-monitor-command command-line="change vnc password {s[4]}"',
            'human-monitor-command command-line="change vnc password ',
        ),
        (f"/hmp object_add secret,id=sec1,data={s[5]}", "/hmp object_add secret,id=sec1,data="),
        (f"migrate-set-parameters tls-creds={s[6]}", "migrate-set-parameters tls-creds="),
        (
            '{"execute": "object-add", "arguments": {"qom-type": "secret", "id": "sec2", '
            f'"data": "{s[7]}"}}}}',
            '"qom-type": "secret", "id": "sec2"',
        ),
        (f"/hmp set_password vnc {s[8]}", "/hmp set_password vnc "),
        (f"/hmp object_add secret,id=sec3,data=a,,{s[9]}", "/hmp object_add secret,id=sec3,data="),
    ]


def reached_qemu(qemu: Qemu, s: Secrets) -> None:
    """The secrets were sent whole: QEMU holds them (secret objects' data reads back)."""
    raw = qemu.client()
    data = {
        f"sec{i}": raw.cmd("qom-get", path=f"/objects/sec{i}", property="data") for i in range(4)
    }
    assert data == {"sec0": s[3], "sec1": s[5], "sec2": s[7], "sec3": f"a,{s[9]}"}
    assert raw.cmd("query-vnc")["auth"] == "vnc"


def sent_records(transcript: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    return [r["message"] for r in records if r["dir"] == "out"]


def answered(r: Repl, commands: int) -> Callable[[], bool]:
    """True once ``commands`` commands were sent and the prompt is back."""
    return lambda: len(r.sent) == commands and r.at_prompt()


@pytest.mark.qemu
def test_secrets_typed_at_the_prompt_reach_neither_history_nor_transcript(
    vnc_qemu: Qemu, tmp_path: Path
) -> None:
    history = tmp_path / "state" / "history"
    log = tmp_path / "transcript.jsonl"
    s = Secrets()

    async def body() -> None:
        async with running_repl(vnc_qemu, history=history) as r:
            transcript = Transcript(log, str(vnc_qemu.qmp))
            r.session.transport.observe(transcript, quiet=True)  # as cli does for -l
            try:
                for count, (typed, _) in enumerate(commands(s), 1):
                    r.type(typed + "\r")
                    await r.until(answered(r, count), typed)
                await r.enter("/hmp", "HMP mode")
                await r.enter(f"change vnc password {s[4]}", "")
                await r.enter("/qmp", "QMP mode")
                await r.enter("query-name", '"testvm"')
                assert "Error" not in r.output(), r.output()
                r.type(CTRL_D)
                assert await r.finish() == ExitStatus.OK
            finally:
                transcript.close()

    asyncio.run(body())
    reached_qemu(vnc_qemu, s)
    s.absent_from(history)
    s.absent_from(log)
    entries = [line[1:] for line in history.read_text().splitlines() if line.startswith("+")]
    expected = [kept for _, kept in commands(s)]
    assert len(entries) == len(expected) + 4
    for entry, kept in zip(entries, expected, strict=False):
        assert kept in entry and REDACTED in entry, (entry, kept)
    assert entries[-4:] == ["/hmp", "change vnc password <redacted>", "/qmp", "query-name"]
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    sent = [m for m in sent_records(log) if m.get("execute") != "query-name"]
    assert sum(REDACTED in json.dumps(m) for m in sent) == len(expected) + 1


@pytest.mark.qemu
def test_secrets_in_a_script_with_a_transcript(vnc_qemu: Qemu, tmp_path: Path) -> None:
    log = tmp_path / "transcript.jsonl"
    s = Secrets()
    script = "".join(typed + "\n" for typed, _ in commands(s))
    res = run_plain(str(vnc_qemu.qmp), "-l", str(log), "-v", input=script)
    assert res.code == 0, res
    reached_qemu(vnc_qemu, s)
    s.absent_from(log)
    sent = [m for m in sent_records(log) if str(m.get("id", "")).startswith("__qmp#")]
    assert [m["execute"] for m in sent] == [
        "set_password",
        "change-vnc-password",
        "object-add",
        "human-monitor-command",
        "human-monitor-command",
        "migrate-set-parameters",
        "object-add",
        "human-monitor-command",
        "human-monitor-command",
    ]
    assert sent[0]["arguments"] == {"protocol": "vnc", "password": REDACTED}
    assert sent[2]["arguments"] == {"qom-type": "secret", "id": "sec0", "data": REDACTED}
    assert sent[3]["arguments"] == {"command-line": f"change vnc password {REDACTED}"}
    assert sent[4]["arguments"] == {"command-line": f"object_add secret,id=sec1,data={REDACTED}"}
    assert sent[5]["arguments"] == {"tls-creds": REDACTED}
    # -v shows the user what was really sent, on their own terminal; the file never has it
    assert s[1] in res.stderr and s[7] in res.stderr


def test_a_secret_read_back_is_shown_but_not_written_to_the_transcript(
    vnc_qemu: Qemu, tmp_path: Path
) -> None:
    """qom-get of a secret object's data returns the secret: the user asked to see it,
    the transcript on disk keeps the command and not the value."""
    log = tmp_path / "transcript.jsonl"
    secret = "read-back-" + secrets.token_hex(6)
    script = (
        f"object-add qom-type=secret id=rb0 data={secret}\n"
        "qom-get path=/objects/rb0 property=data\n"
        "qom-get path=/objects/rb0 property=format\n"
    )
    res = run_plain(str(vnc_qemu.qmp), "-l", str(log), input=script)
    assert res.code == 0, res
    assert res.stdout.splitlines() == ["{}", json.dumps(secret), '"raw"']
    text = log.read_text()
    assert secret not in text
    records = [json.loads(line) for line in text.splitlines()]
    replies = [r["message"] for r in records if r["dir"] == "in"]
    assert replies[-2]["return"] == REDACTED
    assert replies[-1]["return"] == "raw"  # other properties are kept
