"""A small process that starts the timed children, so their peak RSS is their own.

Linux keeps a process's ``ru_maxrss`` across ``exec``: a child forked (or
vforked) from the benchmark itself would report the benchmark's own peak if it
was larger than the child's. This launcher is a fresh interpreter without
``site`` (about 10 MiB), so what ``wait4`` reports for its children is theirs,
as with a shell or GNU time.

Protocol, one JSON object a line: it reads ``{"argv", "stdin", "stdout",
"stderr", "env", "cwd", "timeout"}`` (``stdin`` etc. are file paths), runs the
child with the contents of ``stdin`` written to a pipe, and answers
``{"seconds", "cpu", "maxrss_kb", "status"}``: wall time from spawn until reaped, and
the child's own CPU time (user + system).
Standard library only: it runs as ``python -I -S launcher.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import IO, Any


def run(request: dict[str, Any]) -> dict[str, Any]:
    with open(request["stdin"], "rb") as source:
        data = source.read()
    with open(request["stdout"], "wb") as out, open(request["stderr"], "wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            request["argv"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=request["env"],
            cwd=request["cwd"],
        )
        assert process.stdin is not None
        writer = threading.Thread(target=_feed, args=(process.stdin, data), daemon=True)
        writer.start()
        timer = threading.Timer(request["timeout"], process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        writer.join()
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
        "status": process.returncode,
    }


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except BrokenPipeError:
        pass


def main() -> int:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
