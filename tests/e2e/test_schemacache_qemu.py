"""The schema cache end to end against real QEMU: the transcript (``-l``) shows which questions
qmpsh asked, so a second run is seen to use the cache and a changed build not to, and a file
that disagrees with QEMU (written after a server posing as this build, or edited) never
refuses a valid command. The poser is the fake server: no real QEMU serves a wrong schema.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakeserver import FakeServer
from tests.support.qemu import Qemu
from tests.support.qmpsh_process import run_qmpsh

pytestmark = pytest.mark.every_qemu


def asked(log: Path) -> list[str]:
    """The commands qmpsh sent, in order, from its transcript; the file is emptied."""
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("")
    return [r["message"]["execute"] for r in sent if r["dir"] == "out"]


def cached(state: Path) -> Path:
    [path] = (state / "qmpsh" / "schemas").iterdir()
    return path


QOM_GET = "qom-get path=/machine property=type"


def without_member(schema: list[dict[str, Any]], command: str, member: str) -> None:
    """Take ``member`` out of ``command``'s arguments in ``schema`` (in place)."""
    [entry] = [e for e in schema if e["name"] == command]
    [args] = [e for e in schema if e["name"] == entry["arg-type"]]
    args["members"] = [m for m in args["members"] if m["name"] != member]


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
def test_a_cached_schema_that_refuses_is_checked_against_qemu_s_own(
    qemu: Qemu, tmp_path: Path
) -> None:
    """An argument removed from the file (edited, still valid JSON): the file is read, but
    before refusing qmpsh asks QEMU for its schema once, goes on with it, replaces the file."""
    log, env = tmp_path / "t.jsonl", {"XDG_STATE_HOME": str(tmp_path / "state")}
    assert run_qmpsh(str(qemu.qmp), "-c", QOM_GET, env=env).returncode == 0
    path = cached(tmp_path / "state")
    kept: dict[str, Any] = json.loads(path.read_bytes())
    real = json.loads(json.dumps(kept["schema"]))
    without_member(kept["schema"], "qom-get", "property")
    path.write_text(json.dumps(kept))
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert (res.returncode, res.stdout, res.stderr) == (0, '"none-machine"\n', "")
    assert asked(log) == ["query-commands", "query-qmp-schema", "qom-get"]
    assert json.loads(path.read_bytes())["schema"] == real
    # a command that is really wrong is refused by qmpsh, after QEMU's schema says so too
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET + " bogus=1", env=env)
    assert res.returncode == 1 and "unknown argument 'bogus'" in res.stderr, res
    assert asked(log) == ["query-commands", "query-qmp-schema"]


@pytest.mark.qemu
def test_a_schema_served_by_a_poser_does_not_stay_in_the_way(qemu: Qemu, tmp_path: Path) -> None:
    """A server greeting as this very QEMU (version and package) with a tampered schema
    writes the cache; the real QEMU then runs the command, and the file is QEMU's again."""
    log, env = tmp_path / "t.jsonl", {"XDG_STATE_HOME": str(tmp_path / "state")}
    raw = qemu.client()
    real = raw.cmd("query-qmp-schema")
    tampered = json.loads(json.dumps(real))
    without_member(tampered, "qom-get", "path")
    listed = raw.cmd("query-commands")
    served = {"query-qmp-schema": tampered, "query-commands": listed, "qom-get": "x"}
    with FakeServer(version=raw.greeting["QMP"]["version"], commands=served) as poser:
        res = run_qmpsh(str(poser.path), "-c", QOM_GET, env=env)
    assert res.returncode == 1 and "unknown argument 'path'" in res.stderr, res
    path = cached(tmp_path / "state")
    assert json.loads(path.read_bytes())["schema"] == tampered

    res = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert (res.returncode, res.stdout, res.stderr) == (0, '"none-machine"\n', "")
    assert asked(log) == ["query-commands", "query-qmp-schema", "qom-get"]
    assert json.loads(path.read_bytes())["schema"] == real
    res = run_qmpsh(str(qemu.qmp), "-l", str(log), "-c", QOM_GET, env=env)
    assert (res.returncode, res.stdout) == (0, '"none-machine"\n'), res
    assert asked(log) == ["query-commands", "qom-get"]  # the replaced file is used again

    # queries a script sends ahead are checked with the file's schema: not refused by it
    tampered = json.loads(json.dumps(real))
    without_member(tampered, "query-command-line-options", "option")
    served["query-qmp-schema"] = tampered
    path.unlink()
    with FakeServer(version=raw.greeting["QMP"]["version"], commands=served) as poser:
        assert run_qmpsh(str(poser.path), "-c", QOM_GET, env=env).returncode == 0
    assert json.loads(path.read_bytes())["schema"] == tampered
    script = "qom-list path=/machine\n" + "query-command-line-options option=chardev\n" * 3
    res = run_qmpsh(str(qemu.qmp), input=script, env=env)
    assert (res.returncode, res.stderr) == (0, ""), res


@pytest.mark.qemu
@pytest.mark.parametrize(
    "change", ["version", "package", "commands", "corrupt", "no schema", "nested 200,000 deep"]
)
def test_a_changed_build_or_a_corrupt_file_means_asking_again(
    qemu: Qemu, tmp_path: Path, change: str
) -> None:
    log, env = tmp_path / "t.jsonl", {"XDG_STATE_HOME": str(tmp_path / "state")}
    assert run_qmpsh(str(qemu.qmp), "-c", QOM_GET, env=env).returncode == 0
    path = cached(tmp_path / "state")
    kept = json.loads(path.read_bytes())
    if change == "corrupt":
        path.write_bytes(path.read_bytes()[:1000])
    elif change.startswith("nested"):  # more than Python's JSON decoder goes
        path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    elif change == "no schema":  # valid JSON, but its schema is not shaped like one
        path.write_text(json.dumps({**kept, "schema": [{"name": "qom-get"}, 7]}))
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
