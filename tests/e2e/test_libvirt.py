"""Libvirt domains as targets, against a real libvirtd with the QEMU driver.

One session-wide libvirtd (started by ``tests/libvirt_setup.sh`` unless one is
already running) and one 64 MiB TCG domain serve every test; the tests that end
a domain start a transient one of their own. The daemons the set-up started
are stopped afterwards (``tests/libvirt_teardown.sh``), unless another test run
still has a domain on them (its teardown stops them). Running libvirtd with
the QEMU driver needs root: as any other user the whole file is skipped.

Every spelling of a libvirt target is driven as a user drives it (``qmpsh``
processes, a pty for the prompt), plus the REPL in-process through
prompt_toolkit's pipe input, as ``test_repl`` does for sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from qmpsh.errors import ConnectFailed, ConnectionLost, ExitStatus, InputError
from qmpsh.session.session import Session
from qmpsh.transport.libvirt import LibvirtTransport, domain_names
from qmpsh.transport.targets import (
    fleet_domains,
    make_transport,
)
from tests.support.libvirt import DOMAIN, URI, Libvirt
from tests.support.places import short_tempdir
from tests.support.pty_process import PtyProcess
from tests.support.qmpsh_process import PipedQmpsh, json_lines, lines, no_traceback, run_qmpsh
from tests.support.repldriver import Repl, repl_over
from tests.support.shells import bash_candidates, fish_candidates, make_world, write_zshrc
from tests.support.tmux import Terminal
from tests.support.waiting import wait_until

pytestmark = pytest.mark.qemu

TAINT = "'tainted' (custom-monitor)"
DEADLINE = 10.0


def run_domain(*args: str, input: str = "", env: dict[str, str] | None = None) -> Any:
    return run_qmpsh(*args, input=input, timeout=30, env=env)


def taints(stderr: str) -> int:
    return stderr.count(TAINT)


# -- no daemon needed (TARGET spellings: test_targets.py)


def test_usage_errors_exit_2() -> None:
    for args in (["--libvirt"], ["--connect", "qemu:///system"], ["--libvirt", "--launch"]):
        done = run_qmpsh(*args, "-c", "query-status")
        assert done.returncode == ExitStatus.USAGE, (args, done.stderr)
        assert len(lines(done.stderr)) == 1, done.stderr
    done = run_qmpsh("-N", "qemu:///system/web1", "-c", "query-status")
    assert done.returncode == ExitStatus.USAGE
    assert "not a libvirt domain" in done.stderr


def test_missing_binding_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "libvirt.py").write_text("raise ImportError('hidden by the test')\n")
    done = run_qmpsh("--libvirt", "web1", "-c", "query-status", env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == ExitStatus.CONNECT
    assert lines(done.stderr) == [
        "qmpsh: libvirt domains need the libvirt Python binding: pip install "
        "'qmpsh[libvirt]' (it compiles against libvirt: apt-get install libvirt-dev "
        "pkg-config gcc python3-dev)"
    ]


# -- scripts through the real daemon

SCRIPT = """\
query-status
qom-get path=/machine property=type
{"execute": "query-name", "id": "mine"}
/hmp info status
"""


#: Another URI for the same daemon, through libvirt's remote driver (as qemu+ssh:// goes).
REMOTE = "qemu+unix:///system?socket=/run/libvirt/libvirt-sock"


@pytest.mark.parametrize(
    "spelling", ["--libvirt", "--connect", "target", "--connect remote", "target remote"]
)
def test_script_through_each_spelling(libvirt: Libvirt, spelling: str) -> None:
    args = {
        "--libvirt": ["--libvirt", libvirt.domain],
        "--connect": ["--connect", URI, libvirt.domain],
        "target": [libvirt.target],
        "--connect remote": ["--connect", REMOTE, libvirt.domain],
        "target remote": [REMOTE.replace("?", f"/{libvirt.domain}?")],
    }[spelling]
    done = run_domain(*args, input=SCRIPT)
    assert done.returncode == ExitStatus.OK, done.stderr
    out = lines(done.stdout)
    assert json.loads(out[0])["status"] == "running"
    assert json.loads(out[1]) == "pc-i440fx-7.2-machine"
    assert json.loads(out[2]) == {"name": libvirt.domain}
    assert out[3] == "VM status: running"
    assert taints(done.stderr) == 1, done.stderr  # once per session, not per command
    assert f"domain {libvirt.domain!r}" in done.stderr
    no_traceback(done.stdout, done.stderr)


def test_default_uri_comes_from_the_environment(libvirt: Libvirt) -> None:
    done = run_domain(
        "--libvirt", libvirt.domain, "-c", "query-status", env={"LIBVIRT_DEFAULT_URI": URI}
    )
    assert done.returncode == ExitStatus.OK, done.stderr
    nowhere = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    done = run_domain(
        "--libvirt", libvirt.domain, "-c", "query-status", env={"LIBVIRT_DEFAULT_URI": nowhere}
    )
    assert done.returncode == ExitStatus.CONNECT
    assert lines(done.stderr) == [  # as if libvirtd were not running
        f"qmpsh: qemu+unix:///system/{libvirt.domain}?socket=/nonexistent/libvirt-sock: "
        "cannot reach libvirtd (Failed to connect socket to '/nonexistent/libvirt-sock': "
        "No such file or directory); is it running?"
    ]


def test_failing_command_exits_1_and_stops(libvirt: Libvirt) -> None:
    done = run_domain(libvirt.target, input="query-name\n!no-such-command\nquery-status\n")
    assert done.returncode == ExitStatus.FAILED
    assert len(lines(done.stdout)) == 1  # query-status after the failure did not run
    assert "CommandNotFound: The command no-such-command has not been found" in done.stderr
    done = run_domain(libvirt.target, "-k", input="!no-such-command\nquery-status\n")
    assert done.returncode == ExitStatus.FAILED
    assert json.loads(lines(done.stdout)[0])["running"] is True


def test_json_lines_keep_the_users_id(libvirt: Libvirt) -> None:
    done = run_domain(
        libvirt.target,
        "--json",
        input='{"execute": "query-name", "id": "mine"}\nquery-status\n',
    )
    assert done.returncode == ExitStatus.OK, done.stderr
    first, second = json_lines(done.stdout)
    assert first == {"return": {"name": libvirt.domain}, "id": "mine"}
    assert second["return"]["running"] is True
    assert "id" in second  # libvirt's own id, as QEMU sent it


def test_events_and_wait(libvirt: Libvirt) -> None:
    done = run_domain(
        libvirt.target,
        "--events",
        input="stop\nquery-status\ncont\n/wait RESUME timeout=5\n",
    )
    assert done.returncode == ExitStatus.OK, done.stderr
    shown = json_lines(done.stdout)
    events = [msg["event"] for msg in shown if isinstance(msg, dict) and "event" in msg]
    assert events == ["STOP", "RESUME"], shown  # /wait does not print RESUME again
    stop = next(msg for msg in shown if isinstance(msg, dict) and msg.get("event") == "STOP")
    assert set(stop["timestamp"]) == {"seconds", "microseconds"}
    statuses = [msg for msg in shown if isinstance(msg, dict) and "status" in msg]
    assert [(s["status"], s["running"]) for s in statuses] == [("paused", False)]
    done = run_domain(libvirt.target, "--json", input="/wait RESUME timeout=0.5\n")
    assert done.returncode == ExitStatus.FAILED  # nothing happened after the start


def test_schema_check_through_libvirt(libvirt: Libvirt) -> None:
    done = run_domain(libvirt.target, "-v", "-c", "blockdev-add driver=qcow2 node-nam=x")
    assert done.returncode == ExitStatus.FAILED
    assert "unknown argument 'node-nam'; did you mean 'node-name'?" in done.stderr
    assert "blockdev-add" not in done.stderr.split("did you mean")[-1]
    assert '"execute": "blockdev-add"' not in done.stderr  # -v: never sent
    # typed by the schema: qom-get's path is a str, sent as written
    done = run_domain(libvirt.target, "-c", "qom-list path=/machine/unattached")
    assert done.returncode == ExitStatus.OK, done.stderr


def test_file_descriptors_are_refused(libvirt: Libvirt, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("")
    done = run_domain(libvirt.target, "-c", f"/fd {path} getfd fdname=f0")
    assert done.returncode == ExitStatus.FAILED
    assert "passing file descriptors is not supported through libvirt" in done.stderr


def test_no_such_domain_exits_3(libvirt: Libvirt) -> None:
    done = run_domain("--libvirt", "qmpsh-no-such-domain", "-c", "query-status")
    assert done.returncode == ExitStatus.CONNECT
    assert lines(done.stderr) == [
        f"qmpsh: {URI}/qmpsh-no-such-domain: no domain 'qmpsh-no-such-domain' at {URI} "
        f"('virsh -c {URI} list --all' lists them)"
    ]
    assert taints(done.stderr) == 0


def test_domain_not_running_exits_3(libvirt: Libvirt) -> None:
    name = f"{libvirt.domain}-off"
    xml = libvirt.workdir / f"{name}.xml"
    xml.write_text((libvirt.workdir / f"{libvirt.domain}.xml").read_text().replace(DOMAIN, name))
    libvirt.virsh("define", str(xml))
    try:
        done = run_domain("--libvirt", name, "-c", "query-status")
    finally:
        libvirt.virsh("undefine", name)
    assert done.returncode == ExitStatus.CONNECT
    assert f"domain {name!r} is not running (virsh -c {URI} start {name})" in done.stderr


def test_domain_destroyed_mid_script_exits_4(libvirt: Libvirt) -> None:
    name = f"{libvirt.domain}-d"
    libvirt.transient(name)
    try:
        with PipedQmpsh("--libvirt", name) as qmpsh:
            qmpsh.send("query-status")
            assert '"running":true' in qmpsh.read_line()
            libvirt.virsh("destroy", name)
            # stdin stays open: the script ends because the domain went away
            assert qmpsh.exit_status(DEADLINE) == ExitStatus.LOST
            stderr = qmpsh.stderr()
        assert lines(stderr)[-1] == f"qmpsh: {URI}/{name}: domain {name!r} destroyed"
        no_traceback(stderr)
    finally:
        libvirt.virsh("destroy", name, check=False)


def test_domain_killed_while_a_command_waits_exits_4(libvirt: Libvirt) -> None:
    """QEMU stopped (SIGSTOP) so the command hangs in libvirt, then killed under it."""
    name = f"{libvirt.domain}-k"
    pid = libvirt.transient(name)
    try:
        with PipedQmpsh("--libvirt", name) as qmpsh:
            qmpsh.send("query-name")
            assert name in qmpsh.read_line()
            os.kill(pid, signal.SIGSTOP)
            qmpsh.send("query-status")
            qmpsh.wait_taken()  # the command is in libvirt's hands, QEMU does not answer
            assert qmpsh.process.poll() is None
            os.kill(pid, signal.SIGKILL)
            assert qmpsh.exit_status(DEADLINE) == ExitStatus.LOST
            last = lines(qmpsh.stderr())[-1]
        assert last.startswith(f"qmpsh: {URI}/{name}: domain {name!r} "), last
    finally:
        libvirt.virsh("destroy", name, check=False)


def test_quit_through_libvirt_exits_0(libvirt: Libvirt) -> None:
    """libvirt reports QEMU closing the monitor instead of quit's answer; qmpsh knows it."""
    name = f"{libvirt.domain}-q"
    libvirt.transient(name)
    try:
        done = run_domain("--libvirt", name, "--json", "-c", "query-name", "-c", "quit")
        assert done.returncode == ExitStatus.OK, done.stderr
        assert json_lines(done.stdout)[-1]["return"] == {}  # QEMU's, or qmpsh's own
        wait_until(
            lambda: name not in libvirt.virsh("list", "--name"), "the domain to stop", DEADLINE
        )
    finally:
        libvirt.virsh("destroy", name, check=False)


