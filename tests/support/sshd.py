"""A real sshd of the tests' own, so that libvirt's ``qemu+ssh://`` remote driver is driven
end to end on one machine (as root: libvirtd's system socket is root's).

Everything lives in a private directory: a host key, a client key made for the test and
authorized there, a ``known_hosts`` holding the host key (host keys are checked, never
trusted on first sight), the server's configuration on a port of its own, and ``ssh``,
a wrapper that runs the real client with the test's ``ssh_config``: libvirt runs it
through the URI's ``command=`` parameter, so the user's own ``~/.ssh`` is never read
or written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fakeserver import unused_tcp_port
from tests.support.places import short_tempdir
from tests.support.processes import end
from tests.support.waiting import wait_until

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    """A running sshd on 127.0.0.1:``port`` and the client side that reaches it."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def uri(self) -> str:
        """``qemu+ssh://root@127.0.0.1:PORT/system?command=...&keyfile=...&no_tty=1``."""
        directory = self.directory
        query = f"command={directory / 'ssh'}&keyfile={directory / 'id_ed25519'}&no_tty=1"
        return f"qemu+ssh://root@127.0.0.1:{self.port}/system?{query}"

    def sessions(self) -> list[int]:
        """The pids of the server's per-connection processes (its descendants)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def drop_connections(self) -> None:
        """Cut every connection as a network failure would: its server side is killed."""
        for pid in self.sessions():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qmpsh-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


def running_sshd() -> Iterator[Sshd]:
    """An sshd for the test run (skipped without root or without openssh-server)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: libvirt's system socket is root's")
    if not (os.access(SSHD, os.X_OK) and shutil.which("ssh")):
        pytest.fail("sshd or ssh is missing; QMPSH_SETUP_TEST=1 dev/setup.sh installs them")
    directory = short_tempdir()
    port = unused_tcp_port()
    host_key = _keygen(directory / "host_ed25519")
    (directory / "authorized_keys").write_text(_keygen(directory / "id_ed25519") + "\n")
    (directory / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    (directory / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory / 'host_ed25519'}\n"
        f"PidFile {directory / 'sshd.pid'}\nAuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    (directory / "ssh_config").write_text(
        f"Host *\n  UserKnownHostsFile {directory / 'known_hosts'}\n"
        "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
        "  IdentitiesOnly yes\n  BatchMode yes\n  LogLevel ERROR\n"
    )
    wrapper = directory / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec ssh -F {directory / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation
    with (directory / "sshd.log").open("wb") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(directory / "sshd_config")], stderr=log
        )

    def listening() -> bool:
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {(directory / 'sshd.log').read_text()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, "sshd to listen")
        yield Sshd(port, directory, process)
    finally:
        end(process)
        shutil.rmtree(directory, ignore_errors=True)
