"""The floor for one-command-at-a-time QMP: a minimal lock-step socket client.

Reads command names from stdin, one a line, and for each sends
``{"execute": NAME}`` and reads until its reply (events that arrive meanwhile
are skipped), then prints the reply line as QEMU sent it. No parsing of
arguments, no schema, no asyncio: what any shell that runs piped commands one
at a time cannot do with less. The client is the tests' own
(``tests.support.rawqmp``); ``benchmarks.run`` times it beside qmpsh and
qmp-shell (P1, P2).

    python -m benchmarks.rawclient SOCKET < commands
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

from tests.support.rawqmp import RawQmp


def run(path: str, commands: Iterable[str], out: IO[bytes]) -> int:
    """Connect, read the greeting, negotiate, then one command at a time; the replies."""
    raw = RawQmp(path, timeout=None)
    count = 0
    for line in commands:
        name = line.strip()
        if not name:
            continue
        out.write(raw.reply_line(name))
        raw.events.clear()  # skipped, as they come
        count += 1
    out.flush()
    raw.close()
    return count


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.rawclient SOCKET < commands", file=sys.stderr)
        return 2
    run(args[0], sys.stdin, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