# -- the transport in-process


def test_transport_errors_map_to_qmpsh_errors(libvirt: Libvirt) -> None:
    async def body() -> None:
        transport = make_transport(libvirt.target)
        assert isinstance(transport, LibvirtTransport)
        with pytest.raises(ConnectionLost):  # not connected yet
            await transport.execute({"execute": "query-status"})
        seen: list[tuple[str, object]] = []
        transport.observe(lambda direction, msg: seen.append((direction, msg)))
        await transport.connect(10)
        assert transport.info.version.count(".") == 2
        assert transport.info.package
        assert seen == []  # query-version at connect is qmpsh's own question
        with pytest.raises(InputError, match="not supported through libvirt"):
            await transport.execute({"execute": "getfd"}, fd=0)
        reply = await transport.execute({"execute": "query-name", "id": 7})
        assert reply == {"return": {"name": libvirt.domain}, "id": 7}
        await transport.execute({"execute": "query-status"}, quiet=True)
        assert seen == [("send", {"execute": "query-name"}), ("recv", reply)]
        await transport.close()
        assert await transport.wait_closed() == f"{libvirt.target}: closed"
        with pytest.raises(ConnectionLost):
            await transport.execute({"execute": "query-status"})
        with pytest.raises(ConnectFailed, match="no domain"):
            await make_transport(f"{URI}/qmpsh-no-such-domain").connect(10)

    asyncio.run(body())


