"""Secrets never reach the history file or a transcript; the commands around them do.

Real QEMU (TCG, with a VNC server that takes passwords): every secret-bearing
command typed at a real prompt and run from a script with ``-l``, the files read
back afterwards. Redaction itself, on plain data, is ``test_redact.py``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qmpsh.errors import ExitStatus
from qmpsh.language.redact import REDACTED
from qmpsh.render.transcript import Transcript
from qmpsh.transport.messages import is_quiet
from tests.support.places import short_tempdir
from tests.support.qemu import Qemu, start_qemu
from tests.support.qmpsh_process import run_plain
from tests.support.repldriver import CTRL_D, Repl, running_repl

# --------------------------------------------------------------------------- pure: examples


# --------------------------------------------------------------------------- pure: property

# (line template, where {} is the value as written): every form a secret can take.


# --------------------------------------------------------------------------- real QEMU


@pytest.fixture
def vnc_qemu() -> Iterator[Qemu]:
    """QEMU with a VNC server on a unix socket that takes passwords (set_password needs
    it), and a secret object s0 whose data qom-set replaces."""
    directory = short_tempdir()
    vm = start_qemu(
        "-vnc", f"unix:{directory / 'vnc.sock'},password=on", "-object", "secret,id=s0,data=x"
    )
    yield vm
    vm.stop()
    shutil.rmtree(directory, ignore_errors=True)


class Secrets:
    """One fresh value per secret, so nothing else in a file can contain it by chance."""

    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.values = {n: f"S{n}x{token}" for n in range(1, 14)}

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
        (
            f"qom-set path=/objects/s0 property=data value={s[10]}",
            "qom-set path=/objects/s0 property=data value=",
        ),
        (
            '{"execute": "qom-set", "arguments": {"path": "/objects/s0", "property": "data", '
            f'"value": "{s[11]}"}}}}',
            '"path": "/objects/s0", "property": "data", "value": ',
        ),
        (f"/hmp migrate_set_parameter tls-creds {s[12]}", "/hmp migrate_set_parameter tls-creds "),
        (f"/hmp qom-set /objects/s0 data {s[13]}", "/hmp qom-set /objects/s0 data "),
    ]


def reached_qemu(qemu: Qemu, s: Secrets) -> None:
    """The secrets were sent whole: QEMU holds them (secret objects' data reads back)."""
    raw = qemu.client()
    data = {
        f"sec{i}": raw.cmd("qom-get", path=f"/objects/sec{i}", property="data") for i in range(4)
    }
    assert data == {"sec0": s[3], "sec1": s[5], "sec2": s[7], "sec3": f"a,{s[9]}"}
    assert raw.cmd("qom-get", path="/objects/s0", property="data") == s[13]
    assert raw.cmd("query-migrate-parameters")["tls-creds"] == s[12]
    assert raw.cmd("query-vnc")["auth"] == "vnc"


def ours(msg_id: object) -> bool:
    """Numbered by qmpsh for the user's command, not one of its own questions."""
    return str(msg_id).startswith("__qmp#") and not is_quiet(msg_id)


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
    sent = [m for m in sent_records(log) if ours(m.get("id"))]
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
        "qom-set",
        "qom-set",
        "human-monitor-command",
        "human-monitor-command",
    ]
    assert sent[0]["arguments"] == {"protocol": "vnc", "password": REDACTED}
    assert sent[2]["arguments"] == {"qom-type": "secret", "id": "sec0", "data": REDACTED}
    assert sent[3]["arguments"] == {"command-line": f"change vnc password {REDACTED}"}
    assert sent[4]["arguments"] == {"command-line": f"object_add secret,id=sec1,data={REDACTED}"}
    assert sent[5]["arguments"] == {"tls-creds": REDACTED}
    qom_set = {"path": "/objects/s0", "property": "data", "value": REDACTED}
    assert sent[9]["arguments"] == sent[10]["arguments"] == qom_set
    assert sent[11]["arguments"] == {"command-line": f"migrate_set_parameter tls-creds {REDACTED}"}
    assert sent[12]["arguments"] == {"command-line": f"qom-set /objects/s0 data {REDACTED}"}
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
