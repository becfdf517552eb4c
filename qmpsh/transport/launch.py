"""``--launch``: a throwaway QEMU on a private socket, gone without a trace on exit.

By default a small q35 under TCG with a scratch qcow2 on a virtio disk (so
``query-block`` and block jobs have something to work on); ``-- ARGS`` replaces
that machine. QEMU runs in its own session so a Ctrl-C at the terminal reaches
qmpsh, which then stops QEMU itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from qmpsh.errors import ConnectFailed

DEFAULT_MACHINE = ["-machine", "q35", "-accel", "tcg", "-m", "128", "-nodefaults"]


@dataclass
class Launched:
    """A running throwaway QEMU and the private directory holding its files."""

    process: subprocess.Popen[bytes]
    directory: Path
    socket: Path
    log: Path
    command: list[str] = field(default_factory=list)
    scratch: bool = False

    def describe(self) -> str:
        """What a person at the prompt is told: this VM is theirs to break."""
        said = "throwaway QEMU (stopped on exit)"
        if self.scratch:
            said += "; scratch disk disk0, node 'scratch': try  query-block"
        return said

    def stop(self, grace: float = 5.0) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL) and remove every file it had."""
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(grace)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def qemu_binary(env: os._Environ[str] | dict[str, str] = os.environ) -> str:
    return env.get("QMPSH_QEMU") or "qemu-system-x86_64"


def qemu_img_for(binary: str, env: os._Environ[str] | dict[str, str] = os.environ) -> str | None:
    """The qemu-img that belongs with QEMU ``binary``: ``QMPSH_QEMU_IMG``, else the one
    beside it (``qemu-img-SUFFIX`` beside a wrapper ``qemu-SUFFIX``, then ``qemu-img``).

    Never PATH's first: another QEMU's qemu-img may not run where this QEMU does (a
    chroot, another prefix). None if there is none.
    """
    if env.get("QMPSH_QEMU_IMG"):
        return env["QMPSH_QEMU_IMG"]
    found = shutil.which(binary)
    if found is None:
        return None
    path = Path(found)
    names = ["qemu-img"]
    if path.name.startswith("qemu-") and not path.name.startswith("qemu-system-"):
        names.insert(0, "qemu-img-" + path.name.removeprefix("qemu-"))
    for name in names:
        beside = path.with_name(name)
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    return None


def launch(extra: list[str], *, timeout: float = 10.0) -> Launched:
    """Start QEMU and wait for its QMP socket; ``ConnectFailed`` if it cannot start."""
    binary = qemu_binary()
    if shutil.which(binary) is None:
        raise ConnectFailed(f"{binary}: QEMU not found (apt-get install qemu-system-x86)")
    directory = Path(tempfile.mkdtemp(prefix="qmpsh-"))
    socket = directory / "qmp.sock"
    log = directory / "qemu.log"
    try:
        scratch = [] if extra else _scratch_disk(directory, qemu_img_for(binary))
        args = list(extra) if extra else DEFAULT_MACHINE + scratch
        if not any(a in ("-display", "-nographic") for a in args):
            args += ["-display", "none"]
        command = [binary, *args, "-qmp", f"unix:{socket},server=on,wait=off"]
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
    except (OSError, subprocess.SubprocessError, ConnectFailed) as err:
        shutil.rmtree(directory, ignore_errors=True)
        raise ConnectFailed(f"{binary}: could not start QEMU: {err}") from None
    launched = Launched(process, directory, socket, log, command, bool(scratch))
    deadline = time.monotonic() + timeout
    while not listening(socket):
        if process.poll() is not None or time.monotonic() > deadline:
            reason = _last_line(log) or f"no QMP socket after {timeout:g} s"
            launched.stop()
            raise ConnectFailed(f"{binary}: QEMU did not start: {reason}")
        time.sleep(0.01)
    return launched


def listening(*paths: Path) -> bool:
    """Whether every one of ``paths`` is a unix socket that accepts connections.

    Not just that the file exists: QEMU creates it (bind) a moment before it
    listens, and a client that connects in between is refused. A socket the
    kernel's table does not list at all (a QEMU in another network namespace; not
    Linux) has only its file's existence to go by.
    """
    listed: dict[str, bool] = {}
    try:
        with open("/proc/net/unix") as table:
            next(table)  # the header
            for fields in map(str.split, table):
                if len(fields) >= 8:  # accepted connections share the path: any listens
                    accepts = bool(int(fields[3], 16) & 0x10000)  # __SO_ACCEPTCON
                    listed[fields[7]] = listed.get(fields[7], False) or accepts
    except OSError:
        pass
    return all(listed.get(str(path), path.exists()) for path in paths)


def _scratch_disk(directory: Path, qemu_img: str | None) -> list[str]:
    """A 64 MiB qcow2 as node 'scratch' on virtio disk 'disk0', if there is a qemu-img."""
    if qemu_img is None:
        return []
    image = directory / "scratch.qcow2"
    try:
        subprocess.run(
            [qemu_img, "create", "-q", "-f", "qcow2", str(image), "64M"],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return []
    node = f"driver=qcow2,node-name=scratch,file.driver=file,file.filename={image}"
    return ["-blockdev", node, "-device", "virtio-blk-pci,drive=scratch,id=disk0"]


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


async def launch_async(extra: list[str], *, timeout: float = 10.0) -> Launched:
    """``launch`` off the event loop, and never leaving a QEMU behind.

    A thread cannot be stopped: if qmpsh is interrupted (Ctrl-C, SIGTERM) while
    QEMU starts, wait for the start to finish and stop what it started.
    """
    starting = asyncio.ensure_future(asyncio.to_thread(launch, extra, timeout=timeout))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            started = await starting
            await asyncio.to_thread(started.stop)
        raise