def test_domains_listed_and_matched_by_glob(libvirt: Libvirt) -> None:
    """What ``--all --libvirt 'web-*'`` expands: running domains at the URI, by glob."""
    assert libvirt.domain in domain_names(URI)
    pattern = libvirt.domain.replace("qmpsh-t", "qmpsh-[st]")  # a glob for this one only
    assert fleet_domains(URI)(pattern) == [libvirt.target]
    assert fleet_domains(URI)("qmpsh-no-such-*") == []
    with pytest.raises(ConnectFailed):
        domain_names("qemu+unix:///system?socket=/nonexistent/sock")


# -- the prompt


@asynccontextmanager
async def libvirt_repl(target: str) -> AsyncIterator[Repl]:
    transport = make_transport(target)
    await transport.connect(10)
    session = Session(transport)
    await session.learn()
    async with repl_over(session) as driver:
        yield driver


def test_repl_through_libvirt(libvirt: Libvirt) -> None:
    async def body() -> None:
        async with libvirt_repl(libvirt.target) as r:
            assert r.session.vm_name == libvirt.domain
            assert r.session.index is not None  # query-qmp-schema through libvirt
            shown = await r.enter("query-status", '"running"')
            assert '"running": true' in shown
            # completion: command names, schema enums, live values (QOM paths)
            await r.completes("query-sta", "query-status")
            await r.completes("blockdev-add driver=qco", "qcow2")
            await r.completes("qom-get path=/machine/unatt", "/machine/unattached")
            # validation before sending, pointing at the closest name
            before = len(r.sent)
            shown = await r.enter("blockdev-add driver=qcow2 node-nam=x", "did you mean")
            assert "'node-name'" in shown
            assert len(r.sent) == before
            # events above the prompt, /wait, HMP, /help
            shown = await r.enter("stop", "STOP")
            shown += await r.enter("cont", "RESUME")
            assert shown.index("STOP") < shown.index("RESUME")
            await r.enter("/wait RESUME timeout=5", "RESUME")
            assert "VM status: running" in await r.enter("/hmp info status", "VM status")
            assert "running" in await r.enter("/help query-status", "returns:")
            r.keys.send_text("\x04")
            assert await asyncio.wait_for(r.task, DEADLINE) == ExitStatus.OK

    asyncio.run(body())


