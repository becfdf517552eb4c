"""Real QEMU processes (``qemu-system-x86_64`` under TCG) on private sockets.

Every QEMU the tests talk to is real; a fault QEMU cannot produce on demand comes
from ``tests.support.fakeserver`` instead. The benchmarks start theirs here too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from qmpsh.transport.launch import listening, qemu_img_for
from tests.support.places import short_tempdir
from tests.support.processes import end
from tests.support.rawqmp import RawQmp
from tests.support.waiting import within

#: The QEMU under test and the qemu-img that goes with it: the system's unless
#: QMPSH_TEST_QEMU (and QMPSH_TEST_QEMU_IMG) name others, e.g. a newer QEMU in a chroot
#: (dev/qemu-chroots.sh). tests/conftest.py hands them on to the qmpsh a test starts.
QEMU = os.environ.get("QMPSH_TEST_QEMU") or "qemu-system-x86_64"
QEMU_IMG = os.environ.get("QMPSH_TEST_QEMU_IMG") or qemu_img_for(QEMU, {}) or "qemu-img"


class QemuDidNotStart(Exception):
    """QEMU is missing, or exited (or never made its sockets) on start."""


@dataclass
class Qemu:
    """One real QEMU process: ``qmp`` is for qmpsh, ``spare`` for the test itself."""

    process: subprocess.Popen[bytes]
    directory: Path
    qmp: Path
    spare: Path
    image: Path | None = None
    _clients: list[RawQmp] = field(default_factory=list)

    def client(self) -> RawQmp:
        """The raw client on the spare monitor; the same one each time, since QEMU
        serves one client per monitor socket."""
        if not self._clients:
            self._clients.append(RawQmp(self.spare))
        return self._clients[0]

    def stop(self) -> None:
        """End QEMU (SIGTERM, then SIGKILL) and remove its directory."""
        for raw in self._clients:
            raw.close()
        end(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_qemu(
    *extra: str,
    disk: bool = False,
    machine: str = "none",
    name: str = "testvm",
    directory: Path | None = None,
) -> Qemu:
    """Start QEMU under TCG with two QMP sockets in ``directory`` (a new short one by
    default; removed by ``stop``); ``disk`` adds a qcow2 (not attached)."""
    if shutil.which(QEMU) is None:
        raise QemuDidNotStart(f"{QEMU} is not installed; the README's test command installs it")
    if directory is None:
        directory = short_tempdir()
    else:
        directory.mkdir(parents=True, exist_ok=True)
    qmp, spare = directory / "qmp.sock", directory / "spare.sock"
    image = None
    if disk:
        image = directory / "disk.qcow2"
        subprocess.run([QEMU_IMG, "create", "-q", "-f", "qcow2", str(image), "16M"], check=True)
    command = [
        QEMU, "-machine", machine, "-accel", "tcg", "-nodefaults", "-display", "none",
        "-m", "64", "-name", name,
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-qmp", f"unix:{spare},server=on,wait=off",
        *extra,
    ]  # fmt: skip
    with open(directory / "qemu.log", "wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    within(lambda: process.poll() is not None or listening(qmp, spare), 20)
    if process.poll() is not None or not listening(qmp, spare):
        process.kill()
        process.wait()
        output = (directory / "qemu.log").read_text(errors="replace")
        raise QemuDidNotStart(f"QEMU did not start: {output}")
    return Qemu(process, directory, qmp, spare, image)


def version() -> str:
    """The version QEMU under test says it is (``--version``), for the run's summary."""
    try:
        said = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "(did not run)"
    found = re.search(r"version (\S+)", said.stdout)
    return found.group(1) if found else "(unknown version)"
