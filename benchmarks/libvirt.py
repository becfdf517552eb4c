"""The per-command cost of qmpsh on a libvirt domain, beside virsh.

People who reach a libvirt domain's QMP today run one ``virsh
qemu-monitor-command DOMAIN '{...}'`` process per command. This times, against
a real libvirtd:

* qmpsh: ``qmpsh --libvirt DOMAIN`` with N+1 ``query-status`` piped, less a run
  with one (start-up taken out, as in ``benchmarks.run`` P2), per command;
* virsh: ``virsh -c URI qemu-monitor-command DOMAIN '{"execute":"query-status"}'``
  as whole processes, one per command (what users do);
* for scale: virsh running N such commands in one process (``cmd; cmd; ...``),
  and the floor, N blocking ``libvirt_qemu.qemuMonitorCommand`` calls in one
  Python process (the API qmpsh uses, without asyncio, parsing or output).

Whole processes are timed by ``benchmarks/launcher.py`` in an environment of
their own (``benchmarks.harness``), interleaved so load hits all alike. It prints
medians and ratios; quote the ratios, absolute times drift on a shared machine.

Without ``--domain`` it starts libvirtd (if none runs) and a 64 MiB TCG domain
with ``tests/libvirt_setup.sh`` (root only), paused, and removes them afterwards.
A running guest's CPU competes with the monitor: a domain given with
``--domain`` is measured as it is.

    .venv/bin/python -m benchmarks.libvirt [--quick] [--domain DOM] [--uri URI] [-n N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import (
    BenchError,
    Launcher,
    Timed,
    child_env,
    machine_line,
    python,
    scratch_directory,
)
from tests.support.places import ROOT

QUERY = '{"execute":"query-status"}'
FLOOR = """\
import sys, time, libvirt, libvirt_qemu
libvirt.registerErrorHandler(lambda c, e: None, None)
dom = libvirt.open(sys.argv[1]).lookupByName(sys.argv[2])
n = int(sys.argv[3])
libvirt_qemu.qemuMonitorCommand(dom, sys.argv[4], 0)
start = time.perf_counter()
for _ in range(n):
    libvirt_qemu.qemuMonitorCommand(dom, sys.argv[4], 0)
