"""Libvirt domains through libvirt's ssh remote driver, against a real sshd of the tests' own.

The same set as ``test_libvirt.py`` runs on ``qemu:///system`` (shorthand, HMP,
completion, events and ``/wait``, exit codes, a dropped connection), here through
``qemu+ssh://root@127.0.0.1:PORT/system?keyfile=...&no_tty=1&command=...`` to the same
libvirtd (``tests/support/sshd.py``: a key made for the test, host keys checked
against a ``known_hosts`` it writes), and ``--all`` across a local and an ssh target.
A URI with query parameters is written both ways: the domain after the path, and
after the whole URI, query and all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from qmpsh.errors import ExitStatus
from qmpsh.session.session import Session
from qmpsh.transport.targets import libvirt_target, make_transport
from tests.support.libvirt import Libvirt
from tests.support.qmpsh_process import PipedQmpsh, json_lines, lines, no_traceback, run_qmpsh
from tests.support.repldriver import repl_over
from tests.support.sshd import Sshd, running_sshd

pytestmark = pytest.mark.qemu

DEADLINE = 20.0
SCRIPT = "query-status\n/hmp info status\nquery-name\n"


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    yield from running_sshd()


def spellings(sshd: Sshd, domain: str) -> dict[str, list[str]]:
    """The ways to name DOMAIN through ssh on the command line."""
    uri = sshd.uri()
    return {
        "--connect": ["--connect", uri, domain],
        "domain in the path": [libvirt_target(uri, domain)],
        "domain after the query": [f"{uri}/{domain}"],
    }


@pytest.mark.parametrize("spelling", ["--connect", "domain in the path", "domain after the query"])
def test_script_through_ssh(libvirt: Libvirt, sshd: Sshd, spelling: str) -> None:
    """Shorthand, HMP and a failing command, exit codes 0 and 1."""
    args = spellings(sshd, libvirt.domain)[spelling]
    done = run_qmpsh(*args, input=SCRIPT, timeout=60)
    assert done.returncode == ExitStatus.OK, done.stderr
    out = lines(done.stdout)
    assert json.loads(out[0])["running"] is True
    assert out[1] == "VM status: running"
    assert json.loads(out[2]) == {"name": libvirt.domain}
    assert f"domain {libvirt.domain!r}" in done.stderr  # the taint warning, once
    no_traceback(done.stdout, done.stderr)
    done = run_qmpsh(*args, input="!no-such-command\nquery-status\n", timeout=60)
    assert done.returncode == ExitStatus.FAILED
    assert done.stdout == ""
    assert "CommandNotFound: The command no-such-command has not been found" in done.stderr


def test_events_and_wait_through_ssh(libvirt: Libvirt, sshd: Sshd) -> None:
    target = libvirt_target(sshd.uri(), libvirt.domain)
    script = "stop\nquery-status\ncont\n/wait RESUME timeout=5\n"
    done = run_qmpsh(target, "--events", input=script, timeout=60)
    assert done.returncode == ExitStatus.OK, done.stderr
    shown = json_lines(done.stdout)
    events = [msg["event"] for msg in shown if isinstance(msg, dict) and "event" in msg]
    assert events == ["STOP", "RESUME"], shown
    assert {"status": "paused", "singlestep": False, "running": False} in shown
    done = run_qmpsh(target, "--json", input="/wait RESUME timeout=0.5\n", timeout=60)
    assert done.returncode == ExitStatus.FAILED


def test_unknown_domain_and_unknown_host_key_exit_3(libvirt: Libvirt, sshd: Sshd) -> None:
    uri = sshd.uri()
    done = run_qmpsh("--connect", uri, "qmpsh-no-such-domain", "-c", "query-name", timeout=60)
    assert done.returncode == ExitStatus.CONNECT
    assert lines(done.stderr) == [
        f"qmpsh: {libvirt_target(uri, 'qmpsh-no-such-domain')}: no domain "
        f"'qmpsh-no-such-domain' at {uri} ('virsh -c {uri} list --all' lists them)"
    ]
    known = sshd.directory / "known_hosts"
    known.rename(known.with_suffix(".kept"))
    try:  # StrictHostKeyChecking: an unknown host key is refused, never learnt
        done = run_qmpsh("--connect", uri, libvirt.domain, "-c", "query-name", timeout=60)
        assert not known.exists()
    finally:
        known.with_suffix(".kept").rename(known)
    assert done.returncode == ExitStatus.CONNECT
    assert lines(done.stderr) == [done.stderr.strip()], done.stderr  # one line
    assert done.stderr.startswith(f"qmpsh: {libvirt_target(uri, libvirt.domain)}: ")
    assert "host key" in done.stderr


def test_a_dropped_ssh_connection_exits_4(libvirt: Libvirt, sshd: Sshd) -> None:
    with PipedQmpsh("--connect", sshd.uri(), libvirt.domain) as qmpsh:
        qmpsh.send("query-name")
        assert libvirt.domain in qmpsh.read_line()
        assert sshd.sessions()  # the connection is up, through our sshd
        sshd.drop_connections()
        qmpsh.send("query-status")  # stdin stays open: the script ends on the lost link
        assert qmpsh.exit_status(DEADLINE) == ExitStatus.LOST
        stderr = qmpsh.stderr()
    last = lines(stderr)[-1]
    assert last.startswith(f"qmpsh: {libvirt_target(sshd.uri(), libvirt.domain)}: "), last
    no_traceback(stderr)


def test_prompt_through_ssh(libvirt: Libvirt, sshd: Sshd) -> None:
    """Completion (names, enums, live QOM paths), checks, events, /wait and HMP."""

    async def body() -> None:
        transport = make_transport(libvirt_target(sshd.uri(), libvirt.domain))
        await transport.connect(DEADLINE)
        session = Session(transport)
        await session.learn()
        async with repl_over(session) as r:
            assert r.session.vm_name == libvirt.domain and r.session.index is not None
            await r.completes("query-sta", "query-status")
            await r.completes("blockdev-add driver=qco", "qcow2")
            await r.completes("qom-get path=/machine/unatt", "/machine/unattached")
            before = len(r.sent)
            assert "'node-name'" in await r.enter("blockdev-add driver=qcow2 node-nam=x", "mean")
            assert len(r.sent) == before
            shown = await r.enter("stop", "STOP")
            shown += await r.enter("cont", "RESUME")
            assert shown.index("STOP") < shown.index("RESUME")
            await r.enter("/wait RESUME timeout=5", "RESUME")
            assert "VM status: running" in await r.enter("/hmp info status", "VM status")
            r.keys.send_text("\x04")
            assert await asyncio.wait_for(r.task, DEADLINE) == ExitStatus.OK

    asyncio.run(body())


def test_all_across_a_local_and_an_ssh_target(libvirt: Libvirt, sshd: Sshd) -> None:
    """Each row tagged by host and domain; a target that cannot be understood is named."""
    remote = f"{sshd.uri()}/{libvirt.domain}"  # the domain after the query
    done = run_qmpsh("--all", remote, libvirt.target, "-c", "query-name", timeout=60)
    assert done.returncode == ExitStatus.OK, done.stderr
    assert [line.split() for line in lines(done.stdout)] == [
        ["target", "name"],
        [f"127.0.0.1:{sshd.port}/{libvirt.domain}", libvirt.domain],
        [libvirt.domain, libvirt.domain],
    ]
    done = run_qmpsh(
        "--connect", sshd.uri(), "--all", libvirt.domain, "-c", "query-name", timeout=60
    )
    assert done.returncode == ExitStatus.OK, done.stderr
    tag = f"127.0.0.1:{sshd.port}/{libvirt.domain}"
    assert lines(done.stdout) == [f'{tag}: {{"name":"{libvirt.domain}"}}']
    unclear = sshd.uri()  # no domain anywhere: named, and the other target still runs
    done = run_qmpsh("--all", unclear, libvirt.target, "-c", "query-name", timeout=60)
    assert done.returncode == ExitStatus.USAGE
    example = libvirt_target(unclear, "DOMAIN")
    assert lines(done.stderr)[0] == (
        f"qmpsh: {unclear}: a libvirt TARGET is URI/DOMAIN, e.g. {example} "
        "(or use --connect URI DOMAIN)"
    )
    assert lines(done.stdout) == [f'{libvirt.domain}: {{"name":"{libvirt.domain}"}}']
