"""A real libvirtd with a TCG test domain, for the tests that reach QEMU through libvirt.

``tests/libvirt_setup.sh`` starts the daemons and defines the domain (as root);
``libvirt_domain`` runs it and yields what the tests use, tearing it down after.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.places import ROOT, short_tempdir

#: The libvirt connection of the test domains, and the session-wide domain's name.
URI = "qemu:///system"
DOMAIN = f"qmpsh-t{os.getpid()}"


@dataclass(frozen=True)
class Libvirt:
    """The running libvirtd and the test domain on it."""

    domain: str
    workdir: Path

    @property
    def target(self) -> str:
        return f"{URI}/{self.domain}"

    def virsh(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=30
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done.stdout

    def transient(self, name: str) -> int:
        """Start a transient domain (gone once it stops); return its QEMU's pid."""
        xml = self.workdir / f"{name}.xml"
        xml.write_text((self.workdir / f"{self.domain}.xml").read_text().replace(self.domain, name))
        self.virsh("create", str(xml))
        return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())


def libvirt_domain() -> Iterator[Libvirt]:
    """The test domain on a running libvirtd (skipped without root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the tests run libvirtd with the QEMU driver")
    workdir = short_tempdir()
    down = ["bash", str(ROOT / "tests" / "libvirt_teardown.sh"), str(workdir), DOMAIN]
    up = subprocess.run(
        ["bash", str(ROOT / "tests" / "libvirt_setup.sh"), str(workdir), DOMAIN],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if up.returncode != 0:
        log = Path(os.environ.get("QMPSH_LIBVIRT_STATE", "/tmp/qmpsh-libvirt-daemons"))
        log /= "libvirtd.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        subprocess.run(down, capture_output=True, timeout=60)
        pytest.fail(f"libvirt set-up failed:\n{up.stdout}\n{up.stderr}\n{tail}")
    yield Libvirt(DOMAIN, workdir)
    subprocess.run(down, capture_output=True, timeout=60)
