"""qmpsh's performance goals in one run: qmpsh beside qmp-shell and the raw floor.

Starts its own QEMU (``qemu-system-x86_64 -machine none`` under TCG; the
schema, replies and events measured here do not depend on the machine, and
``--machine q35`` runs the same against a small q35) on temporary sockets and
prints, from one run, medians and ratios for

* P1 start and one command piped (``echo query-status | qmpsh SOCK``) against
  ``python -m qemu.qmp.qmp_shell SOCK``, as whole processes, interleaved; also
  their CPU time, the floor of any qemu.qmp client (``benchmarks.qmpfloor``),
  one command with arguments (qmpsh needs the schema: from its cache, and
  without the cache, fetched from QEMU), and a script with a built-in
  (``stop``, ``/wait STOP``, ``cont``) beside the same without ``/wait``;
* P2 5,000 x ``query-status`` piped: the per-command cost of qmpsh, qmp-shell
  and a raw lock-step socket client (``benchmarks.rawclient``), each tool's
  start-up taken out (runs of 5,001 commands less P1's runs of one); wall time
  (the goals) and the processes' own CPU time; and QEMU's own pace (every command
  written at once while the replies are read: no client can go faster), which bounds
  how much faster than qmp-shell any client can be;
* P3 completion latency (``benchmarks.completion``: 500 inputs, median, p99);
* P4 rendering the whole ``query-qmp-schema`` reply: pretty (``rich_renderer``)
  to a pty, compact (``plain_renderer``) to a pipe, each drained by ``cat``;
* P5 peak RSS: script mode (P1's children, from ``wait4``) against qmp-shell,
  and an interactive session under a pty with the schema indexed (``VmHWM``
  after ``blockdev-add driver=qc`` has shown its completions);
* P6 10,000 events (5,000 ``stop``/``cont`` pairs from a second monitor) while
  qmpsh is idle, in a script (``--json``) and at the prompt (pty): the burst is
  produced while qmpsh is stopped (SIGSTOP), then timed from SIGCONT until every
  event has been printed (at the prompt: printed or counted in a summary line),
  and counted; then again live, as QEMU emits them;
* P7 a sustained flood at the prompt (a fake server offering 100,000 events a
  second for ``FLOOD_SECONDS``; real QEMU cannot emit that many): how long a
  command typed a second into it takes to show its reply, and qmpsh's peak RSS.

Whole processes are started by ``benchmarks/launcher.py`` (so their peak RSS
is their own) with byte code cached as an installed package has it; see
``benchmarks.harness``. The table gives each goal with PASS or MISS.
Quote the ratios: on a shared machine absolute times drift. Exits 0 once it
has measured (these are measurements, not tests), 1 if a part could not run.

    .venv/bin/python -m benchmarks.run [--quick] [--pin] [--only P1,P2,...] [--machine none|q35]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from benchmarks.harness import (
    BenchError,
    Launcher,
    Timed,
    child_env,
    machine_line,
    python,
    scratch_directory,
    start_qemu,
    stop_cont,
)
from benchmarks.terminal import (
    COLUMNS,
    LEAVE,
    drained_pipe,
    drained_pty,
    on_pty,
    terminal_environment,
    vmhwm_kb,
)
from tests.support.fakeserver import Connection, FakeServer, Handler
from tests.support.places import ROOT
from tests.support.pty_process import PtyProcess, Reader
from tests.support.qemu import Qemu
from tests.support.rawqmp import RawQmp

PARTS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7")
#: P1 and P5 (script) come from the same runs; P2 subtracts P1's one-command runs.
NEEDS = {"P2": "P1", "P5": "P1"}
EVENT_LINE = re.compile(rb"STOP|RESUME")
#: The prompt's line for events it counted instead of drawing (past its display rate).
SUMMARY = re.compile("… ([0-9,]+) more [^ ]* events; /events shows them".encode())
#: P7: how long the fake server floods, and how many events a second it offers.
FLOOD_SECONDS, FLOOD_RATE = 4.0, 100_000
TOOLS = ("qmpsh", "qmp-shell", "raw")
#: A client on qemu.qmp that does nothing else (``benchmarks.qmpfloor``): P1's floor.
FLOOR = "qemu.qmp floor"
P1_TOOLS = (*TOOLS, FLOOR)
QUERY = b"query-status\n"
#: A command with arguments: qmpsh fetches and indexes the schema to check them.
WITH_ARGUMENTS = b"qom-get path=/machine property=type\n"
#: qmpsh in lock-step (P2): ``--json`` turns sending queries ahead off.
LOCK_STEP = "qmpsh --json"
#: Its runs: qmpsh with its schema cache (warm after the first run) and without.
WITH_ARGUMENTS_TOOLS = ("qmpsh", "qmpsh (no cache)", "qmp-shell")
JSON_EVENT = re.compile(rb'"event":')
#: A script with a built-in (P1) and the same without it: ``/wait`` must cost no more
#: than its line. The STOP event comes with ``stop``'s reply, so nothing is waited for.
WAIT_SCRIPT = b"stop\n/wait STOP timeout=5\ncont\n"
PLAIN_SCRIPT = b"stop\ncont\n"


@dataclass(frozen=True)
class Settings:
    reps_start: int = 30  # P1: runs of each tool with one command
    commands: int = 5000  # P2: commands after the first
    reps_commands: int = 7  # P2: runs of each tool with 1 + commands
    reps_completion: int = 15  # P3: runs of each input
    reps_pretty: int = 3  # P4
    reps_compact: int = 15  # P4
    reps_interactive: int = 3  # P5
    event_pairs: int = 5000  # P6: stop/cont pairs
    live: bool = True  # P6: also as QEMU emits them (not only the burst)


QUICK = Settings(
    reps_start=10,
    commands=1000,
    reps_commands=2,
    reps_completion=3,
    reps_pretty=1,
    reps_compact=5,
    reps_interactive=1,
    event_pairs=5000,
    live=False,
)


@dataclass(frozen=True)
class Job:
    """One kind of timed process: a tool, the script piped to it, the lines it must print."""

    tool: str
    stdin: bytes
    lines: int


@dataclass(frozen=True)
class Row:
    part: str
    what: str
    measured: str
    ratio: str = ""
    goal: str = ""
    verdict: str = ""


#: The least an interactive qmpsh loads before any code of its own: the interpreter,
#: asyncio (which loads ssl, and qemu.qmp needs it), prompt_toolkit; then rich too.
IMPORT_FLOORS = {
    "python + asyncio + prompt_toolkit": "import asyncio, prompt_toolkit",
    "the same + qemu.qmp + rich + pygments": (
        "import asyncio, prompt_toolkit, qemu.qmp, rich.console, pygments.lexer"
    ),
}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


class Bench:
    """One run: the QEMU, the scratch directory, the children's environment, the results."""

    def __init__(self, qemu: Qemu, scratch: Path, settings: Settings) -> None:
        self.qemu = qemu
        self.scratch = scratch
        self.settings = settings
        self.env = child_env(scratch)
        self.launcher = Launcher(scratch)
        self.rows: list[Row] = []
        self.start_runs: dict[str, list[Timed]] = {}
        self.args_runs: dict[str, list[Timed]] = {}
        qmpsh = Path(python()).parent / "qmpsh"
        sock = str(qemu.qmp)
        self.tools: dict[str, list[str]] = {
            "qmpsh": [str(qmpsh), sock] if qmpsh.exists() else [python(), "-m", "qmpsh", sock],
            "qmp-shell": [python(), "-m", "qemu.qmp.qmp_shell", sock],
            "raw": [python(), "-m", "benchmarks.rawclient", sock],
            FLOOR: [python(), "-m", "benchmarks.qmpfloor", sock],
        }
        # qmpsh without its schema cache: its state directory cannot be made (a file
        # is in the way), so every run fetches the schema from QEMU as a first run does.
        self.tools["qmpsh (no cache)"] = self.tools["qmpsh"]
        # --json prints each reply as it arrives, so qmpsh sends nothing ahead (P2).
        self.tools[LOCK_STEP] = [*self.tools["qmpsh"][:-1], "--json", sock]
        (scratch / "no-state").write_text("")
        self.tool_env = {
            "qmpsh (no cache)": {**self.env, "XDG_STATE_HOME": str(scratch / "no-state")}
        }

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # -- P1, P2, P5 script: whole processes ---------------------------------------------

    def run_job(self, job: Job) -> Timed:
        time.sleep(0.02)  # let QEMU notice the previous client left (not timed)
        env = self.tool_env.get(job.tool, self.env)
        result = self.launcher.run(self.tools[job.tool], job.stdin, env, cwd=ROOT)
        replies = count_replies(job.tool, result.stdout)
        if result.status != 0 or replies != job.lines:
            raise BenchError(
                f"{job.tool}: exit {result.status}, {replies} replies of {job.lines}: "
                f"{result.stderr.decode(errors='replace')[-500:]}"
            )
        return result

    def interleaved(
        self, commands: int, reps: int, line: bytes = QUERY, tools: Sequence[str] = TOOLS
    ) -> dict[str, list[Timed]]:
        """``reps`` runs of every tool with ``commands`` times ``line`` piped."""
        return self.rotating({tool: Job(tool, line * commands, commands) for tool in tools}, reps)

    def rotating(self, jobs: Mapping[str, Job], reps: int) -> dict[str, list[Timed]]:
        """``reps`` runs of every job, in turns (the order rotating), so load hits all."""
        runs: dict[str, list[Timed]] = {name: [] for name in jobs}
        names = list(jobs)
        for rep in range(reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                runs[name].append(self.run_job(jobs[name]))
        return runs

    def p1(self) -> None:
        self.say("P1: warming up (byte code is compiled once, as by an install)")
        self.interleaved(1, 2, tools=P1_TOOLS)
        self.interleaved(1, 1, WITH_ARGUMENTS, WITH_ARGUMENTS_TOOLS)
        reps = self.settings.reps_start
        self.say(f"P1: {reps} x {len(P1_TOOLS)} runs of one piped command")
        self.start_runs = runs = self.interleaved(1, reps, tools=P1_TOOLS)
        ms = {tool: median([r.seconds for r in runs[tool]]) * 1e3 for tool in runs}
        cpu = {tool: median([r.cpu for r in runs[tool]]) * 1e3 for tool in runs}
        ratio = ms["qmpsh"] / ms["qmp-shell"]
        self.rows += [
            Row(
                "P1",
                "start + 1 command, piped",
                f"qmpsh {ms['qmpsh']:.1f} ms, qmp-shell {ms['qmp-shell']:.1f} ms",
                f"{ratio:.2f} x qmp-shell",
                "<= 0.9 x",
                verdict(ratio <= 0.9),
            ),
            Row(
                "P1",
                "  (CPU time of each process)",
                f"qmpsh {cpu['qmpsh']:.1f} ms, qmp-shell {cpu['qmp-shell']:.1f} ms",
                f"{cpu['qmpsh'] / cpu['qmp-shell']:.2f} x",
            ),
            Row("P1", "  (raw client, for scale)", f"{ms['raw']:.1f} ms, CPU {cpu['raw']:.1f} ms"),
            Row(
                "P1",
                "  (qemu.qmp floor: connect, run, print)",
                f"{ms[FLOOR]:.1f} ms, CPU {cpu[FLOOR]:.1f} ms",
                f"{ms[FLOOR] / ms['qmp-shell']:.2f} x qmp-shell",
            ),
        ]
        reps = max(3, self.settings.reps_start // 3)
        self.say(f"P1: {reps} x {len(WITH_ARGUMENTS_TOOLS)} runs of one command with arguments")
        runs = self.interleaved(1, reps, WITH_ARGUMENTS, WITH_ARGUMENTS_TOOLS)
        self.args_runs = runs
        args = {tool: median([r.seconds for r in runs[tool]]) * 1e3 for tool in runs}
        cold = args["qmpsh (no cache)"]
        self.rows += [
            Row(
                "P1",
                "  (1 command with arguments: schema cached)",
                f"qmpsh {args['qmpsh']:.1f} ms, qmp-shell {args['qmp-shell']:.1f} ms",
                f"{args['qmpsh'] / args['qmp-shell']:.2f} x",
            ),
            Row(
                "P1",
                "  (the same, schema not cached)",
                f"qmpsh {cold:.1f} ms",
                f"{cold / args['qmp-shell']:.2f} x",
            ),
        ]
        self.wait_rows()

    def wait_rows(self) -> None:
        """A script with ``/wait`` beside the same script without it, as whole processes."""
        wait, plain = "with /wait", "without /wait"
        # qmpsh prints a line for each reply, and one for the event /wait saw.
        jobs = {wait: Job("qmpsh", WAIT_SCRIPT, 3), plain: Job("qmpsh", PLAIN_SCRIPT, 2)}
        self.rotating(jobs, 1)  # compiles what a built-in imports
        reps = self.settings.reps_start
        self.say(f"P1: {reps} x {len(jobs)} runs of stop, cont with and without /wait")
        runs = self.rotating(jobs, reps)
        ms = {job: median([r.seconds for r in runs[job]]) * 1e3 for job in runs}
        cpu = {job: median([r.cpu for r in runs[job]]) * 1e3 for job in runs}
        self.rows += [
            Row(
                "P1",
                "script stop, /wait STOP, cont",
                f"qmpsh {ms[wait]:.1f} ms, without /wait {ms[plain]:.1f} ms",
                f"{ms[wait] / ms[plain]:.2f} x without",
            ),
            Row(
                "P1",
                "  (CPU time of each process)",
                f"qmpsh {cpu[wait]:.1f} ms, without /wait {cpu[plain]:.1f} ms",
                f"{cpu[wait] / cpu[plain]:.2f} x",
            ),
        ]

    def p2(self) -> None:
        if not self.start_runs:
            raise BenchError("needs P1's runs of one command")
        n, reps = self.settings.commands, self.settings.reps_commands
        tools = (*TOOLS, LOCK_STEP)
        self.say(f"P2: {reps} x {len(tools)} runs of {n + 1} piped query-status")
        runs = self.interleaved(n + 1, reps, tools=tools)

        def per_command(tool: str, what: Callable[[Timed], float]) -> list[float]:
            """Each long run less the median run of one command, per command, in ms."""
            start = self.start_runs["qmpsh" if tool == LOCK_STEP else tool]
            base = median([what(r) for r in start])
            return sorted((what(r) - base) / n * 1e3 for r in runs[tool])

        wall = {tool: per_command(tool, lambda r: r.seconds) for tool in runs}
        cpu = {tool: median(per_command(tool, lambda r: r.cpu)) for tool in runs}
        per = {tool: median(wall[tool]) for tool in runs}
        to_raw = per["qmpsh"] / per["raw"]
        speedup = per["qmp-shell"] / per["qmpsh"]
        rss = {tool: median([r.maxrss_kb for r in runs[tool]]) / 1024 for tool in runs}

        def spread(tool: str) -> str:
            return f"{per[tool]:.3f} ms ({wall[tool][0]:.3f}-{wall[tool][-1]:.3f})"

        paces = sorted(qemu_pace(self.qemu.qmp, n) for _ in range(reps))
        pace = median(paces)

        self.rows += [
            Row(
                "P2",
                f"per command ({n:,} more)",
                f"qmpsh {spread('qmpsh')}, raw {spread('raw')}",
                f"{to_raw:.2f} x raw",
                "<= 1.0 x",
                verdict(to_raw <= 1.0),
            ),
            Row(
                "P2",
                "",
                f"qmp-shell {spread('qmp-shell')}",
                f"qmpsh {speedup:.2f} x faster",
                ">= 2.5 x",
                verdict(speedup >= 2.5),
            ),
            Row(
                "P2",
                "  (QEMU's own pace: all sent at once)",
                f"{pace:.3f} ms ({paces[0]:.3f}-{paces[-1]:.3f})",
                f"at most {per['qmp-shell'] / pace:.2f} x faster",
            ),
            Row(
                "P2",
                "  (qmpsh in lock-step: --json)",
                f"{spread(LOCK_STEP)}, CPU {cpu[LOCK_STEP]:.3f} ms",
                f"{per[LOCK_STEP] / per['raw']:.2f} x raw",
            ),
            Row(
                "P2",
                "  (CPU time per command)",
                f"qmpsh {cpu['qmpsh']:.3f} ms, raw {cpu['raw']:.3f} ms, "
                f"qmp-shell {cpu['qmp-shell']:.3f} ms",
                f"{cpu['qmpsh'] / cpu['raw']:.2f} x raw, "
                f"{cpu['qmp-shell'] / cpu['qmpsh']:.2f} x faster",
            ),
            Row(
                "P2",
                "  (peak RSS after them)",
                f"qmpsh {rss['qmpsh']:.1f} MiB, qmp-shell {rss['qmp-shell']:.1f} MiB",
            ),
        ]

    # -- P3 --------------------------------------------------------------------------------

    def p3(self) -> None:
        # Imported here, as P4 imports qmpsh: the parts that time whole processes can
        # then measure a tree of another layout (its qmpsh, this harness).
        from benchmarks import completion

        self.say("P3: completion latency (benchmarks.completion)")
        result = completion.measure(reps=self.settings.reps_completion)
        self.rows += [
            Row(
                "P3",
                f"completion, {len(result.inputs)} inputs: median",
                f"{result.median_ms:.3f} ms",
                "",
                "< 1 ms",
                verdict(result.median_ms < 1),
            ),
            Row("P3", "  p99", f"{result.p99_ms:.3f} ms", "", "< 5 ms", verdict(result.p99_ms < 5)),
        ]

    # -- P4 --------------------------------------------------------------------------------

    def p4(self) -> None:
        from qmpsh.render.plain import plain_renderer
        from qmpsh.render.rich_terminal import rich_renderer
        from qmpsh.session.outcomes import Reply

        monitor = RawQmp(self.qemu.spare, timeout=60)
        schema = monitor.cmd("query-qmp-schema")
        warm = Reply("query-status", {"return": monitor.cmd("query-status")})
        monitor.close()
        reply = Reply("query-qmp-schema", {"return": schema})
        s = self.settings
        self.say(f"P4: rendering query-qmp-schema ({len(schema)} entries)")

        with drained_pty() as terminal, terminal_environment():
            pretty = rich_renderer(file=terminal, width=COLUMNS)
            pretty.outcome(warm)  # rich imports some of itself lazily; the REPL has by now
            pretty_s = median(
                [timed_call(lambda: pretty.outcome(reply)) for _ in range(s.reps_pretty)]
            )
        with drained_pipe() as pipe:
            compact = plain_renderer(out=pipe)
            compact.outcome(warm)
            compact_s = median(
                [timed_call(lambda: compact.outcome(reply)) for _ in range(s.reps_compact)]
            )
        self.rows += [
            Row(
                "P4",
                "schema reply, pretty to a pty",
                f"{pretty_s * 1e3:.0f} ms",
                "",
                "< 500 ms",
                verdict(pretty_s < 0.5),
            ),
            Row(
                "P4",
                "schema reply, compact to a pipe",
                f"{compact_s * 1e3:.1f} ms",
                "",
                "< 50 ms",
                verdict(compact_s < 0.05),
            ),
        ]

    # -- P5 --------------------------------------------------------------------------------

    def p5(self) -> None:
        if not self.start_runs:
            raise BenchError("needs P1's runs of one command")
        runs = self.start_runs
        rss = {tool: median([r.maxrss_kb for r in runs[tool]]) / 1024 for tool in runs}
        ratio = rss["qmpsh"] / rss["qmp-shell"]
        args = {t: median([r.maxrss_kb for r in self.args_runs[t]]) / 1024 for t in self.args_runs}
        self.say("P5: peak RSS of an interactive session with the schema indexed")
        self.interactive_rss()  # compiles prompt_toolkit & co. into the byte code cache
        interactive = median(
            [self.interactive_rss() for _ in range(self.settings.reps_interactive)]
        )
        qmp_shell = self.qmp_shell_interactive_rss()
        floor = {name: self.import_rss(code) for name, code in IMPORT_FLOORS.items()}
        self.rows += [
            Row(
                "P5",
                "peak RSS, script (start + 1 command)",
                f"qmpsh {rss['qmpsh']:.1f} MiB, qmp-shell {rss['qmp-shell']:.1f} MiB",
                f"{ratio:.2f} x qmp-shell",
                "<= 1.2 x",
                verdict(ratio <= 1.2),
            ),
            Row(
                "P5",
                "  (script, 1 command with arguments)",
                f"qmpsh {args['qmpsh']:.1f} MiB (no cache {args['qmpsh (no cache)']:.1f}), "
                f"qmp-shell {args['qmp-shell']:.1f} MiB",
                f"{args['qmpsh'] / args['qmp-shell']:.2f} x",
            ),
            Row(
                "P5",
                "peak RSS, interactive, schema indexed",
                f"{interactive:.1f} MiB",
                f"(qmp-shell idle {qmp_shell:.1f} MiB)",
                "<= 32 MiB",
                verdict(interactive <= 32),
            ),
            *(
                Row("P5", f"  (floor: {name})", f"{rss:.1f} MiB", "imports only")
                for name, rss in floor.items()
            ),
        ]

    def import_rss(self, code: str) -> float:
        """Peak RSS of a Python that only imports (what a REPL built on them must pay)."""
        argv = [python(), "-c", code]
        result = self.launcher.run(argv, b"", self.env, cwd=ROOT)
        if result.status != 0:
            raise BenchError(f"{code}: {result.stderr.decode(errors='replace')[-300:]}")
        return result.maxrss_kb / 1024

    def repl(self) -> PtyProcess:
        """qmpsh at its prompt, the schema fetched and indexed, the line empty again."""
        time.sleep(0.02)
        child = on_pty(
            [python(), "-m", "qmpsh", str(self.qemu.qmp)], self.env, EVENT_LINE, cwd=ROOT
        )
        reader = child.reader
        # The VM's name shows once the schema, the command list and the name are learned.
        if not reader.wait_text(r" bench>"):
            child.finish(LEAVE)
            raise BenchError(f"qmpsh showed no prompt: {bytes(reader.data)[-500:]!r}")
        child.type("blockdev-add driver=qc")
        for _ in range(10):  # a menu asked for while the prompt redraws may not show: retype
            start = len(reader.data)
            if reader.wait_text(r"qcow2", start, timeout=1):
                break
            child.type("\x7fc")
        else:
            child.finish(LEAVE)
            raise BenchError(f"no completion menu: {bytes(reader.data)[-500:]!r}")
        child.type("\x03")  # Ctrl-C: clear the line
        time.sleep(0.2)
        return child

    def interactive_rss(self) -> float:
        child = self.repl()
        hwm = vmhwm_kb(child.process.pid)
        status = child.finish(LEAVE)
        if status != 0:
            raise BenchError(f"qmpsh exited {status}: {bytes(child.reader.data)[-500:]!r}")
        return hwm / 1024

    def qmp_shell_interactive_rss(self) -> float:
        time.sleep(0.02)
        child = on_pty(self.tools["qmp-shell"], self.env, cwd=ROOT)
        if not child.reader.wait_text(r"\(QEMU\) "):
            child.finish("\x04")
            raise BenchError(f"qmp-shell showed no prompt: {bytes(child.reader.data)!r}")
        time.sleep(0.2)
        hwm = vmhwm_kb(child.process.pid)
        child.finish("\x04")
        return hwm / 1024

    # -- P6 --------------------------------------------------------------------------------

    def p6(self) -> None:
        pairs = self.settings.event_pairs
        self.say(f"P6: {2 * pairs:,} events (stop/cont) while qmpsh idles, in a script")
        self.events_script(pairs)
        self.say(f"P6: {2 * pairs:,} events while qmpsh idles at the prompt (pty)")
        self.events_repl(pairs)

    def events_script(self, pairs: int) -> None:
        time.sleep(0.02)
        argv = [*self.tools["qmpsh"][:-1], "--json", str(self.qemu.qmp)]
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, cwd=ROOT
        )
        assert process.stdin is not None and process.stdout is not None
        reader = Reader(process.stdout.fileno(), JSON_EVENT)
        process.stdin.write(b"query-status\n")
        process.stdin.flush()
        try:
            if not reader.wait_text(r'"return"'):
                raise BenchError(f"qmpsh --json: no reply: {bytes(reader.data)!r}")
            self.event_rows("script (--json)", pairs, reader, process.pid)
        finally:
            process.stdin.close()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.close()

    def events_repl(self, pairs: int) -> None:
        child = self.repl()
        try:
            self.event_rows(
                "at the prompt (pty)",
                pairs,
                child.reader,
                child.process.pid,
                seen=lambda: shown_or_counted(child.reader),
            )
        finally:
            child.finish(LEAVE)

    def event_rows(
        self,
        where: str,
        pairs: int,
        reader: Reader,
        pid: int,
        seen: Callable[[], int] | None = None,
    ) -> None:
        """A burst while qmpsh is stopped, timed from SIGCONT; then a live stream."""
        monitor = RawQmp(self.qemu.spare, timeout=60)
        seen = seen or (lambda: reader.counted)
        try:
            burst = flood(monitor, reader, pairs, seen, pid)
            live = flood(monitor, reader, pairs, seen) if self.settings.live else None
        finally:
            monitor.close()
        self.rows.append(
            Row(
                "P6",
                f"{burst.made:,} events {where}",
                f"drained in {burst.seconds:.2f} s{'' if burst.done else ' (gave up)'}, "
                f"{burst.lost} lost",
                "",
                "< 2 s, 0 lost",
                verdict(burst.done and burst.seconds < 2 and burst.lost == 0),
            )
        )
        if live is not None:
            self.rows.append(
                Row(
                    "P6",
                    "  (live, as QEMU emits them)",
                    f"all in {live.seconds:.2f} s (QEMU took {live.emitted:.2f} s), "
                    f"{live.lost} lost",
                )
            )

    # -- P7 --------------------------------------------------------------------------------

    def p7(self) -> None:
        self.say(f"P7: {FLOOD_RATE:,} events/s for {FLOOD_SECONDS:g} s at the prompt (fake)")
        written: list[int] = []
        commands = {
            "flood": sustained_flood(FLOOD_SECONDS, FLOOD_RATE, written),
            "ping": {"pong": "p7-answered"},
            "query-name": {"name": "bench"},
        }
        with FakeServer(commands=commands) as fake:
            argv = [python(), "-m", "qmpsh", str(fake.path)]
            child = on_pty(argv, self.env, re.compile(rb"FLOOD"), cwd=ROOT)
            reader = child.reader
            try:
                if not reader.wait_text(r" bench>"):
                    raise BenchError(f"qmpsh showed no prompt: {bytes(reader.data)[-500:]!r}")
                child.type("!flood\r")
                if not reader.wait_text(r"FLOOD"):
                    raise BenchError(f"no events shown: {bytes(reader.data)[-500:]!r}")
                time.sleep(1.0)  # into the flood
                start, typed = len(reader.data), time.perf_counter()
                child.type("!ping\r")
                answered = reader.wait_text(r"p7-answered", start, timeout=60)
                latency = time.perf_counter() - typed
                hwm = vmhwm_kb(child.process.pid)
                time.sleep(FLOOD_SECONDS)  # the flood ends; what it wrote is counted
            finally:
                child.finish(LEAVE)
        total = sum(written)
        drawn = reader.counted - len(SUMMARY.findall(reader.data))
        self.rows += [
            Row(
                "P7",
                "reply to a command typed into the flood",
                f"{latency:.2f} s" if answered else "no reply in 60 s",
                "",
                "< 0.5 s",
                verdict(answered and latency < 0.5),
            ),
            Row(
                "P7",
                "  events written / drawn / peak RSS",
                f"{total:,} / {drawn:,} / {hwm / 1024:.0f} MiB",
            ),
        ]


def sustained_flood(seconds: float, rate: int, written: list[int]) -> Handler:
    """Answer, then offer ``rate`` events a second for ``seconds`` in the background (the
    server goes on answering); ``written`` gets how many the socket took."""
    tick = 0.01
    event = json.dumps({"event": "FLOOD", "timestamp": {"seconds": 0, "microseconds": 0}})
    blob = (event.encode() + b"\r\n") * int(rate * tick)
    running: set[asyncio.Task[None]] = set()

    async def flood(conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while loop.time() - start < seconds:
            conn.writer.write(blob)
            await conn.writer.drain()
            written.append(int(rate * tick))
            n += 1
            await asyncio.sleep(max(0.0, start + n * tick - loop.time()))

    async def handler(conn: Connection, request: dict[str, Any]) -> None:
        await conn.reply(request, {})
        task = asyncio.ensure_future(flood(conn))
        running.add(task)
        task.add_done_callback(running.discard)

    return handler


@dataclass(frozen=True)
class Flood:
    made: int  # events QEMU emitted (as our own monitor saw them)
    lost: int  # of those, not printed by qmpsh
    seconds: float  # until qmpsh had printed them all: from SIGCONT, or from the first sent
    emitted: float  # how long QEMU took to run the commands and emit the events
    done: bool


def flood(
    monitor: RawQmp,
    reader: Reader,
    pairs: int,
    seen: Callable[[], int],
    stopped: int | None = None,
) -> Flood:
    """5,000 ``stop``/``cont`` pairs: 10,000 events. With ``stopped`` (a pid), they pile
    up while that process is stopped, and the clock starts when it continues. ``seen``:
    how many events the reader has seen so far (read under its lock)."""
    before = seen()
    if stopped is not None:
        os.kill(stopped, signal.SIGSTOP)
    try:
        start = time.perf_counter()
        made = stop_cont(monitor, pairs)
        emitted = time.perf_counter() - start
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
    if stopped is not None:
        start = time.perf_counter()
    if made != {"STOP": pairs, "RESUME": pairs}:
        raise BenchError(f"QEMU emitted {made}, not {pairs} STOP and RESUME each")
    total = 2 * pairs
    done = reader.wait(lambda: seen() - before >= total, timeout=60)
    seconds = time.perf_counter() - start
    return Flood(total, total - (seen() - before), seconds, emitted, done)


def shown_or_counted(reader: Reader) -> int:
    """Events the prompt drew (lines, as ``reader`` counts them) or counted in a summary."""
    summaries = SUMMARY.findall(reader.data)
    return reader.counted - len(summaries) + sum(int(n.replace(b",", b"")) for n in summaries)


def count_replies(tool: str, stdout: bytes) -> int:
    """Successful replies in a tool's output (qmp-shell mixes in its banner and prompts)."""
    if tool == "qmp-shell":
        return stdout.count(b'{"return": ')
    return sum(1 for line in stdout.splitlines() if line.strip())


def qemu_pace(path: Path, count: int) -> float:
    """Milliseconds per ``query-status`` when ``count`` are written at once (by a thread)
    while the replies are read: how fast QEMU itself answers, the bound of every client."""
    message = b'{"execute": "query-status"}\n'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        replies = sock.makefile("rb")
        replies.readline()  # the greeting
        sock.sendall(b'{"execute": "qmp_capabilities"}\n')
        replies.readline()
        start = time.perf_counter()
        writer = threading.Thread(target=sock.sendall, args=(message * count,))
        writer.start()
        answered = 0
        while answered < count:
            answered += b'"return"' in replies.readline()  # events do not count
        writer.join()
        return (time.perf_counter() - start) / count * 1e3


def timed_call(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def print_table(rows: Sequence[Row], stream: TextIO = sys.stdout) -> None:
    header = ("", "measured", "ratio", "goal", "")
    cells = [(f"{r.part} {r.what}", r.measured, r.ratio, r.goal, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    for cell in [header, *cells]:
        print(
            "  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip(), file=stream
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs: about 30 s")
    parser.add_argument("--only", default="", help="comma-separated parts, e.g. P2,P6")
    parser.add_argument("--machine", default="none", help="QEMU -machine (default none)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run QEMU and every client on one CPU: steadier lock-step times (P2)",
    )
    args = parser.parse_args(argv)
    chosen = [p.strip().upper() for p in args.only.split(",") if p.strip()] or list(PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    parts = {p for p in chosen} | {NEEDS[p] for p in chosen if p in NEEDS}
    settings = QUICK if args.quick else Settings()
    command = shlex.join(
        ["python", "-m", "benchmarks.run", *(argv if argv is not None else sys.argv[1:])]
    )
    started = time.perf_counter()
    failed = False
    where = f"-machine {args.machine}"
    if args.pin:  # inherited by QEMU and every child
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        where += f", everything on CPU {cpu}"
    with scratch_directory() as scratch:
        qemu = start_qemu(scratch, args.machine)
        bench = Bench(qemu, scratch, settings)
        try:
            for part in PARTS:
                if part in parts:
                    try:
                        getattr(bench, part.lower())()
                    except BenchError as err:
                        failed = True
                        print(f"{part}: {err}", file=sys.stderr)
                        bench.rows.append(Row(part, "did not run", str(err)[:60], "", "", "ERROR"))
        finally:
            bench.launcher.close()
            qemu.stop()
    print(f"{machine_line()}, {where}")
    print(f"$ .venv/bin/{command}   ({time.perf_counter() - started:.0f} s)")
    print_table([r for r in bench.rows if r.part in chosen])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