print((time.perf_counter() - start) / n)
"""


@dataclass(frozen=True)
class Settings:
    commands: int = 1000  # N: commands per long qmpsh run (after the first)
    reps: int = 7  # runs of each qmpsh length, and of the virsh batch
    virsh_runs: int = 60  # virsh processes of one command each


QUICK = Settings(commands=300, reps=3, virsh_runs=20)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@contextmanager
def own_domain(scratch: Path) -> Iterator[str]:
    """libvirtd (unless running) and a fresh domain, from tests/libvirt_setup.sh."""
    if os.geteuid() != 0:
        raise BenchError("starting libvirtd needs root; or give --domain of a running domain")
    domain = f"qmpsh-b{os.getpid()}"
    workdir = scratch / "libvirt"
    down = ["bash", str(ROOT / "tests" / "libvirt_teardown.sh"), str(workdir), domain]
    up = subprocess.run(
        ["bash", str(ROOT / "tests" / "libvirt_setup.sh"), str(workdir), domain],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        if up.returncode != 0:
            raise BenchError(f"libvirt set-up failed: {up.stderr.strip()[-500:]}")
        # Paused: a guest without a disk spends minutes in its BIOS under TCG, holding
        # QEMU's lock often enough to make the monitor's replies several times slower.
        subprocess.run(["virsh", "-q", "-c", "qemu:///system", "suspend", domain], check=True)
        yield domain
    finally:
        subprocess.run(down, capture_output=True, check=False)


class Bench:
    def __init__(self, scratch: Path, uri: str, domain: str, settings: Settings) -> None:
        self.uri, self.domain, self.settings = uri, domain, settings
        self.env = child_env(scratch, LIBVIRT_DEFAULT_URI=uri)
        self.launcher = Launcher(scratch)
        qmpsh = Path(python()).parent / "qmpsh"
        start = [str(qmpsh)] if qmpsh.exists() else [python(), "-m", "qmpsh"]
        self.qmpsh = [*start, "--libvirt", domain]
        self.virsh = ["virsh", "-q", "-c", uri, "qemu-monitor-command", domain, QUERY]

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def run(self, argv: Sequence[str], stdin: bytes, replies: int) -> Timed:
        result = self.launcher.run(argv, stdin, self.env, cwd=ROOT)
        got = result.stdout.count(b'"status"')
        if result.status != 0 or got != replies:
            raise BenchError(
                f"{argv[0]}: exit {result.status}, {got} replies of {replies}: "
                f"{result.stderr.decode(errors='replace')[-500:]}"
            )
        return result

    def qmpsh_run(self, commands: int) -> Timed:
        return self.run(self.qmpsh, b"query-status\n" * commands, commands)

    def virsh_batch(self, commands: int) -> Timed:
        one = f"qemu-monitor-command {self.domain} '{QUERY}'"
        argv = ["virsh", "-q", "-c", self.uri, "; ".join([one] * commands)]
        return self.run(argv, b"", commands)

    def floor(self, commands: int) -> float:
        """Seconds per call of the bare API, in a Python process of its own."""
        done = subprocess.run(
            [python(), "-c", FLOOR, self.uri, self.domain, str(commands), QUERY],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"libvirt-python: {done.stderr.strip()[-500:]}")
        return float(done.stdout)

    def measure(self) -> list[tuple[str, str, str]]:
        n, reps = self.settings.commands, self.settings.reps
        self.say("warming up (byte code compiled once, as by an install)")
        self.qmpsh_run(1)
        self.run(self.virsh, b"", 1)
        one: list[float] = []
        many: list[float] = []
        virsh: list[float] = []
        batch: list[float] = []
        api: list[float] = []
        per_virsh = max(1, self.settings.virsh_runs // reps)
        self.say(
            f"{reps} rounds of: qmpsh with 1 and {n + 1} commands, {per_virsh} virsh "
            f"processes, virsh with {n} commands, {n} bare API calls"
        )
        for _ in range(reps):  # each round measures everything: load drifts hit all alike
            one.append(self.qmpsh_run(1).seconds)
            for _ in range(per_virsh):
                virsh.append(self.run(self.virsh, b"", 1).seconds)
            many.append(self.qmpsh_run(n + 1).seconds)
            batch.append(self.virsh_batch(n).seconds / n)
            api.append(self.floor(n))
        start = median(one)
        per_qmpsh = sorted((run - start) / n * 1e3 for run in many)
        qmpsh_ms, virsh_ms = median(per_qmpsh), median(virsh) * 1e3
        batch_ms, api_ms = median(batch) * 1e3, median(api) * 1e3
        return [
            (
                "qmpsh --libvirt DOM, per command",
                f"{qmpsh_ms:.3f} ms ({per_qmpsh[0]:.3f}-{per_qmpsh[-1]:.3f}; "
                f"start {start * 1e3:.0f} ms)",
                f"{virsh_ms / qmpsh_ms:.1f} x faster than virsh",
            ),
            (
                "virsh qemu-monitor-command, per process",
                f"{virsh_ms:.3f} ms",
                f"{virsh_ms / qmpsh_ms:.1f} x qmpsh",
            ),
            (
                "  (virsh, N commands in one process)",
                f"{batch_ms:.3f} ms",
                f"{batch_ms / qmpsh_ms:.2f} x qmpsh",
            ),
            (
                "  (the bare libvirt API, one process)",
                f"{api_ms:.3f} ms",
                f"qmpsh {qmpsh_ms / api_ms:.2f} x this floor",
            ),
        ]

    def close(self) -> None:
        self.launcher.close()


def table(rows: Sequence[tuple[str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.libvirt", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer commands and runs")
    parser.add_argument("--domain", help="a running domain to use (default: start one)")
    parser.add_argument(
        "--uri",
        default=os.environ.get("LIBVIRT_DEFAULT_URI") or "qemu:///system",
        help="libvirt URI (default $LIBVIRT_DEFAULT_URI, else qemu:///system)",
    )
    parser.add_argument("-n", type=int, help="commands per long qmpsh run")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.n:
        settings = Settings(args.n, settings.reps, settings.virsh_runs)
    began = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            scratch = stack.enter_context(scratch_directory())
            domain = args.domain or stack.enter_context(own_domain(scratch))
            bench = Bench(scratch, args.uri, domain, settings)
            try:
                rows = bench.measure()
            finally:
                bench.close()
    except BenchError as err:
        print(f"benchmarks.libvirt: {err}", file=sys.stderr)
        return 1
    print(f"# {machine_line()}")
    print(f"# libvirt {_libvirt_version()}, {settings.commands:,} query-status, ", end="")
    print(f"{time.monotonic() - began:.0f} s")
    print(table([("what", "measured", "ratio"), *rows]))
    return 0


def _libvirt_version() -> str:
    done = subprocess.run(["virsh", "-v"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