def test_interactive_cli_warns_once(libvirt: Libvirt) -> None:
    """The real program on a pty: banner, one taint warning, a command, /exit."""
    state = short_tempdir()
    env = {"XDG_STATE_HOME": str(state), "TERM": "dumb", "NO_COLOR": "1"}
    term = PtyProcess.qmpsh("--libvirt", libvirt.domain, "--no-pager", env=env)
    try:
        term.expect("> ", term.expect("QMP mode"))
        term.enter("query-name", f'"name": "{libvirt.domain}"', ">")
        assert term.finish("/exit\r", DEADLINE) == ExitStatus.OK
    finally:
        term.close()
        shutil.rmtree(state, ignore_errors=True)
    text = term.text()
    assert "Connected to QEMU" in text and f"{URI}/{libvirt.domain}" in text  # the banner
    assert text.count(TAINT) == 1, text


def test_all_runs_on_every_domain_a_pattern_names(libvirt: Libvirt) -> None:
    """``--all --libvirt 'PATTERN'``: each matching running domain, a table, one warning."""
    names = [f"{libvirt.domain}-all{n}" for n in (1, 2)]
    for name in names:
        libvirt.transient(name)
    try:
        done = run_domain(
            "--libvirt", "--all", f"{libvirt.domain}-all*", "-c", "query-name",
            env={"LIBVIRT_DEFAULT_URI": URI},
        )  # fmt: skip
    finally:
        for name in names:
            libvirt.virsh("destroy", name, check=False)
    assert done.returncode == 0, done
    assert [line.split() for line in done.stdout.splitlines()] == [
        ["target", "name"],
        *([name, name] for name in names),
    ]
    assert taints(done.stderr) == 1 and "(and the same for 1 more)" in done.stderr


