"""The schema cache end to end against real QEMU: the transcript (``-l``) shows which questions
qmpsh asked, so a second run is seen to use the cache and a changed build not to.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh


def asked(log: Path) -> list[str]:
    """The commands qmpsh sent, in order, from its transcript; the file is emptied."""
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("")
    return [r["message"]["execute"] for r in sent if r["dir"] == "out"]


def cached(state: Path) -> Path:
    [path] = (state / "qmpsh" / "schemas").iterdir()
    return path


QOM_GET = "qom-get path=/machine property=type"


@pytest.mark.qemu
def test_the_second_run_uses_the_cache(qemu: Qemu, tmp_path: Path) -> None:
    log, env = tmp_path / "t.jsonl", {"XDG_STATE_HOME": str(tmp_path / "state")}
    first = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert (first.returncode, first.stdout, first.stderr) == (0, '"none-machine"\n', "")
    assert asked(log) == ["query-qmp-schema", "qom-get"]
    greeting = qemu.client().greeting["QMP"]["version"]
    path = cached(tmp_path / "state")
    kept = json.loads(path.read_bytes())
    assert kept["package"] == greeting["package"].strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    second = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert (second.returncode, second.stdout, second.stderr) == (0, '"none-machine"\n', "")
    assert asked(log) == ["query-commands", "qom-get"]  # no query-qmp-schema


@pytest.mark.qemu
def test_the_cached_schema_is_what_checks_arguments(qemu: Qemu, tmp_path: Path) -> None:
    """Proof that the file is read: an argument removed from the cached schema is refused."""
    log, env = tmp_path / "t.jsonl", {"XDG_STATE_HOME": str(tmp_path / "state")}
    assert run_qmpsh(str(qemu.qmp), "-c", QOM_GET, env=env).returncode == 0
    path = cached(tmp_path / "state")
    kept: dict[str, Any] = json.loads(path.read_bytes())
    [command] = [e for e in kept["schema"] if e["name"] == "qom-get"]
    [args] = [e for e in kept["schema"] if e["name"] == command["arg-type"]]
    args["members"] = [m for m in args["members"] if m["name"] != "property"]
    path.write_text(json.dumps(kept))
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert res.returncode == 1 and "unknown argument" in res.stderr, res
    assert asked(log) == ["query-commands"]


@pytest.mark.qemu
@pytest.mark.parametrize("change", ["version", "package", "commands", "corrupt"])
def test_a_changed_build_or_a_corrupt_file_means_asking_again(
    qemu: Qemu, tmp_path: Path, change: str
) -> None:
    log, env = tmp_path / "t.jsonl", {"XDG_STATE_HOME": str(tmp_path / "state")}
    assert run_qmpsh(str(qemu.qmp), "-c", QOM_GET, env=env).returncode == 0
    path = cached(tmp_path / "state")
    kept = json.loads(path.read_bytes())
    if change == "corrupt":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # as if the file came from another build of the same name
        kept[change] = ["no-such-command"] if change == "commands" else "other"
        path.write_text(json.dumps(kept))
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert (res.returncode, res.stdout, res.stderr) == (0, '"none-machine"\n', "")
    expected = ["query-qmp-schema", "qom-get"]
    if change == "commands":  # the file was read; the server's list did not match it
        expected.insert(0, "query-commands")
    assert asked(log) == expected
    assert json.loads(path.read_bytes())["schema"] == kept["schema"]  # rewritten, whole


@pytest.mark.qemu
def test_no_cache_without_negotiation(qemu: Qemu, tmp_path: Path) -> None:
    """-N (a guest agent's socket) has no greeting to key on: nothing is written."""
    state = tmp_path / "state"
    run_qmpsh(str(qemu.qmp), "-N", "-c", "query-status", env={"XDG_STATE_HOME": str(state)})
    assert not (state / "qmpsh" / "schemas").exists()
