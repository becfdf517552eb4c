"""Pasting at the prompt: how long a big bracketed paste takes to run.

Two pastes into ``python -m qmpsh SOCK`` on a pty, as a terminal sends them
(``ESC [200~ ... ESC [201~``, each newline a carriage return), timed from the
write until every reply is on the screen:

* one raw JSON command of 10,003 lines, as ``json.dumps(indent=2)`` writes it
  (``migrate-set-capabilities`` with 2,499 capabilities of four lines each): one input;
* 1,000 one-line ``query-status``: 1,000 inputs, 1,000 replies; and the same sent
  without the marks, as a terminal without bracketed paste sends it (typed keys: the
  prompt's own cost per command, for scale).

Also, in this process, how long splitting the JSON paste into inputs takes
(``interactive.paste.line_by_line``, where the tree has it), without a terminal.

After each paste, Enter and ``query-status`` are typed, and the clock stops when
its reply is shown (the last ``"running"``): a tree that runs a paste's lines itself
takes the Enter as an empty line, one that only inserts the paste needs it to run
the JSON. A paste that does not give its replies within the timeout is reported as
such, as is one that ends in an error.

    .venv/bin/python -m benchmarks.paste [--reps N] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time

from benchmarks.harness import (
    BenchError,
    child_env,
    machine_line,
    python,
    scratch_directory,
    start_qemu,
)
from benchmarks.terminal import LEAVE, on_pty
from tests.support.places import ROOT

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
REPLY = re.compile(rb'"status".*"running"')  # once a reply to query-status
#: A mistake shown instead of replies: no use waiting for them.
ERROR = re.compile(r"expected key=value|error:")


def big_json(lines: int) -> str:
    capabilities = [
        {"capability": "events", "state": i % 2 == 0} for i in range(-((7 - lines) // 4))
    ]
    message = {"execute": "migrate-set-capabilities", "arguments": {"capabilities": capabilities}}
    return json.dumps(message, indent=2).replace("\n", "\r") + "\r"


def many_commands(count: int) -> str:
    return "query-status\r" * count


def timed_paste(
    sock: str, env: dict[str, str], text: str, replies: int, timeout: float, *, marks: bool = True
) -> str:
    """Seconds from the paste until ``replies`` replies are shown (the one to the
    ``query-status`` typed after it included), as text for the table."""
    time.sleep(0.02)  # let QEMU notice the previous client left (not timed)
    child = on_pty([python(), "-m", "qmpsh", sock], env, REPLY, cwd=ROOT)
    reader = child.reader
    finished = False
    try:
        if not reader.wait_text(r" bench>", timeout=30):
            raise BenchError(f"qmpsh showed no prompt: {bytes(reader.data)[-500:]!r}")
        shown = len(reader.data)
        start = time.perf_counter()
        pasted = PASTE_START + text + PASTE_END if marks else text
        child.type(pasted + "\rquery-status\r")
        done = reader.wait(
            lambda: reader.counted >= replies or ERROR.search(reader.text(shown)) is not None,
            timeout,
        )
        seconds = time.perf_counter() - start
        finished = done
        if reader.counted >= replies:
            return f"{seconds:.2f} s"
        if done:
            return f"an error after {seconds:.2f} s ({reader.counted} replies)"
        return f"gave up after {timeout:.0f} s ({reader.counted} replies)"
    finally:
        if finished:
            child.finish(LEAVE * 3)
        else:  # still busy with the paste (or no prompt): no use waiting for it to leave
            child.close()


def split_seconds(text: str) -> str:
    """How long the prompt takes to split ``text`` into inputs, as text for the table."""
    try:
        from qmpsh.interactive.paste import line_by_line  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return "- (the tree does not split pastes)"
    import prompt_toolkit.key_binding  # noqa: F401 - imported once, not timed

    start = time.perf_counter()
    line_by_line("", text, hmp_mode=False)
    return f"{time.perf_counter() - start:.3f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paste", description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="runs of each paste")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for replies")
    args = parser.parse_args(argv)
    cases = [
        ("10,003-line JSON, 1 command", big_json(10_000), 1, True),
        ("1,000 one-line commands", many_commands(1_000), 1_001, True),
        ("  (the same, not bracketed)", many_commands(1_000), 1_001, False),
    ]
    rows = [("  (splitting the JSON, in-process)", split_seconds(big_json(10_000)), "")]
    with scratch_directory() as scratch:
        qemu = start_qemu(scratch)
        env = child_env(scratch)
        try:
            timed_paste(str(qemu.qmp), env, many_commands(1), 2, args.timeout)  # warm up
            for what, text, replies, marks in cases:
                runs = [
                    timed_paste(str(qemu.qmp), env, text, replies, args.timeout, marks=marks)
                    for _ in range(args.reps)
                ]
                seconds = [float(r[:-2]) for r in runs if r.endswith(" s") and " " not in r[:-2]]
                best = f"median {statistics.median(seconds):.2f} s" if seconds else "-"
                rows.append((what, best, "; ".join(runs)))
        except BenchError as err:
            print(f"paste: {err}", file=sys.stderr)
            return 1
        finally:
            qemu.stop()
    print(machine_line())
    for what, best, each in rows:
        print(f"{what:36}  {best:16}  ({each})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