def test_shell_completion_offers_running_domains(libvirt: Libvirt, tmp_path: Path) -> None:
    """With --libvirt or --connect URI, TARGET completes to running domains (bash, fish)."""
    world = make_world(tmp_path, tmp_path)
    prefix = libvirt.domain[:-2]
    got = bash_candidates(
        world, "qmpsh --libvirt ", f"qmpsh --connect {URI} {prefix}", "qmpsh -p --libvirt "
    )
    assert libvirt.domain in got["qmpsh --libvirt "]
    assert got[f"qmpsh --connect {URI} {prefix}"] == {libvirt.domain}
    assert libvirt.domain in got["qmpsh -p --libvirt "]
    assert libvirt.domain not in bash_candidates(world, "qmpsh ")["qmpsh "]  # sockets there
    assert libvirt.domain in fish_candidates(world, "qmpsh --libvirt ")
    assert fish_candidates(world, f"qmpsh --connect {URI} {prefix}") == {libvirt.domain}
    assert libvirt.domain not in fish_candidates(world, "qmpsh ")


def test_zsh_completes_a_running_domain(libvirt: Libvirt, tmp_path: Path) -> None:
    world = make_world(tmp_path, tmp_path)
    env = write_zshrc(world)
    term = Terminal()
    try:
        term.start("zsh -d -i", env=env)
        term.wait_for(lambda s: s.rstrip().endswith("%"), "the zsh prompt")
        for typed in ("qmpsh --libvirt ", f"qmpsh --connect {URI} "):
            term.press("C-u")
            term.type(typed + libvirt.domain[:-2])
            term.press("Tab")
            completed = typed + libvirt.domain

            def shows(screen: str, completed: str = completed) -> bool:
                return completed in screen

            term.wait_for(shows, completed)
    finally:
        term.close()
